#!/usr/bin/env bash
# Download the wheels the GPU check carries (on a machine with network): peft and what it needs
# beyond PyTorch and transformers. Into benchmarks/gpu/wheels/ (ignored by git), about 1.3 MB.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${PYTHON:-python3}"
mkdir -p "$here/wheels"
# peft and accelerate are pure Python; psutil's wheel is abi3 (any CPython >= 3.6) for x86-64 Linux.
"$py" -m pip download --quiet --no-deps --only-binary=:all: --dest "$here/wheels" \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --python-version 3.11 --implementation cp \
  "peft==0.21.2" "accelerate==1.15.0" "psutil==7.2.2"
du -ch "$here"/wheels/*.whl | tail -1
