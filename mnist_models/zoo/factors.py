"""The factors the study varied, one at a time: declared once, read by the study catalog
(studies/catalog.py) and the benchmark grid (suite/grid.py). No torch."""

from __future__ import annotations

WIDTHS = (32, 64, 128, 256, 512, 1024, 2048, 4096)  # one hidden layer of each
DEPTHS = (1, 2, 3, 4, 8, 16)  # hidden layers
BATCH_SIZES = (1, 16, 32, 64, 128)
SIZES = (20, 14, 7)  # input resolutions below 28, by resize or center-crop
RESOLUTIONS = ("28", *(f"resize:{n}" for n in SIZES), *(f"crop:{n}" for n in SIZES))
ACTIVATIONS = ("relu", "tanh", "sigmoid")
POOLINGS = ("max", "avg")
CNN_FIRST = (6, 16, 32)  # feature maps of a CNN's first stage
CNN_LATER = (16, 20, 32)  # and of its later stages
