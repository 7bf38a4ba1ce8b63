"""A LoRA adapter of the demo base model, made with peft: to try adapters end to end on a CPU.

``python -m clue demo-adapter DIR`` writes ``DIR/adapter_config.json`` and
``DIR/adapter_model.safetensors``: rank ``rank`` on every attention and MLP projection of
``demo-base``, A drawn as peft draws it and B drawn too (peft starts B at zero, which would leave
the model unchanged), both from ``seed``, so the adapter's outputs differ from the base's. Its
``base_model_name_or_path`` is the registry alias ``demo-base``: ``pytest -m clue --model DIR``
gates it against demo-base, one engine for both. Outputs are noise, as the demo models' are.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from clue.errors import ConfigError
from clue.models.adapters import ADAPTER_CONFIG

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
BASE_ALIAS = "demo-base"


def build_demo_adapter(
    out_dir: Path, base_dir: Path, *, seed: int = 7, rank: int = 8, b_std: float = 0.5, base_name: str = BASE_ALIAS
) -> Path:
    """Write a LoRA adapter of the model in ``base_dir`` to ``out_dir`` (replaced); returns ``out_dir``.

    The same ``seed`` writes the same tensors; another seed is a "retrained" adapter.
    """
    try:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM
    except ImportError as exc:
        raise ConfigError(f"making an adapter needs peft: pip install 'clue[lora]' ({exc})") from exc
    if rank < 1:
        raise ConfigError(f"rank must be >= 1, got {rank}")
    out_dir = Path(out_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
        config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=list(TARGET_MODULES),
                            task_type="CAUSAL_LM")
        peft_model = get_peft_model(model, config)
        with torch.no_grad():
            for name, param in peft_model.named_parameters():
                if "lora_B" in name:
                    param.normal_(0.0, b_std)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        peft_model.save_pretrained(str(tmp))
        config_path = tmp / ADAPTER_CONFIG
        data = json.loads(config_path.read_text(encoding="utf-8"))
        data["base_model_name_or_path"] = base_name  # the registry alias, not this machine's path
        config_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for extra in tmp.iterdir():  # peft writes a README model card: not needed
            if extra.name not in (ADAPTER_CONFIG, "adapter_model.safetensors"):
                extra.unlink() if extra.is_file() else shutil.rmtree(extra)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
