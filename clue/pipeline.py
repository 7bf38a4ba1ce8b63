"""One model x task evaluation: data -> requests -> cache/engine -> scores -> estimates.

No pytest here: the plugin and ``python -m clue`` both call these functions.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from clue.cache.scores import ScoreCache, score_key
from clue.cache.store import GenerationCache, generate_with_cache
from clue.data.readers import sha256_file
from clue.engines.base import Engine
from clue.errors import DataFormatError, DataMissingError, DataReadError
from clue.contracts import PromptContext, ScoringContext
from clue.metrics.catalog import metric_info
from clue.prompts.protocol import Protocol, load_protocol
from clue.records import Completion, Example, ItemScore, Request, Sampling
from clue.stats.bootstrap import Estimate, mean_ci
from clue.tasks.base import Task

log = logging.getLogger(__name__)


def demo_data_dir() -> Path:
    """The data shipped in the package: real MeQSum and synthetic look-alikes of the other sets."""
    return Path(str(resources.files("clue.data").joinpath("demo")))


@dataclass(frozen=True)
class TaskData:
    task: Task
    examples: tuple[Example, ...]
    path: Path
    sha256: str
    synthetic: bool

    @property
    def notes(self) -> dict[str, int]:
        """Counts of the examples' notes ("empty_gold", "derived:<field>") for the report."""
        return dict(Counter(note for ex in self.examples for note in ex.notes))


def is_synthetic(task: Task, path: Path, sha256: str) -> bool:
    """True when the file is byte-identical to the synthetic look-alike shipped with clue."""
    shipped = task.data_path(demo_data_dir())
    if not (shipped.parent / "SYNTHETIC.md").is_file() or not shipped.is_file():
        return False
    return sha256_file(shipped) == sha256


def load_task_data(task: Task, data_dir: Path) -> TaskData:
    """Load a task's original file. DataMissingError / DataFormatError name path, line and field.

    Whatever goes wrong while reading the file (permissions, a folder where the file should be, JSON
    nested too deeply, bytes that are not text, memory) becomes a DataFormatError of this task alone
    (a ``DataReadError`` naming the cause), so one bad file never stops the other tasks.
    """
    path = task.data_path(data_dir)
    try:
        if path.is_dir():
            raise DataReadError(path, "it is a folder, not a file; put the original data file there")
        if not path.exists():
            raise DataMissingError(task.display_name, path, task.how_to_obtain)
        sha = sha256_file(path)
        examples = tuple(task.load(path))
    except (DataMissingError, DataFormatError):
        raise
    except RecursionError as exc:
        raise DataReadError(path, "the JSON is nested too deeply to be a data file") from exc
    except MemoryError as exc:
        raise DataReadError(path, "not enough memory to read it (MemoryError)") from exc
    except UnicodeDecodeError as exc:
        raise DataReadError(path, f"not valid UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    except OSError as exc:
        raise DataReadError(path, f"{type(exc).__name__}: {exc.strerror or exc}") from exc
    except Exception as exc:  # a loader's own failure on unexpected content: still this task's alone
        raise DataReadError(path, f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    return TaskData(task, examples, path, sha, is_synthetic(task, path, sha))


@dataclass(frozen=True)
class TaskResult:
    """Everything the report, the gate and the per-item file need about one model x task run."""

    model: str
    task: str
    items: tuple[ItemScore, ...]
    estimates: Mapping[str, Estimate]
    unavailable: Mapping[str, str]
    n_examples: int
    n_truncated: int
    cache: Mapping[str, int]
    durations: Mapping[str, float]
    tokens: Mapping[str, int]
    data: Mapping[str, Any]
    engine_loaded: bool
    records: tuple[tuple[Request, Completion], ...] = field(default=(), repr=False, compare=False)
    scores_cached: bool = False  # every item's scores came from the score cache: no scorer was asked

    @property
    def n(self) -> int:
        return len(self.items)

    def metric_values(self, metric: str) -> dict[str, float]:
        return {i.id: float(i.scores[metric]) for i in self.items if metric in i.scores}

    def means(self) -> dict[str, float]:
        return {m: e.mean for m, e in self.estimates.items()}


def limit_requests(requests: Sequence[Request], limit: int | None) -> list[Request]:
    """Keep the requests of the first ``limit`` examples (all prompts of an example stay together)."""
    if not limit or limit <= 0:
        return list(requests)
    kept: set[str] = set()  # a set: membership in a list made this quadratic (7 s at 40,000 items)
    out: list[Request] = []
    for r in requests:
        key = r.example_id or r.id
        if key not in kept:
            if len(kept) >= limit:
                continue
            kept.add(key)
        out.append(r)
    return out


def cap_new_tokens(requests: Sequence[Request], cap: int | None) -> list[Request]:
    if not cap:
        return list(requests)
    return [replace(r, max_new_tokens=min(r.max_new_tokens, cap)) if r.max_new_tokens > cap else r for r in requests]


def evaluate(
    data: TaskData,
    engine: Engine,
    *,
    model: str,
    sampling: Sampling,
    scoring: ScoringContext | Callable[[], ScoringContext],
    protocol: Protocol | None = None,
    cache: GenerationCache | None = None,
    score_cache: ScoreCache | None = None,
    scorers_id: str = "",
    limit: int | None = None,
    max_new_tokens_cap: int | None = None,
    seed: int = 1,
    chunk_size: int | None = None,
    confidence: float = 0.95,
) -> TaskResult:
    """Run one task on one model under ``protocol`` (default 2024-06); the cache misses go to the engine in
    chunks of ``chunk_size`` requests (default: the engine's choice, else all at once), and finished
    generations are cached as each chunk (or each reported completion) comes back. Outputs are scored
    after the protocol's stop strings and post-processing (``TaskProtocol.finish``); the raw outputs
    stay in ``records``."""
    task = data.task
    protocol = protocol or load_protocol()
    tp = protocol.task(task.name)
    loaded_before = engine.loaded
    t0 = time.perf_counter()
    ctx = PromptContext(
        tokens=engine.tokens, max_context=engine.max_context, seed=seed, model_id=engine.model_id, protocol=protocol
    )
    requests = cap_new_tokens(limit_requests(task.requests(data.examples, ctx), limit), max_new_tokens_cap)
    t1 = time.perf_counter()
    completions, stats = generate_with_cache(
        engine, requests, sampling, cache, chunk_size=chunk_size, namespace=protocol.sha256
    )
    t2 = time.perf_counter()
    finished = [replace(c, text=tp.finish(c.text, engine.model_id)) for c in completions]
    items, scoring_used = score_with_cache(
        task, requests, finished, scoring, score_cache, f"protocol={protocol.sha256};{scorers_id}"
    )
    t3 = time.perf_counter()
    estimates, unavailable = estimate_metrics(task, items, scoring_used, confidence=confidence, seed=seed)
    t4 = time.perf_counter()
    return TaskResult(
        model=model,
        task=task.name,
        items=tuple(items),
        estimates=estimates,
        unavailable=unavailable,
        n_examples=len({r.example_id or r.id for r in requests}),
        n_truncated=sum(r.truncated for r in requests),
        cache={
            "hits": stats.hits,
            "misses": stats.misses,
            "engine_calls": stats.engine_calls,
            "chunk_size": stats.chunk_size,
        },
        durations={
            "prompts_s": t1 - t0,
            "generate_s": t2 - t1,
            "score_s": t3 - t2,
            "statistics_s": t4 - t3,
            "total_s": t4 - t0,
        },
        tokens={
            "prompt": sum(c.prompt_tokens for c in completions),
            "completion": sum(c.completion_tokens for c in completions if not c.cached),
        },
        data={"file": data.path.name, "sha256": data.sha256, "synthetic": data.synthetic, "notes": data.notes},
        engine_loaded=engine.loaded and not loaded_before,
        records=tuple(zip(requests, completions, strict=True)),
        scores_cached=scoring_used is None and bool(items),
    )


def score_with_cache(
    task: Task,
    requests: Sequence[Request],
    completions: Sequence[Completion],
    scoring: ScoringContext | Callable[[], ScoringContext],
    score_cache: ScoreCache | None,
    scorers_id: str,
) -> tuple[list[ItemScore], ScoringContext | None]:
    """The task's item scores; from the score cache when every item is there (then no scorer is
    built: a fully cached re-run loads no encoder), else computed and stored."""
    keys = [score_key(task.name, scorers_id, r, c.text) for r, c in zip(requests, completions, strict=True)]
    if score_cache is not None and keys:
        cached = score_cache.get_many(keys)
        if all(k in cached for k in keys):
            items = [
                ItemScore(id=r.id, cluster=r.cluster or r.id, scores=cached[k], output=c.text)
                for r, c, k in zip(requests, completions, keys, strict=True)
            ]
            return items, None
    context = scoring() if callable(scoring) else scoring
    items = task.score(requests, completions, context)
    if score_cache is not None:
        score_cache.put_many((k, i.scores) for k, i in zip(keys, items, strict=True))
    return items, context


def estimate_metrics(
    task: Task, items: Sequence[ItemScore], scoring: ScoringContext | None, *, confidence: float = 0.95, seed: int = 0
) -> tuple[dict[str, Estimate], dict[str, str]]:
    """Mean and bootstrap CI per metric, clustered by the items' clusters; reasons for absent metrics."""
    estimates: dict[str, Estimate] = {}
    unavailable: dict[str, str] = {}
    clusters = [i.cluster or i.id for i in items]
    for metric in task.metrics:
        values = [i.scores.get(metric) for i in items]
        if items and all(v is not None for v in values):
            repeated = len(set(clusters)) < len(clusters)
            estimates[metric] = mean_ci(
                [float(v) for v in values], clusters=clusters if repeated else None, confidence=confidence, seed=seed
            )
        elif items:
            unavailable[metric] = _unavailable_reason(task, metric, scoring)
        else:
            unavailable[metric] = "no items to score"
    return estimates, unavailable


def _unavailable_reason(task: Task, metric: str, scoring: ScoringContext | None) -> str:
    if scoring is None:
        return "not computed when these outputs were scored (scores read from the score cache)"
    needs = metric_info(metric).needs
    if needs == "umls":
        return scoring.resolve_umls()[1] or "UMLS entity extraction is not available"
    if needs == "bertscore":
        spec = scoring.rules.task(task.name).bertscore if task.name in scoring.rules.tasks else None
        return scoring.resolve_bertscore(spec).unavailable_reason or "BERTScore model not available (see --clue-bertscore-model)"
    return "metric not computed for every item"
