"""The studies this tool reproduces: the catalog (which runs each study makes), the settings
they share, the run store every study reads, the runner, the side-by-side latency pass and the
rows the tables and plots show."""
