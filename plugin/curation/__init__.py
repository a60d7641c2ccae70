"""The curators' door: releasing a new version of the evidence store and showing which answers it changes."""
