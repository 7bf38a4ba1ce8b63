#!/usr/bin/env bash
# clue's GPU check, one command: bash benchmarks/gpu/run.sh [--fraction 0.1] [--out FILE] ...
#
# Needs: one CUDA GPU (H100 or H200: under 8 minutes), Python >= 3.11 with PyTorch and transformers
# installed (their own dependencies bring everything else the check imports). Nothing is downloaded.
# Optional: peft for the base + LoRA adapter part, carried as wheels in benchmarks/gpu/wheels/
# (benchmarks/gpu/fetch-wheels.sh gets them on a machine with network; about 1.3 MB); they are
# installed into a private folder, never into the machine's Python.
# On a machine without a GPU it says so and exits 2.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${PYTHON:-python3}"

if ! command -v "$py" > /dev/null 2>&1; then
  echo "clue GPU check: no $py on PATH; set PYTHON=/path/to/python (3.11 or newer, with torch and transformers)" >&2
  exit 2
fi
if ! "$py" -c "import torch, transformers" > /dev/null 2>&1; then
  echo "clue GPU check: $py cannot import torch and transformers; install them (PyTorch with CUDA, transformers 5.x)" >&2
  echo "                or point PYTHON at the Python that has them" >&2
  exit 2
fi

if compgen -G "$here/wheels/*.whl" > /dev/null; then
  site="$(mktemp -d "${TMPDIR:-/tmp}/clue-gpu-wheels.XXXXXX")"
  trap 'rm -rf "$site"' EXIT
  if "$py" -m pip --version > /dev/null 2>&1; then
    "$py" -m pip install --quiet --no-index --no-deps --no-compile --target "$site" "$here"/wheels/*.whl
  else  # no pip: a wheel is a zip archive, unpacked where Python looks
    for whl in "$here"/wheels/*.whl; do "$py" -m zipfile -e "$whl" "$site"; done
  fi
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$py" "$here/check.py" "$@"
