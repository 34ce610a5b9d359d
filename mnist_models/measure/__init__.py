"""Measuring a model: data, threads, devices, the trainer, metrics (FLOPs, latency, memory,
energy), instruction counts, the reference workload and one measured run as a record."""
