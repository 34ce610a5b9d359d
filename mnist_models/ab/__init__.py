"""A/B comparison of two revisions: interleaved timing, the decision rule, checked-out
revisions and the `compare` command's work."""
