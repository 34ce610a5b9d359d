#!/usr/bin/env bash
# A second environment for `mnist-models compare --env`: a venv with this project installed as
# usual (constraints.txt, with the dev extras so the suite runs there too), then another torch/torchvision installed over it without their
# dependencies (they share the nvidia-* packages of the pinned build). A test fixture for
# docs/upgrading-pytorch.md, never a pin: constraints.txt stays as it is.
#
#   scripts/make-env.sh DEST TORCH TORCHVISION     e.g. scripts/make-env.sh .venv-2.13 2.13.0 0.28.0
#
# The wheels come from WHEELS (a folder) when set, else `pip --isolated download` fetches them
# (without --isolated pip may pick a local +cpu build whose torchvision does not load).
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 DEST TORCH_VERSION TORCHVISION_VERSION (e.g. .venv-2.13 2.13.0 0.28.0)" >&2
  exit 2
fi
dest=$1 torch=$2 vision=$3
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
wheels=${WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/mnist-bench/wheels-$torch}
mkdir -p "$wheels"
if ! ls "$wheels"/torch-"$torch"-*.whl >/dev/null 2>&1 ||
  ! ls "$wheels"/torchvision-"$vision"-*.whl >/dev/null 2>&1; then
  echo "fetching torch $torch and torchvision $vision into $wheels (about 530 MB)"
  pip --isolated download --quiet --no-deps -d "$wheels" "torch==$torch" "torchvision==$vision"
fi
test -x "$dest/bin/python" || "$python" -m venv "$dest"
"$dest/bin/python" -m pip install --quiet --upgrade pip
"$dest/bin/python" -m pip install --quiet -c "$here/constraints.txt" "$here[dev]"
"$dest/bin/python" -m pip install --quiet --no-deps --force-reinstall \
  "$wheels"/torch-"$torch"-*.whl "$wheels"/torchvision-"$vision"-*.whl
"$dest/bin/python" -c "import torch, torchvision; print('made', '$dest:', 'torch', torch.__version__, 'torchvision', torchvision.__version__)"
