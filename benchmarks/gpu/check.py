"""clue's GPU check: a random Llama-3-8B-shaped model in bf16 through the hf engine, on one GPU.

Run ``bash benchmarks/gpu/run.sh`` (it sets the paths and installs carried wheels); this file is its
body. What it does, in about 6-7 minutes on one H100 or H200 (limit: 8):

1. Refuses, with one line and exit status 2, what cannot run: no CUDA GPU, Python below 3.11, torch,
   transformers or clue not importable.
2. The xdist worker-GPU split: the CUDA_VISIBLE_DEVICES each of two pytest-xdist workers gets
   (``clue.engines.devices``, as the plugin hands it out), each checked in a child process.
3. Builds a model of Llama-3-8B's shape with random weights in bf16 on the GPU (no download; speed
   does not depend on the values) behind the demo tokenizer, and runs 10% of every CLUE task's real
   item count as synthetic prompts of full length (``workload.py``; LongHealth at ~8k tokens)
   through ``HFEngine`` and clue's generation cache, as a run would.
4. Prints per task and in total: prompt and generated tokens/s, the fraction of the device's bf16
   FLOP bound (and, for decoding, of its memory bandwidth), the harness's share of the wall time, and
   peak GPU memory.
5. Frees the model through the engine pool and checks ``torch.cuda.memory_allocated`` drops to
   (almost) nothing; then one engine for a base and a random LoRA adapter (peft, when carried): the
   pool builds it once, adapter outputs differ from the base's; the pool frees it again.

``--tiny --allow-cpu`` runs the same logic with a tiny model and short prompts on a CPU (the tests do).
Results also go to ``--out`` as JSON (default ``$OUT/gpu-check.json`` when ``$OUT`` is set).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import CONTEXT, LLAMA3_8B, PlannedTask, Shape, device_peaks, plan  # noqa: E402

EXIT_REFUSED = 2
LIMIT_S = 480.0
FREED_BYTES = 64 * 2**20  # what may stay allocated after the pool freed a model
TEMPLATE_TOKENS = 16  # room left for the chat template around a prompt
REQUIRED = ("torch", "transformers", "tokenizers", "safetensors", "huggingface_hub", "tqdm", "jinja2", "numpy")
OPTIONAL = {"peft": "the adapter part (carry peft, accelerate and psutil as wheels: fetch-wheels.sh)"}
TINY = Shape(hidden=64, intermediate=128, layers=2, heads=2, kv_heads=1, vocab=4096, bytes_per_param=4)
SYSTEM = "You are a highly skilled assistant that reads clinical documents and answers precisely."


def refuse(message: str) -> None:
    print(f"clue GPU check: {message}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_REFUSED)


def say(line: str = "") -> None:
    print(line, flush=True)


# -- 1. what must be there ------------------------------------------------------------------------


def preflight(allow_cpu: bool) -> dict[str, Any]:
    if sys.version_info < (3, 11):
        refuse(f"Python {platform.python_version()} is too old: clue needs Python >= 3.11 (tomllib). "
               "Run it with PYTHON=python3.11 (or newer) bash benchmarks/gpu/run.sh")
    import importlib.util

    missing = [m for m in REQUIRED if importlib.util.find_spec(m) is None]
    if missing:
        refuse(f"missing Python package(s) {', '.join(missing)}: this check needs PyTorch and transformers "
               "installed (their own dependencies included); install them or use a machine that has them")
    import torch
    import transformers

    if not torch.cuda.is_available():
        if not allow_cpu:
            refuse(f"no CUDA GPU visible (torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}). "
                   "This check needs one H100 or H200 GPU; on a CPU machine run `make test` and `make bench`.")
    try:
        from clue.engines.hf import HFEngine  # noqa: F401
    except ImportError as exc:
        refuse(f"clue does not import ({exc}); run the check from the repository: bash benchmarks/gpu/run.sh")
    optional = {m: importlib.util.find_spec(m) is not None for m in OPTIONAL}
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "optional": optional,
    }
    if env["device"] != "cpu":
        props = torch.cuda.get_device_properties(0)
        env["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
    return env


# -- 2. the xdist split ---------------------------------------------------------------------------


def check_worker_split(n_workers: int = 2) -> dict[str, Any]:
    """The devices each worker is handed (as pytest_configure_node does) and what each child sees."""
    from clue.engines.devices import visible_gpus, worker_gpus

    devices = visible_gpus()
    probe = (
        "import os, torch; n = torch.cuda.device_count(); "
        "ok = n > 0 and float(torch.ones(4, device='cuda').sum()) == 4.0; "
        "print(os.environ.get('CUDA_VISIBLE_DEVICES'), n, torch.cuda.get_device_name(0) if n else '-', ok)"
    )
    children = []
    for index in range(n_workers):
        gpus = worker_gpus(devices, n_workers, index)
        env = dict(os.environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        children.append((index, gpus, subprocess.Popen([sys.executable, "-c", probe], env=env, text=True,
                                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
    workers = []
    for index, gpus, child in children:
        out, err = child.communicate(timeout=120)
        fields = out.split()
        ok = child.returncode == 0 and len(fields) >= 4 and fields[-1] == "True"
        workers.append({"worker": index, "CUDA_VISIBLE_DEVICES": ",".join(gpus) or None,
                        "devices_seen": int(fields[1]) if len(fields) >= 4 else 0, "ok": ok or not devices,
                        "error": None if child.returncode == 0 else err.strip().splitlines()[-1:]})
    return {"visible": devices, "workers": workers}


# -- 3. the model and the prompts -----------------------------------------------------------------


def model_folder(root: Path, shape: Shape, dtype: str) -> Path:
    """config.json of ``shape`` beside the demo tokenizer: what HFEngine needs, without weights."""
    from transformers import LlamaConfig

    from clue.models.demo import ensure_demo_model

    demo = ensure_demo_model("demo-base", root / "models")
    folder = root / "random-llama"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(demo / name, folder / name)
    demo_config = json.loads((demo / "config.json").read_text())
    config = LlamaConfig(
        vocab_size=shape.vocab, hidden_size=shape.hidden, intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers, num_attention_heads=shape.heads, num_key_value_heads=shape.kv_heads,
        max_position_embeddings=CONTEXT, rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False,
        bos_token_id=demo_config["bos_token_id"], eos_token_id=demo_config["eos_token_id"],
        pad_token_id=demo_config["pad_token_id"], dtype=dtype, architectures=["LlamaForCausalLM"],
    )
    config.save_pretrained(folder)
    return folder


def random_engine_class() -> type:
    """HFEngine whose model is built from its config with random weights on the device (no files)."""
    import torch
    from transformers import AutoModelForCausalLM

    from clue.engines.hf import DTYPES, HFEngine

    class RandomWeightsHF(HFEngine):
        def _load_base_model(self) -> Any:
            torch.manual_seed(0)
            with torch.device(self.device):
                return AutoModelForCausalLM.from_config(self.config, dtype=DTYPES[self.dtype])

    return RandomWeightsHF


def write_random_lora(folder: Path, shape: Shape, rank: int, seed: int) -> Path:
    """A peft LoRA adapter folder for ``shape`` (every projection, rank ``rank``), random A and B."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    kv = shape.kv_heads * shape.head_dim
    dims = {"self_attn.q_proj": (shape.hidden, shape.hidden), "self_attn.k_proj": (shape.hidden, kv),
            "self_attn.v_proj": (shape.hidden, kv), "self_attn.o_proj": (shape.hidden, shape.hidden),
            "mlp.gate_proj": (shape.hidden, shape.intermediate), "mlp.up_proj": (shape.hidden, shape.intermediate),
            "mlp.down_proj": (shape.intermediate, shape.hidden)}
    tensors = {}
    for layer in range(shape.layers):
        for module, (fan_in, fan_out) in dims.items():
            key = f"base_model.model.model.layers.{layer}.{module}"
            tensors[f"{key}.lora_A.weight"] = (torch.randn(rank, fan_in, generator=gen) / fan_in**0.5).to(torch.bfloat16)
            tensors[f"{key}.lora_B.weight"] = (torch.randn(fan_out, rank, generator=gen) * 0.02).to(torch.bfloat16)
    save_file(tensors, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": 2 * rank, "lora_dropout": 0.0,
              "target_modules": sorted(m.split(".")[1] for m in dims), "bias": "none", "fan_in_fan_out": False,
              "inference_mode": True, "base_model_name_or_path": "random-llama", "modules_to_save": None}
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2))
    return folder


def prompt_texts(tokenizer: Any, lengths: tuple[int, ...], seed: int) -> list[str]:
    """Texts of about ``lengths`` tokens each: windows of the demo corpus's token stream, seeded."""
    import random

    from clue.models.demo import _CORPUS

    stream = tokenizer(" ".join([_CORPUS] * 8), add_special_tokens=False, verbose=False)["input_ids"]
    while len(stream) < max(lengths) * 2:
        stream = stream + stream
    rng = random.Random(seed)
    texts = []
    for n in lengths:
        start = rng.randrange(0, len(stream) - n)
        texts.append(tokenizer.decode(stream[start:start + n], skip_special_tokens=True))
    return texts


def requests_for(task: PlannedTask, tokenizer: Any, seed: int) -> list[Any]:
    from clue.records import Message, Request

    limit = CONTEXT - task.max_new_tokens - TEMPLATE_TOKENS
    lengths = tuple(min(n, limit) for n in task.prompt_lengths)
    return [
        Request(id=f"{task.name}-{i}", task=task.name, messages=(Message("system", SYSTEM), Message("user", text)),
                max_new_tokens=task.max_new_tokens, reference="")
        for i, text in enumerate(prompt_texts(tokenizer, lengths, seed))
    ]


# -- 4. measuring ---------------------------------------------------------------------------------


@dataclass
class Counters:
    prefill_s: float = 0.0
    decode_s: float = 0.0
    prefill_tokens: int = 0  # real prompt tokens (padding not counted)
    padded_tokens: int = 0  # prompt positions computed, padding included
    decode_steps: int = 0
    prefill_flops: float = 0.0
    decode_flops: float = 0.0
    decode_bytes: float = 0.0
    generate_s: float = 0.0  # inside model.generate (transformers' loop and the forwards)


class Meter:
    """Times every forward of the model (prefill: more than one position; decode: one) and every
    ``model.generate`` call, synchronising the device around each, and counts their work."""

    def __init__(self, engine: Any, shape: Shape, cuda: bool) -> None:
        import torch

        self._torch, self._shape, self._cuda = torch, shape, cuda
        self.counters = Counters()
        model = engine._model
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self._handles = [base.register_forward_pre_hook(self._pre, with_kwargs=True),
                         base.register_forward_hook(self._post, with_kwargs=True)]
        self._model, self._generate = model, model.generate
        model.generate = self._timed_generate
        self._t0 = 0.0
        self._step: tuple[bool, list[int], int] = (False, [], 0)

    def _sync(self) -> None:
        if self._cuda:
            self._torch.cuda.synchronize()

    def _pre(self, module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        ids, mask = kwargs.get("input_ids"), kwargs.get("attention_mask")
        if ids is None:
            ids = args[0] if args else None
        if ids is None:
            self._step = (False, [], 0)
            return
        width, rows = int(ids.shape[1]), int(ids.shape[0])
        # prefill: the real prompt tokens of each row; decode: each row's context (the mask covers it)
        real = mask.sum(dim=1).tolist() if mask is not None else [width] * rows
        self._step = (width > 1, [int(r) for r in real], width * rows)
        self._sync()
        self._t0 = time.perf_counter()

    def _post(self, module: Any, args: Any, kwargs: dict[str, Any], output: Any) -> None:
        self._sync()
        elapsed = time.perf_counter() - self._t0
        prefill, rows, positions = self._step
        c, s = self.counters, self._shape
        if not rows:
            return
        if prefill:
            c.prefill_s += elapsed
            c.prefill_tokens += sum(rows)
            c.padded_tokens += positions
            c.prefill_flops += sum(s.prefill_flops(n) for n in rows)
        else:
            c.decode_s += elapsed
            c.decode_steps += 1
            c.decode_flops += sum(s.decode_flops(n) for n in rows)
            c.decode_bytes += s.decode_step_bytes(rows)

    def _timed_generate(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._generate(*args, **kwargs)
        finally:
            self._sync()
            self.counters.generate_s += time.perf_counter() - t0

    def take(self) -> Counters:
        out, self.counters = self.counters, Counters()
        return out

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._model.generate = self._generate


@dataclass
class TaskRun:
    name: str
    prompts: int
    prompt_tokens: int
    generated_tokens: int
    max_new_tokens: int
    wall_s: float
    counters: Counters
    peak_gib: float
    skipped: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)


def figures(run: TaskRun, peak_flops: float | None, peak_bytes: float | None) -> dict[str, Any]:
    c = run.counters
    forward_s = c.prefill_s + c.decode_s
    out: dict[str, Any] = {
        "prompt_tok_s": c.prefill_tokens / c.prefill_s if c.prefill_s else None,  # tokens computed (no repeats)
        "generated_tok_s": run.generated_tokens / c.decode_s if c.decode_s else None,
        "padding_share": 1 - c.prefill_tokens / c.padded_tokens if c.padded_tokens else None,
        "flop_fraction": None, "prefill_flop_fraction": None, "decode_bandwidth_fraction": None,
        "harness_share": (run.wall_s - c.generate_s) / run.wall_s if run.wall_s else None,
        "generate_loop_share": (c.generate_s - forward_s) / run.wall_s if run.wall_s else None,
    }
    if peak_flops and run.wall_s:
        out["flop_fraction"] = (c.prefill_flops + c.decode_flops) / (peak_flops * run.wall_s)
        out["prefill_flop_fraction"] = c.prefill_flops / (peak_flops * c.prefill_s) if c.prefill_s else None
    if peak_bytes and c.decode_s:
        out["decode_bandwidth_fraction"] = c.decode_bytes / (peak_bytes * c.decode_s)
    return out


def run_task(engine: Any, meter: Meter, task: PlannedTask, tokenizer: Any, cache: Any, seed: int, cuda: bool,
             batch_size: int) -> TaskRun:
    import torch

    from clue.cache.store import generate_with_cache
    from clue.records import Sampling

    requests = requests_for(task, tokenizer, seed ^ zlib.crc32(task.name.encode()))
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    meter.take()
    t0 = time.perf_counter()
    # as a run calls it: the whole task in one call, each forward batch stored as it finishes
    completions, _ = generate_with_cache(engine, requests, Sampling(), cache)
    wall = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0
    return TaskRun(task.name, len(requests), sum(c.prompt_tokens for c in completions),
                   sum(c.completion_tokens for c in completions), task.max_new_tokens, wall, meter.take(), peak)


def projected_s(task: PlannedTask, done: list[TaskRun], shape: Shape, batch: int) -> float | None:
    """How long ``task`` should take at the rates measured so far (None before any)."""
    flops = sum(r.counters.prefill_flops for r in done)
    prefill_s = sum(r.counters.prefill_s for r in done)
    decode_bytes = sum(r.counters.decode_bytes for r in done)
    decode_s = sum(r.counters.decode_s for r in done)
    if not prefill_s or not decode_s:
        return None
    t = sum(shape.prefill_flops(n) for n in task.prompt_lengths) / (flops / prefill_s)
    lengths = sorted(task.prompt_lengths, reverse=True)
    for start in range(0, len(lengths), batch):
        rows = lengths[start:start + batch]
        mid = [n + task.max_new_tokens // 2 for n in rows]
        t += task.max_new_tokens * shape.decode_step_bytes(mid) / (decode_bytes / decode_s)
    overhead = sum(r.wall_s - r.counters.prefill_s - r.counters.decode_s for r in done) / max(
        1, sum(r.prompts for r in done))
    return t + overhead * task.prompts


# -- 5. freeing, and one engine for a base and its adapter ----------------------------------------


def allocated() -> int:
    import torch

    return int(torch.cuda.memory_allocated()) if torch.cuda.is_available() else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="clue's GPU check (see benchmarks/gpu/check.py)")
    parser.add_argument("--fraction", type=float, default=0.10, help="share of every task's real item count (0.10)")
    parser.add_argument("--batch-size", type=int, default=16, help="hf engine batch size (clue's default, 16)")
    parser.add_argument("--limit-s", type=float, default=LIMIT_S, help="time limit of the whole check (480 s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peak-tflops", type=float, default=None, help="bf16 dense peak, when the device is not known")
    parser.add_argument("--peak-tbs", type=float, default=None, help="memory bandwidth in TB/s, when not known")
    parser.add_argument("--no-adapter", action="store_true", help="skip the base + LoRA adapter part")
    parser.add_argument("--out", default=None, help="JSON results (default $OUT/gpu-check.json, else none)")
    parser.add_argument("--tiny", action="store_true", help="a tiny model and short prompts: the logic, not the speed")
    parser.add_argument("--allow-cpu", action="store_true", help="run without a GPU (with --tiny, for the tests)")
    args = parser.parse_args(argv)
    t_start = time.perf_counter()
    env = preflight(args.allow_cpu)
    import torch

    from clue.cache.store import GenerationCache
    from clue.engines.pool import EnginePool, Route
    from clue.records import Sampling

    cuda = env["device"] != "cpu"
    shape = TINY if args.tiny else LLAMA3_8B
    dtype = "bfloat16" if cuda else "float32"
    if cuda:
        shape = replace(shape, bytes_per_param=2)
    peak_flops, peak_bytes = device_peaks(env["device"])
    peak_flops = args.peak_tflops * 1e12 if args.peak_tflops else peak_flops
    peak_bytes = args.peak_tbs * 1e12 if args.peak_tbs else peak_bytes
    tasks = plan(args.fraction, args.seed, length_scale=0.02 if args.tiny else 1.0, max_new_cap=4 if args.tiny else None)
    say(f"clue GPU check on {env['device']} ({env.get('gpu_memory_gib', '-')} GiB), torch {env['torch']} "
        f"(CUDA {env['cuda']}), transformers {env['transformers']}, Python {env['python']}")
    say(f"model: random {'tiny' if args.tiny else 'Llama-3-8B'} shape, {shape.params / 1e9:.2f}B parameters, {dtype}; "
        f"bf16 peak {peak_flops / 1e12 if peak_flops else 'unknown'} TFLOP/s, "
        f"{peak_bytes / 1e12 if peak_bytes else 'unknown'} TB/s")
    say(f"sample: {sum(t.prompts for t in tasks)} prompts, {sum(t.prompt_tokens for t in tasks):,} prompt tokens "
        f"({args.fraction:.0%} of each task's items), batch size {args.batch_size}")

    split = check_worker_split()
    for w in split["workers"]:
        say(f"xdist worker {w['worker']} of 2: CUDA_VISIBLE_DEVICES={w['CUDA_VISIBLE_DEVICES']} -> "
            f"{w['devices_seen']} device(s) seen, {'ok' if w['ok'] else 'FAILED ' + str(w['error'])}")

    work = Path(tempfile.mkdtemp(prefix="clue-gpu-check-"))
    results: dict[str, Any] = {"env": env, "shape": asdict(shape), "xdist_split": split, "tasks": []}
    try:
        folder = model_folder(work, shape, dtype)
        engine_cls = random_engine_class()
        cache = GenerationCache(work / "generations.sqlite")
        adapters: dict[str, str] = {}
        use_adapter = not args.no_adapter and env["optional"]["peft"]
        if use_adapter:
            adapters["random-lora"] = str(write_random_lora(work / "random-lora", shape, rank=16, seed=args.seed))

        def factory(key: str) -> Any:
            return engine_cls(str(folder), dtype=dtype, batch_size=args.batch_size, device="cuda" if cuda else "cpu",
                              adapters=adapters if key == "lora-host" else None)

        routes = {"random-8b": Route("random-8b"), "base": Route("lora-host", view=True),
                  "random-lora": Route("lora-host", view=True, adapter="random-lora"),
                  "random-8b-again": Route("random-8b-again")}
        pool = EnginePool(factory, route=routes.__getitem__)
        engine = pool.get("random-8b")
        t0 = time.perf_counter()
        warm = requests_for(replace(tasks[0], prompt_lengths=(64,), max_new_tokens=2), engine.tokenizer, args.seed)
        engine.generate(warm, Sampling())  # loads the model, warms the kernels up
        load_s = time.perf_counter() - t0
        say(f"model built on the device and warmed up in {load_s:.1f} s; {allocated() / 2**30:.1f} GiB allocated")
        meter = Meter(engine, shape, cuda)
        done: list[TaskRun] = []
        reserve_s = 45.0 if not args.tiny else 0.0  # the freeing and adapter part after the tasks
        header = f"{'task':<17}{'prompts':>8}{'prompt tok':>11}{'prompt tok/s':>13}{'gen tok/s':>10}{'FLOP%':>7}{'prefill FLOP%':>14}{'decode BW%':>11}{'harness%':>9}{'peak GiB':>9}{'wall s':>8}"
        say(header)
        for task in tasks:
            guess = projected_s(task, done, shape, args.batch_size)
            elapsed = time.perf_counter() - t_start
            if guess is not None and elapsed + guess + reserve_s > args.limit_s:
                say(f"{task.name:<17} skipped: projected {guess:.0f} s would pass the {args.limit_s:.0f} s limit")
                results["tasks"].append({"name": task.name, "skipped": f"projected {guess:.0f} s"})
                continue
            run = run_task(engine, meter, task, engine.tokenizer, cache, args.seed, cuda, args.batch_size)
            run.figures = figures(run, peak_flops, peak_bytes)
            done.append(run)
            results["tasks"].append({**asdict(run), "projected_s": guess})
            say(row(run))
        meter.close()
        total = TaskRun("total", sum(r.prompts for r in done), sum(r.prompt_tokens for r in done),
                        sum(r.generated_tokens for r in done), 0, sum(r.wall_s for r in done),
                        sum_counters([r.counters for r in done]), max((r.peak_gib for r in done), default=0.0))
        total.figures = figures(total, peak_flops, peak_bytes)
        say(row(total))
        results["total"] = asdict(total)
        results["load_s"] = load_s

        # freeing: asking the pool for another model closes this one
        before = allocated()
        second = pool.get("base" if use_adapter else "random-8b-again")
        after_free = allocated()
        freed_ok = after_free <= FREED_BYTES or not cuda
        say(f"pool freed the model: {before / 2**30:.2f} GiB allocated before, {after_free / 2**20:.0f} MiB after "
            f"({'ok' if freed_ok else 'NOT FREED'})")
        results["freed"] = {"before": before, "after": after_free, "ok": freed_ok}
        results["adapter"] = adapter_part(pool, second, tasks, args.seed, use_adapter, env)
        pool.close()
        after_close = allocated()
        closed_ok = after_close <= FREED_BYTES or not cuda
        say(f"pool closed: {after_close / 2**20:.0f} MiB allocated ({'ok' if closed_ok else 'NOT FREED'})")
        results["closed"] = {"after": after_close, "ok": closed_ok}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = time.perf_counter() - t_start
    results["wall_s"] = wall
    ok = (results["freed"]["ok"] and results["closed"]["ok"] and all(w["ok"] for w in split["workers"])
          and results["adapter"].get("ok", True))
    results["ok"] = ok and wall <= args.limit_s
    peak_reserved = torch.cuda.max_memory_reserved() / 2**30 if cuda else 0.0
    say(f"peak GPU memory: {results['total']['peak_gib']:.1f} GiB allocated, {peak_reserved:.1f} GiB reserved")
    say(f"total wall time {wall:.0f} s (limit {args.limit_s:.0f} s): {'PASS' if results['ok'] else 'FAIL'}")
    out = args.out or (str(Path(os.environ["OUT"]) / "gpu-check.json") if os.environ.get("OUT") else None)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(results, indent=2, default=str))
        say(f"results: {out}")
    return 0 if results["ok"] else 1


def adapter_part(pool: Any, base_view: Any, tasks: list[PlannedTask], seed: int, use_adapter: bool,
                 env: dict[str, Any]) -> dict[str, Any]:
    """Base and adapter from one engine: one build, one load, outputs that differ, tokens/s of each."""
    from clue.records import Sampling

    sample = replace(tasks[0], prompt_lengths=tasks[0].prompt_lengths[:32])
    if not use_adapter:
        reason = "peft not installed: " + OPTIONAL["peft"] if not env["optional"]["peft"] else "--no-adapter"
        say(f"adapter part skipped ({reason})")
        requests = requests_for(sample, base_view.tokenizer, seed)
        base_view.generate(requests[:8], Sampling())  # still load a second model, so that freeing is tested
        return {"skipped": reason}
    lora = pool.get("random-lora")
    requests = requests_for(sample, base_view.tokenizer, seed)
    timings = {}
    texts = {}
    for name, view in (("base", base_view), ("adapter", lora), ("base again", base_view)):
        t0 = time.perf_counter()
        out = view.generate(requests, Sampling())
        timings[name] = time.perf_counter() - t0
        texts[name] = [c.text for c in out]
    builds = dict(pool.builds)
    differ = sum(a != b for a, b in zip(texts["base"], texts["adapter"]))
    same_base = texts["base"] == texts["base again"]
    ok = builds.get("lora-host") == 1 and differ > 0 and same_base
    say(f"base + LoRA adapter (rank 16, every projection) in one engine: built {builds.get('lora-host')} time(s); "
        f"{differ}/{len(requests)} outputs differ from the base's; base unchanged after the adapter: {same_base}; "
        f"base {timings['base']:.1f} s, adapter {timings['adapter']:.1f} s for {len(requests)} prompts "
        f"({'ok' if ok else 'FAILED'})")
    return {"builds": builds, "differ": differ, "prompts": len(requests), "base_unchanged": same_base,
            "seconds": timings, "ok": ok}


def sum_counters(items: list[Counters]) -> Counters:
    total = Counters()
    for c in items:
        for k, v in asdict(c).items():
            setattr(total, k, getattr(total, k) + v)
    return total


def row(run: TaskRun) -> str:
    f = run.figures

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f}"

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:,.0f}"

    return (f"{run.name:<17}{run.prompts:>8}{run.prompt_tokens:>11,}{num(f['prompt_tok_s']):>13}{num(f['generated_tok_s']):>10}"
            f"{pct(f['flop_fraction']):>7}{pct(f['prefill_flop_fraction']):>14}{pct(f['decode_bandwidth_fraction']):>11}"
            f"{pct(f['harness_share']):>9}{run.peak_gib:>9.1f}{run.wall_s:>8.1f}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("clue GPU check: interrupted", file=sys.stderr)
        sys.exit(130)
