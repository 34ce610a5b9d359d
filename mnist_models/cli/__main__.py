"""`python -m mnist_models.cli`: the same as `mnist-models`."""

import sys

from . import main

sys.exit(main())
