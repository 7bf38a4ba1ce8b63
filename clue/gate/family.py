"""The comparison of one model's family: its results and its base's, task by task, to verdicts.

A pure function of results: ``compare_family`` takes, per task, the model's and the base's
``SideResult`` (built from this run's ``TaskResult`` or read from a stored baseline run) and the
gate, and returns the comparisons with their power, the verdicts (Holm across the family) and,
per comparison, the items where the base did best against the model. No engine, no files.

Before comparing, the two sides must be comparable (``comparability_problems``): the same item
ids, the same data file (sha256), the same protocol (sha256) and the same scorer identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from clue.gate.rules import GateConfig, GatedComparison, Verdict, gate_comparisons
from clue.stats.paired import Comparison, compare_paired
from clue.stats.power import paired_power

if TYPE_CHECKING:
    from clue.pipeline import TaskResult

TOP_DISAGREEMENTS = 5
LINE_CHARS = 120


@dataclass(frozen=True)
class SideResult:
    """One model's scored results on one task, as the gate needs them.

    ``scores``: metric -> item id -> score (0-1); ``clusters``: item id -> cluster; ``outputs``: item
    id -> the output as scored; ``references``: item id -> the gold text (only where the run may
    show source text). ``origin``: "" for this run, else where the results were read from.
    """

    model: str
    task: str
    scores: Mapping[str, Mapping[str, float]]
    clusters: Mapping[str, str]
    data_sha256: str
    protocol_sha256: str
    scorers: str
    n_truncated: int
    outputs: Mapping[str, str] = field(default_factory=dict)
    references: Mapping[str, str] = field(default_factory=dict)
    origin: str = ""

    @property
    def item_ids(self) -> frozenset[str]:
        return frozenset(self.clusters)


def side_from_result(result: TaskResult, *, protocol_sha256: str, scorers: str, include_text: bool = False) -> SideResult:
    """This run's ``result`` as a ``SideResult``; gold texts only when the run may show source text."""
    metrics = sorted({m for item in result.items for m in item.scores})
    references = {req.id: req.reference for req, _ in result.records} if include_text else {}
    return SideResult(
        model=result.model,
        task=result.task,
        scores={m: result.metric_values(m) for m in metrics},
        clusters={i.id: i.cluster or i.id for i in result.items},
        data_sha256=str(result.data.get("sha256", "")),
        protocol_sha256=protocol_sha256,
        scorers=scorers,
        n_truncated=result.n_truncated,
        outputs={i.id: i.output for i in result.items},
        references=references,
    )


@dataclass(frozen=True)
class TaskSides:
    """A task's gated metrics and its two sides (None where that side has no results)."""

    task: str
    metrics: tuple[str, ...]
    model: SideResult | None
    base: SideResult | None


@dataclass(frozen=True)
class Disagreement:
    """An item where the base scored above the model: scores (0-1) and outputs cut to one line."""

    item: str
    model_score: float
    base_score: float
    model_output: str
    base_output: str
    reference: str | None = None


@dataclass(frozen=True)
class FamilyComparison:
    """The outcome for one model and its base: comparisons, verdicts (same order) and disagreements
    per (task, metric)."""

    model: str
    base: str
    gated: tuple[GatedComparison, ...]
    verdicts: tuple[Verdict, ...]
    disagreements: Mapping[tuple[str, str], tuple[Disagreement, ...]]


def one_line(text: str, limit: int = LINE_CHARS) -> str:
    """``text`` on one line (runs of whitespace, newlines included, become one space), cut to
    ``limit`` characters with "..." where it was cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def _ids_problem(model: SideResult, base: SideResult) -> str:
    only_model = sorted(model.item_ids - base.item_ids)
    only_base = sorted(base.item_ids - model.item_ids)
    if not only_model and not only_base:
        return ""
    examples = ", ".join((only_model + only_base)[:3])
    return (f"other items: the model has {len(model.item_ids)}, the base {len(base.item_ids)}; "
            f"{len(only_model)} only in the model's, {len(only_base)} only in the base's (e.g. {examples})")


def comparability_problems(model: SideResult, base: SideResult) -> list[str]:
    """Why ``model`` and ``base`` cannot be compared on their task (empty when they can)."""
    where = f" ({base.origin})" if base.origin else ""
    problems = []
    ids = _ids_problem(model, base)
    if ids:
        problems.append(ids)
    if model.data_sha256 != base.data_sha256:
        problems.append(f"other data: the model's file has sha256 {model.data_sha256[:12]}, "
                        f"the base's{where} {base.data_sha256[:12]}")
    if model.protocol_sha256 != base.protocol_sha256:
        problems.append(f"other protocol: sha256 {model.protocol_sha256[:12]} vs the base's{where} "
                        f"{base.protocol_sha256[:12]}")
    if model.scorers != base.scorers:
        problems.append(f"other scorers: {model.scorers or '(none)'} vs the base's{where} {base.scorers or '(none)'}")
    return problems


def _no_pairs(model: Mapping[str, float], base: Mapping[str, float], confidence: float) -> Comparison:
    return Comparison(0, 0, len(set(model) - set(base)), len(set(base) - set(model)), None, None, None, None, None,
                      1.0, "not compared", confidence, 0, 0, 0)


def _is_binary(values: Sequence[float]) -> bool:
    return all(v in (0.0, 1.0) for v in values)


def disagreements(model: SideResult, base: SideResult, metric: str, top: int = TOP_DISAGREEMENTS) -> tuple[Disagreement, ...]:
    """The ``top`` items where the base scored most above the model (for a 0/1 metric: the base
    right, the model wrong), largest gap first, ties by item id; one item per cluster (LongHealth's
    five prompts of a question show as one)."""
    a, b = model.scores.get(metric, {}), base.scores.get(metric, {})
    gaps = sorted(((b[i] - a[i], i) for i in set(a) & set(b) if b[i] > a[i]), key=lambda t: (-t[0], t[1]))
    seen: set[str] = set()
    distinct = []
    for gap, i in gaps:
        cluster = model.clusters.get(i, i)
        if cluster not in seen:
            seen.add(cluster)
            distinct.append((gap, i))
    gaps = distinct
    return tuple(
        Disagreement(
            item=i, model_score=float(a[i]), base_score=float(b[i]),
            model_output=one_line(model.outputs.get(i, "")), base_output=one_line(base.outputs.get(i, "")),
            reference=one_line(model.references[i]) if i in model.references else None,
        )
        for _, i in gaps[:top]
    )


def compare_family(
    model: str,
    base: str,
    tasks: Sequence[TaskSides],
    gate: GateConfig,
    *,
    seed: int = 1,
    top: int = TOP_DISAGREEMENTS,
) -> FamilyComparison:
    """Compare ``model`` with ``base`` on every gated metric of ``tasks``; Holm across the family.

    A task with a side missing, or a metric missing on a side of comparable sides (e.g. BERTScore
    unavailable here), is left out. Sides that are not comparable give a failing comparison, with
    the reason, for every gated metric either side has. The power of each
    comparable one is computed at the level its test must reach: two-sided alpha / m in
    ``significant`` mode (Holm's first step, m comparable comparisons), 1 - confidence (two one-sided
    halves) in ``noninferior`` mode.
    """
    planned: list[tuple[str, str, SideResult, SideResult, str]] = []
    for t in tasks:
        if t.model is None or t.base is None:
            continue
        problem = "; ".join(comparability_problems(t.model, t.base))
        for metric in t.metrics:
            on_model, on_base = bool(t.model.scores.get(metric)), bool(t.base.scores.get(metric))
            if (on_model and on_base) or (problem and (on_model or on_base)):
                planned.append((t.task, metric, t.model, t.base, problem))
    m = sum(1 for *_, problem in planned if not problem)
    alpha = gate.alpha / max(m, 1) if gate.mode == "significant" else 1.0 - gate.confidence
    gated: list[GatedComparison] = []
    found: dict[tuple[str, str], tuple[Disagreement, ...]] = {}
    for task, metric, ms, bs, problem in planned:
        a, b = ms.scores.get(metric, {}), bs.scores.get(metric, {})
        truncated = (ms.n_truncated, bs.n_truncated)
        if problem:
            gated.append(GatedComparison(task, metric, model, base, _no_pairs(a, b, gate.confidence),
                                         problem=problem, truncated=truncated))
            continue
        comp = compare_paired(a, b, clusters=ms.clusters, confidence=gate.confidence, seed=seed)
        ids = sorted(set(a) & set(b))
        power = paired_power(
            [a[i] - b[i] for i in ids],
            [("c", ms.clusters[i]) if i in ms.clusters else ("i", i) for i in ids],  # as compare_paired labels them
            binary=_is_binary([a[i] for i in ids]) and _is_binary([b[i] for i in ids]),
            alpha=alpha,
            power=gate.power,
            target=gate.power_target,
        )
        gated.append(GatedComparison(task, metric, model, base, comp, power=power, truncated=truncated))
        found[(task, metric)] = disagreements(ms, bs, metric, top)
    verdicts = gate_comparisons(gated, gate)
    return FamilyComparison(model, base, tuple(gated), tuple(verdicts), found)
