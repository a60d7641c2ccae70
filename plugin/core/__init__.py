"""The pure core: profile, evidence store, decision tables, answer, wording and rendering. It imports no door."""
