"""The studies this tool reproduces (as data) and how to run them: the catalog and its
runner, and the side-by-side latency pass."""
