"""The evidence store: analyses and context records as frozen models, read from disk, checked and versioned."""
