"""The answer for one profile: its views and wording, summary of findings, rendering, caches, the loaded Plugin."""
