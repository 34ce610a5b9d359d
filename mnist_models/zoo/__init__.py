"""The model zoo: the registry of model families, input resolutions and per-layer counts.

Depends on torch only; knows nothing of training, timing, gates or reports.
"""

# One model per family and size, the set every quick check uses: the gate tier trains it
# (suite/grid.py gate_training) and `compare` times it by default.
REPRESENTATIVE_MODELS = ("mlp-128", "mlp-1024", "mlp-512x3", "lenet5", "cnn9")
