"""The pytest plugin that gates metrics against a stored baseline: hooks, metric rules,
baseline and run-file schema, machine identity. Imports neither torch nor the zoo."""
