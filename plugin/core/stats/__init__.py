"""The statistics: inference from a published CI, pooling of 2x2 counts and absolute effects; numbers only."""
