"""Reports from saved runs: tables, plots, output folders, baseline reports and the history
of results. Imports no torch."""
