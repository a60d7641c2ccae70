"""The decision tables and the profile they read: cells compiled to predicates, proven on their grid, matched."""
