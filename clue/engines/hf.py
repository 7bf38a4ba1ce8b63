"""The transformers engine: batched generation with left padding, longest prompts first.

Forward batches are bounded by a token budget (``token_budget``: rows x padded prompt + new tokens;
by default fitted to the device's free memory on CUDA) and by ``batch_size`` rows
(``--clue-batch-size``); prompts are tokenised on a thread ahead of the model; a batch that runs
out of memory is halved and retried (clue/engines/batching.py). Each finished forward batch is
reported through ``on_complete``, so the cache stores it at once.
Construction loads the tokenizer and config only; the model loads on the first ``generate``.
Greedy by default (``Sampling.temperature == 0``); sampling is seeded from ``Sampling.seed``.
LoRA ``adapters`` are attached with peft when the model loads; ``with engine.adapter(name):``
switches one on around generation, ``adapter(None)`` runs the base with every adapter off
(clue/engines/adapters.py hands out one view per model).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import transformers
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoTokenizer

from clue.engines.adapters import attach_peft, require_peft
from clue.engines.batching import (
    DEFAULT_MAX_ROWS,
    PREFETCH_GROUP,
    BatchTooLarge,
    Prefetch,
    Prompt,
    batch_tokens,
    default_token_budget,
    length_order,
    run_halving,
    take_batch,
)
from clue.engines.tokens import HFTokenCounter
from clue.errors import ConfigError, EngineError
from clue.models.adapters import AdapterInfo, read_adapter
from clue.prompts.chat import CHAT_STYLES, ChatStyle, detect_style, render
from clue.records import Completion, Request, Sampling

if TYPE_CHECKING:
    from clue.engines.base import OnComplete

log = logging.getLogger(__name__)

DTYPES: dict[str, Any] = {
    "auto": "auto",
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_FINGERPRINT_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json")
_FALLBACK_CONTEXT = 2048
_CHARS_PER_TOKEN = 4  # for ordering prompts by length before they are tokenised


def _looks_like_path(model: str) -> bool:
    """A local folder was meant (even if missing) rather than a hub id such as "org/name"."""
    return (
        model.startswith((".", "/", "~", "\\"))
        or os.path.isabs(model)
        or model.count("/") > 1
        or "\\" in model
        or Path(model).expanduser().exists()
    )


def local_fingerprint(folder: Path) -> str:
    """Revision of a local model folder: config content plus names, sizes and mtimes of weight files."""
    h = hashlib.sha256()
    for name in _FINGERPRINT_FILES:
        path = folder / name
        if path.is_file():
            h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name.endswith(_WEIGHT_SUFFIXES):
            st = path.stat()
            h.update(f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return "local-" + h.hexdigest()[:16]


def finish(new_ids: Sequence[int], limit: int, eos_ids: set[int]) -> tuple[list[int], str]:
    """Generated ids kept for one request: up to ``limit``, ending at the first eos (included).

    Returns (ids, finish_reason), finish_reason "stop" when an eos ended it, else "length".
    """
    ids = list(new_ids[:limit])
    for i, tok in enumerate(ids):
        if tok in eos_ids:
            return ids[: i + 1], "stop"
    return ids, "length"


def batch_order(prompt_lengths: Sequence[int], max_new: Sequence[int]) -> list[int]:
    """Request indices, longest (prompt + new tokens) first, so memory problems show at once."""
    return length_order(prompt_lengths, max_new)


def _row_limits(prompt_len: int, limits: torch.Tensor) -> Any:
    """A stopping criterion that marks each row done once it has generated its own ``max_new_tokens``.

    Built on demand: transformers' generation module is slow to import, and a fully cached run
    never generates.
    """
    from transformers import StoppingCriteria

    class RowLimits(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
            return (input_ids.shape[1] - prompt_len) >= limits.to(input_ids.device)

    return RowLimits()


def _read_adapters(adapters: Mapping[str, str | Path]) -> dict[str, AdapterInfo]:
    try:
        return {name: read_adapter(path) for name, path in adapters.items()}
    except ConfigError as exc:
        raise EngineError(str(exc)) from exc


class _Budget:
    """The token budget of one ``generate`` call, lowered when a batch runs out of memory."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens

    def out_of_memory(self, engine: HFEngine) -> Callable[[list[Prompt], BaseException], None]:
        def lower(batch: list[Prompt], exc: BaseException) -> None:
            size = batch_tokens(batch)
            if len(batch) > 1:
                self.tokens = max(1, size // 2)
                log.warning(
                    "%s: a batch of %d prompts (%d tokens) ran out of memory; halving it, token budget now %d",
                    engine.model_id, len(batch), size, self.tokens,
                )
            gc.collect()
            if torch.device(engine.device).type == "cuda" and torch.cuda.is_available():
                torch.cuda.empty_cache()

        return lower


class HFEngine:
    """``clue.engines.base.Engine`` on transformers' ``generate``."""

    name = "hf"

    def __init__(
        self,
        model: str,
        revision: str | None = None,
        dtype: str = "auto",
        device: str | None = None,
        batch_size: int | None = None,
        chat_style: str = "auto",
        max_context: int | None = None,
        trust_remote_code: bool = False,
        attn_implementation: str | None = None,
        adapters: Mapping[str, str | Path] | None = None,
        token_budget: int | None = None,
    ) -> None:
        if dtype not in DTYPES:
            raise EngineError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        if chat_style != "auto" and chat_style not in CHAT_STYLES:
            raise EngineError(f"chat_style must be 'auto' or one of {', '.join(CHAT_STYLES)}, got {chat_style!r}")
        if batch_size is not None and batch_size < 1:
            raise EngineError(f"batch_size must be >= 1, got {batch_size}")
        if token_budget is not None and token_budget < 0:
            raise EngineError(f"token_budget must be >= 0 (0: no token limit), got {token_budget}")
        self.model_id = model
        self.batch_size = batch_size  # rows per forward batch at most (None: DEFAULT_MAX_ROWS)
        self.token_budget = token_budget  # tokens per forward batch (None: fit to the device; 0: no limit)
        self.dtype = dtype
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._attn = attn_implementation
        self._trust_remote_code = trust_remote_code
        self._revision = revision
        self._local: Path | None = None
        if _looks_like_path(model):
            folder = Path(model).expanduser()
            if not folder.is_dir():
                raise EngineError(
                    f"model folder not found: {folder}. Give a folder holding config.json, the weights and "
                    "the tokenizer (as save_pretrained writes it), or a Hugging Face hub id such as org/name."
                )
            if not (folder / "config.json").is_file():
                raise EngineError(
                    f"{folder} has no config.json: not a transformers model folder (save it with save_pretrained)."
                )
            self._local = folder
        self.config = self._pretrained(AutoConfig.from_pretrained, "config")
        self._tokenizer = self._pretrained(AutoTokenizer.from_pretrained, "tokenizer")
        if chat_style == "auto":
            self.chat_style: ChatStyle = detect_style(self._tokenizer)
        else:
            if chat_style != "plain" and not getattr(self._tokenizer, "chat_template", None):
                raise EngineError(
                    f"{model}: chat_style {chat_style!r} needs a chat template, and the tokenizer has none; "
                    "use chat_style 'plain' (or 'auto')."
                )
            self.chat_style = chat_style  # type: ignore[assignment]
        self.max_context = max_context or self._default_context()
        self._tokens = HFTokenCounter(self._tokenizer)
        self._model: Any = None
        self.adapters: dict[str, AdapterInfo] = _read_adapters(adapters or {})
        if self.adapters:
            require_peft()

    # -- loading --------------------------------------------------------------------------------

    def _pretrained(self, loader: Callable[..., Any], what: str, **extra: Any) -> Any:
        """Call a ``from_pretrained`` local-first; the hub only when the files are not stored locally."""
        source = str(self._local) if self._local is not None else self.model_id
        kwargs: dict[str, Any] = {"trust_remote_code": self._trust_remote_code, **extra}
        if self._local is None:
            kwargs["revision"] = self._revision
            kwargs["token"] = os.environ.get("HF_TOKEN") or None
        try:
            return loader(source, local_files_only=True, **kwargs)
        except (OSError, ValueError) as exc:
            if self._local is not None:
                raise EngineError(f"{self._local}: cannot load the {what}: {exc}") from exc
            offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
            if offline:
                raise EngineError(
                    f"{self.model_id}: the {what} is not available offline (HF_HUB_OFFLINE is set). The weights "
                    "must be present locally: in the Hugging Face cache (download them once with network "
                    "access) or as a local folder path."
                ) from exc
        try:
            return loader(source, **kwargs)
        except (OSError, ValueError) as exc:
            raise EngineError(
                f"{self.model_id}: cannot load the {what} ({exc}). The weights must be present locally (in the "
                "Hugging Face cache or as a folder path) or downloadable from the hub; gated models need "
                "HF_TOKEN in the environment."
            ) from exc

    def _default_context(self) -> int:
        configs = [self.config, getattr(self.config, "text_config", None)]
        for cfg in configs:
            for key in _CONTEXT_KEYS:
                value = getattr(cfg, key, None) if cfg is not None else None
                if isinstance(value, int) and value > 0:
                    return value
        value = getattr(self._tokenizer, "model_max_length", None)
        if isinstance(value, int) and 0 < value < 10_000_000:
            return value
        log.warning("%s: no context length in config or tokenizer; assuming %d", self.model_id, _FALLBACK_CONTEXT)
        return _FALLBACK_CONTEXT

    def _load_model(self) -> Any:
        model = self._load_base_model()
        if self.adapters:
            log.info("attaching adapter(s) %s to %s", ", ".join(self.adapters), self.model_id)
            model = attach_peft(model, self.adapters)
        return model.to(self.device).eval()

    def _load_base_model(self) -> Any:
        log.info("loading %s on %s (dtype %s)", self.model_id, self.device, self.dtype)
        extra: dict[str, Any] = {"dtype": DTYPES[self.dtype]}
        if self._attn:
            extra["attn_implementation"] = self._attn
        from transformers import AutoModelForCausalLM

        return self._pretrained(AutoModelForCausalLM.from_pretrained, "model weights", **extra)

    @contextmanager
    def adapter(self, name: str | None) -> Iterator[None]:
        """Generation inside runs with adapter ``name`` on, or (None) the base with every adapter off.
        Loads the model when an adapter has to be switched."""
        if name is not None and name not in self.adapters:
            raise EngineError(f"{self.model_id}: no adapter {name!r} attached (attached: {', '.join(self.adapters) or 'none'})")
        if not self.adapters:
            yield
            return
        if self._model is None:
            self._model = self._load_model()
        if name is None:
            with self._model.disable_adapter():
                yield
        else:
            self._model.set_adapter(name)
            yield

    # -- Engine ---------------------------------------------------------------------------------

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def tokens(self) -> HFTokenCounter:
        return self._tokens

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def render(self, request: Request) -> str:
        return render(request, self.chat_style, self._tokenizer)

    def identity(self) -> Mapping[str, Any]:
        if self._local is not None:
            revision = local_fingerprint(self._local)
        else:
            revision = getattr(self.config, "_commit_hash", None) or self._revision or "main"
        dtype = self.dtype
        if dtype == "auto":
            dtype = str(getattr(self.config, "dtype", None) or getattr(self.config, "torch_dtype", None) or "auto")
            dtype = dtype.removeprefix("torch.")
        return {
            "engine": self.name,
            "model_id": self.model_id,
            "revision": revision,
            "dtype": dtype,
            "device_type": torch.device(self.device).type,
            "chat_style": self.chat_style,
            "transformers": transformers.__version__,
        }

    def _encode(self, prompts: Sequence[str], style: ChatStyle | None = None) -> list[list[int]]:
        # Chat templates write their own BOS; plain text gets the tokenizer's special tokens.
        add_special = (style or self.chat_style) == "plain"
        return [list(ids) for ids in self._tokenizer(list(prompts), add_special_tokens=add_special)["input_ids"]]

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (self._tokenizer.eos_token_id, getattr(self._model.generation_config, "eos_token_id", None)):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(int(i) for i in source)
        return ids

    def generate(
        self, requests: Sequence[Request], sampling: Sampling, on_complete: OnComplete | None = None
    ) -> list[Completion]:
        """Completions in request order. Prompts are tokenised on a thread ahead of the model (while
        it loads, then between batches), batched longest first by the token budget, and each forward
        batch's completions are reported through ``on_complete`` as soon as it finishes. A batch that
        runs out of memory is halved and retried (and the budget lowered for the batches after it)."""
        if not requests:
            return []
        limits = [r.max_new_tokens or sampling.max_new_tokens for r in requests]
        max_rows = self.batch_size or DEFAULT_MAX_ROWS
        # Longest first by an estimate (characters / 4) that needs no tokenisation; the budget is
        # checked on the real token counts.
        estimate = [sum(len(m.content) for m in r.messages) // _CHARS_PER_TOKEN for r in requests]
        order = length_order(estimate, limits)

        def encode(indices: Sequence[int]) -> list[list[int]]:
            return self._encode([self.render(requests[i]) for i in indices])

        results: list[Completion | None] = [None] * len(requests)
        # a batch's worth ahead: tokenising one is far quicker than generating it
        with Prefetch(order, encode, limits, ahead=max_rows + PREFETCH_GROUP) as stream:
            if self._model is None:
                self._model = self._load_model()
            eos_ids = self._eos_ids()
            pad_id = self._tokenizer.pad_token_id
            if pad_id is None:
                pad_id = min(eos_ids) if eos_ids else 0
            budget = _Budget(self.token_budget if self.token_budget is not None else self._fitted_budget())
            log.info("%s: forward batches of at most %d rows and %s tokens", self.model_id, max_rows,
                     budget.tokens or "unlimited")
            prompts = iter(stream)
            pending: deque[Prompt] = deque()

            def more() -> bool:
                prompt = next(prompts, None)
                if prompt is None:
                    return False
                if prompt.length + prompt.max_new > self.max_context:
                    log.warning("%s: prompt %s has %d tokens + %d new > context %d", self.model_id,
                                requests[prompt.index].id, prompt.length, prompt.max_new, self.max_context)
                pending.append(prompt)
                return True

            def run(batch: list[Prompt]) -> list[tuple[list[int], str]]:
                return self._generate_batch([p.ids for p in batch], [p.max_new for p in batch], sampling, eos_ids, pad_id)

            devices = [torch.device(self.device).index or 0] if torch.device(self.device).type == "cuda" else []
            with torch.random.fork_rng(devices=devices), torch.inference_mode():
                torch.manual_seed(sampling.seed)
                with tqdm(total=len(requests), desc=f"hf {Path(self.model_id).name}", unit="req", disable=None) as bar:
                    while batch := take_batch(pending, more, budget.tokens, max_rows):
                        try:
                            done = run_halving(batch, run, budget.out_of_memory(self))
                        except BatchTooLarge as exc:
                            p = exc.prompt
                            raise EngineError(
                                f"{self.model_id}: prompt {requests[p.index].id} ({p.length} tokens + {p.max_new} new) "
                                f"does not fit in the memory of {self.device} even alone ({exc}); cap the new tokens "
                                "(--clue-max-new-tokens), load a smaller dtype (--clue-dtype) or use a larger device"
                            ) from exc
                        for prompt, (ids, reason) in done:
                            completion = Completion(
                                request_id=requests[prompt.index].id,
                                text=self._tokenizer.decode(ids, skip_special_tokens=True),
                                prompt_tokens=prompt.length,
                                completion_tokens=len(ids),
                                finish_reason=reason,
                            )
                            results[prompt.index] = completion
                            if on_complete is not None:
                                on_complete(prompt.index, completion)
                        bar.update(len(batch))
        return [c for c in results if c is not None]

    def _fitted_budget(self) -> int:
        """The default token budget for the loaded model on its device (``default_token_budget``)."""
        device = torch.device(self.device)
        free = None
        if device.type == "cuda" and torch.cuda.is_available():
            free = int(torch.cuda.mem_get_info(device)[0])
        dtype_bytes = next(iter(self._model.parameters())).element_size()
        return default_token_budget(self.config, device.type, free, dtype_bytes)

    def _generate_batch(
        self,
        prompts: Sequence[list[int]],
        limits: Sequence[int],
        sampling: Sampling,
        eos_ids: set[int],
        pad_id: int,
    ) -> list[tuple[list[int], str]]:
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):  # left padding: the prompts end where generation starts
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids) :] = 1
        greedy = sampling.temperature <= 0
        from transformers import GenerationConfig

        config = GenerationConfig(
            max_new_tokens=max(limits),
            do_sample=not greedy,
            temperature=None if greedy else sampling.temperature,
            top_p=None if greedy else sampling.top_p,
            top_k=None,
            eos_token_id=sorted(eos_ids) or None,
            pad_token_id=pad_id,
        )
        stop = _row_limits(width, torch.tensor(list(limits)))
        output = self._model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            generation_config=config,
            stopping_criteria=[stop],
        )
        new = output[:, width:].tolist()
        return [finish(row, limit, eos_ids) for row, limit in zip(new, limits)]

    def close(self) -> None:
        if self._model is None:
            return
        cuda = torch.device(self.device).type == "cuda"
        self._model = None
        gc.collect()
        if cuda and torch.cuda.is_available():
            torch.cuda.empty_cache()
