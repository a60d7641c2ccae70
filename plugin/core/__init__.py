"""The pure core, four concerns: `evidence` (the store) and `stats` (numbers in, numbers out) stand alone;
`rules` (decision tables over the profile) reads the evidence models; `answer` joins all three for the doors."""
