"""A clue run: which models and tasks, their engines, their results, and the report at the end.

The pytest plugin keeps one ``ClueSession`` per pytest session (per xdist worker); nothing here
imports pytest, so the same run can be driven from Python.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from clue.cache.scores import ScoreCache
from clue.cache.store import GenerationCache
from clue.config import RunConfig
from clue.engines.base import Engine
from clue.engines.factory import build_engine
from clue.engines.pool import EnginePool
from clue.errors import ClueError, ConfigError, DataFormatError, DataMissingError
from clue.data.readers import sha256_file
from clue.gate.baseline import Baseline, baseline_problems, baseline_side, load_baseline
from clue.gate.family import SideResult, TaskSides, compare_family, side_from_result
from clue.gate.rules import GateConfig, GatedComparison, Verdict, threshold_verdicts
from clue.models.registry import ModelSpec, Registry, load_registry
from clue.metrics.catalog import needs
from clue.pipeline import TaskData, TaskResult, demo_data_dir, evaluate, load_task_data
from clue.prompts.protocol import load_protocol
from clue.records import Sampling
from clue.report import parts as part_files
from clue.report.atomic import write_json
from clue.report.build import build_report, validate_report
from clue.report.metadata import run_metadata
from clue.scoring import SessionBertScores, build_scoring_context
from clue.contracts import ScoringContext
from clue.tasks.registry import select_tasks
from clue.tasks.base import Task

log = logging.getLogger(__name__)


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + f"-{time.time_ns() % 1_000_000:06d}"


@dataclass(frozen=True)
class Case:
    """One model x task evaluation case."""

    model: str
    task: Task

    @property
    def id(self) -> str:
        return f"{self.model}-{self.task.name}"


@dataclass(frozen=True)
class Pairing:
    """A model gated against its base."""

    model: str
    base: str


class ClueSession:
    def __init__(self, config: RunConfig, run_id: str | None = None, registry: Registry | None = None) -> None:
        self.config = config
        self.run_id = run_id or config.run_id or new_run_id()
        self.run_dir = Path(config.report_dir) / self.run_id
        self.registry = registry or load_registry(config.registry_files, config.pyproject)
        self.tasks: list[Task] = select_tasks(config.tasks)
        self.protocol = load_protocol(config.protocol)
        for task in self.tasks:
            self.protocol.task(task.name)  # every task selected has its section (ConfigError otherwise)
        self.specs: dict[str, ModelSpec] = {}
        self.pairings: list[Pairing] = []
        for name in config.models:
            spec = self.registry.resolve(name, base_override=config.base)
            base = spec.base
            if base and base != spec.alias:
                base_spec = self.registry.resolve(base)
                self.specs.setdefault(base_spec.alias, base_spec)
            self.specs.setdefault(spec.alias, spec)
            if base:
                self.pairings.append(Pairing(spec.alias, self.registry.resolve(base).alias))
        self.sampling = Sampling(seed=config.seed)
        self.gate = GateConfig(
            mode=config.gate_mode, alpha=config.alpha, margin=config.margin or 0.0,
            require_power=config.require_power, power_tolerance=config.power_tolerance,
        )
        self.pool = EnginePool(self._build_engine)
        self.results: dict[tuple[str, str], TaskResult] = {}
        self._data: dict[str, TaskData | ClueError] = {}
        self._scoring: ScoringContext | None = None
        self._bertscores = SessionBertScores(config.bertscore_model, config.bertscore_layers)
        self._cache: GenerationCache | None = None
        self._score_cache: ScoreCache | None = None
        self._verdicts: dict[str, list[Verdict]] = {}
        self._comparison_rows: dict[str, list[dict[str, Any]]] = {}
        self._parts: dict[tuple[str, str], dict[str, Any]] = {}
        self.baseline: Baseline | None = None
        if config.baseline is not None:
            self.baseline = load_baseline(config.baseline)
            self._check_baseline(self.baseline)
        self.started = dt.datetime.now(dt.UTC)
        self._t0 = time.perf_counter()

    def _check_baseline(self, baseline: Baseline) -> None:
        """Refuse (ConfigError, every reason) a baseline made under another protocol, on other data
        or with other scorers than this run."""
        if not self.from_baseline:
            raise ConfigError(
                f"--clue-baseline {self.config.baseline}: no model of this run is gated against a base to read from it "
                "(give --base, or a model whose registry entry has a base)"
            )
        data = {}
        for task in self.tasks:
            path = task.data_path(self.data_dir)
            data[task.name] = sha256_file(path) if path.is_file() else None
        scorers = {task.name: self.scorers_id(task) for task in self.tasks}
        problems = []
        for base in sorted(self.from_baseline):
            problems += baseline_problems(baseline, base, protocol_sha256=self.protocol.sha256, data_sha256=data, scorers=scorers)
        if problems:
            raise ConfigError("refusing the stored baseline:\n  " + "\n  ".join(dict.fromkeys(problems)))

    @property
    def from_baseline(self) -> frozenset[str]:
        """The base models whose results come from the stored baseline (they are not run)."""
        if self.config.baseline is None:
            return frozenset()
        return frozenset(p.base for p in self.pairings if p.base != p.model and p.base not in self.config.models)

    # -- what runs ------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return Path(self.config.data_dir) if self.config.data_dir else demo_data_dir()

    def cases(self) -> list[Case]:
        """Model x task cases, each model's cases together, a base before the models gated on it."""
        served = self.from_baseline
        return [Case(alias, task) for alias in self.specs if alias not in served for task in self.tasks]

    def regression_cases(self) -> list[Case]:
        return [Case(p.model, task) for p in self.pairings for task in self.tasks]

    def family(self, alias: str) -> str:
        """The xdist group of a model: the model that is gated (a base joins its fine-tune)."""
        for p in self.pairings:
            if alias in (p.model, p.base):
                return p.model
        return alias

    # -- resources ------------------------------------------------------------------------------
    def _build_engine(self, alias: str) -> Engine:
        return build_engine(self.specs[alias], self.config)

    @property
    def cache(self) -> GenerationCache | None:
        if self._cache is None and self.config.use_cache:
            self._cache = GenerationCache(self.config.generation_cache_path)
        return self._cache

    @property
    def score_cache(self) -> ScoreCache | None:
        if self._score_cache is None and self.config.use_cache:
            self._score_cache = ScoreCache(self.config.cache_dir / "scores.sqlite")
        return self._score_cache

    def scorers_id(self, task: Task) -> str:
        """The identity of the scorers ``task`` uses (resolved encoder and layer, fallback), for the score
        cache key and the report, resolved without loading them."""
        parts = []
        if needs(task.metrics, "bertscore"):
            parts.append(f"bertscore={self._bertscores.identity(self.protocol.task(task.name).bertscore)}")
        if needs(task.metrics, "umls"):
            parts.append(f"umls={importlib.util.find_spec('scispacy') is not None}")
        return ";".join(parts)

    @property
    def scoring(self) -> ScoringContext:
        """The session's scorers; cheap to build, each encoder loads when a task first needs it."""
        if self._scoring is None:
            self._scoring = build_scoring_context(self.config, self.protocol, self._bertscores)
        return self._scoring

    def task_data(self, task: Task) -> TaskData:
        """Load each data file once per session; remember a failure so it is reported once per case."""
        if task.data_file not in self._data:
            try:
                self._data[task.data_file] = load_task_data(task, self.data_dir)
            except (DataMissingError, DataFormatError) as exc:
                self._data[task.data_file] = exc
        got = self._data[task.data_file]
        if isinstance(got, ClueError):
            raise got
        # LongHealth's three tasks share one file and one load
        return got if got.task is task else TaskData(task, got.examples, got.path, got.sha256, got.synthetic)

    # -- the work -------------------------------------------------------------------------------
    def evaluate(self, case: Case) -> TaskResult:
        key = (case.model, case.task.name)
        if key in self.results:
            return self.results[key]
        try:
            data = self.task_data(case.task)
        except DataMissingError as exc:
            part_files.write_failed(self.run_dir, case.model, case.task, "skipped", str(exc))
            raise
        except DataFormatError as exc:
            part_files.write_failed(self.run_dir, case.model, case.task, "error", str(exc))
            raise
        spec = self.specs[case.model]
        engine = self.pool.get(case.model)
        check_allowed = getattr(engine, "check_allowed", None)
        if check_allowed is not None:  # remote servers may not receive credentialed data (PhysioNet DUA)
            check_allowed(case.task)
        result = evaluate(
            data,
            engine,
            model=case.model,
            sampling=self.sampling,
            scoring=lambda: self.scoring,
            protocol=self.protocol,
            cache=self.cache,
            score_cache=self.score_cache,
            scorers_id=self.scorers_id(case.task),
            limit=self.config.limit or spec.options.get("limit"),
            max_new_tokens_cap=self.config.max_new_tokens or spec.options.get("max_new_tokens"),
            seed=self.config.seed,
            batch_size=self.config.batch_size,
        )
        self.results[key] = result
        self._parts[key] = part_files.write_result(
            self.run_dir, result, case.task, self.config.include_text, scorers=self.scorers_id(case.task),
            n_shots=self.protocol.task(case.task.name).shots,
        )
        return result

    def task_part(self, case: Case) -> dict[str, Any] | None:
        """The part written for ``case`` (the report's numbers), once evaluated."""
        return self._parts.get((case.model, case.task.name))

    def thresholds(self, case: Case) -> list[Verdict]:
        result = self.evaluate(case)
        limits = self.specs[case.model].thresholds.get(case.task.name, {})
        return threshold_verdicts(case.task.name, case.model, result.estimates, limits)

    def regression(self, case: Case) -> list[Verdict]:
        """Verdicts of ``case.model`` against its base on ``case.task``; Holm across the model's family."""
        if case.model not in self._verdicts:
            self._compare_family(case.model)
        return [v for v in self._verdicts[case.model] if v.task == case.task.name]

    def gate_for(self, alias: str) -> GateConfig:
        """The gate of one model: the run's, with the registry entry's margin (``options.margin``, in
        points) where no --clue-margin was given."""
        margin = self.specs[alias].options.get("margin") if alias in self.specs else None
        if self.config.margin is not None or margin is None:
            return self.gate
        return replace(self.gate, margin=float(margin) / 100.0)

    def base_of(self, alias: str) -> str | None:
        return next((p.base for p in self.pairings if p.model == alias), None)

    def regression_rows(self, case: Case) -> list[dict[str, Any]]:
        """The comparison rows of ``case`` as the report holds them (percent), once compared."""
        return [r for r in self._comparison_rows.get(case.model, []) if r["task"] == case.task.name]

    def _side(self, alias: str, task: Task) -> SideResult | None:
        if self.baseline is not None and alias in self.from_baseline:
            return baseline_side(self.baseline, alias, task.name, task.gate_metrics)
        result = self._result_or_none(alias, task)
        if result is None:
            return None
        return side_from_result(
            result, protocol_sha256=self.protocol.sha256, scorers=self.scorers_id(task),
            include_text=self.config.include_text,
        )

    def _compare_family(self, alias: str) -> None:
        base = self.base_of(alias)
        sides = [
            TaskSides(task.name, tuple(task.gate_metrics), self._side(alias, task), self._side(base, task) if base else None)
            for task in self.tasks
        ]
        family = compare_family(alias, base or alias, sides, self.gate_for(alias), seed=self.config.seed)
        rows = [
            _comparison_row(g, v, family.disagreements.get((g.task, g.metric), ()))
            for g, v in zip(family.gated, family.verdicts, strict=True)
        ]
        self._verdicts[alias] = list(family.verdicts)
        self._comparison_rows[alias] = rows
        write_json(
            self.run_dir / "parts" / f"gate__{part_files.safe_name(alias)}.json",
            {
                "model": alias,
                "base": base,
                "baseline": self.baseline.record([base]) if self.baseline is not None and base in self.from_baseline else None,
                "comparisons": rows,
                "verdicts": [_verdict_row(v) for v in family.verdicts],
            },
        )

    def _result_or_none(self, alias: str | None, task: Task) -> TaskResult | None:
        if alias is None:
            return None
        try:
            return self.evaluate(Case(alias, task))
        except ClueError:
            return None

    # -- the report -----------------------------------------------------------------------------
    def close(self) -> None:
        self.pool.close()

    def model_rows(self) -> dict[str, dict[str, Any]]:
        rows = {}
        for alias, spec in self.specs.items():
            if self.baseline is not None and alias in self.from_baseline:
                stored = dict(self.baseline.models.get(alias, {}))
                rows[alias] = {**stored, "alias": alias, "baseline_run": self.baseline.run_id}
                continue
            rows[alias] = {
                "alias": alias,
                "weights": spec.weights,
                "revision": spec.revision,
                "base": self.base_of(alias),
                "engine": self.config.engine if self.config.engine and spec.engine != "oracle" else spec.engine,
                "chat": spec.chat,
                "published_name": spec.published,
            }
        return rows

    def settings_row(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "sampling": asdict(self.sampling),
            "data_dir": str(self.data_dir),
            "tasks": [t.name for t in self.tasks],
            "limit": cfg.limit,
            "max_new_tokens_cap": cfg.max_new_tokens,
            "batch_size": cfg.batch_size,
            "engine_override": cfg.engine,
            "cache": {"enabled": cfg.use_cache},
            "include_text": cfg.include_text,
            "gate": {
                "mode": cfg.gate_mode,
                "alpha": cfg.alpha,
                "margin": cfg.margin,
                "margins": {p.model: self.gate_for(p.model).margin for p in self.pairings},
                "require_power": self.gate.require_power,
                "power_tolerance": self.gate.power_tolerance,
                "power": self.gate.power,
            },
            "protocol": self.protocol.summary(),
            "baseline": None if self.baseline is None else self.baseline.record(self.from_baseline),
        }


def assemble_report(
    run_dir: Path,
    *,
    run_id: str,
    started: dt.datetime,
    duration_s: float,
    seed: int,
    settings: dict[str, Any],
    models: dict[str, dict[str, Any]],
    tasks: Sequence[Task],
    exit_status: int | None = None,
    workers: int = 0,
) -> dict[str, Any]:
    """Read the parts of a run (from every worker), build, validate and write report.json."""
    task_parts = [p for p in part_files.read_parts(run_dir) if "task" in p and "verdicts" not in p]
    gates = part_files.read_parts(run_dir, prefix="gate__")
    generation = sum(p.get("durations", {}).get("generate_s", 0.0) for p in task_parts)
    run = {
        "id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "duration_s": round(duration_s, 3),
        "harness_overhead_s": round(max(duration_s - generation, 0.0), 3),
        "generation_s": round(generation, 3),
        "seed": seed,
        "exit_status": exit_status,
        "workers": workers,
        **run_metadata(),
    }
    report = build_report(
        run=run,
        settings=settings,
        models=models,
        parts=task_parts,
        tasks=tasks,
        comparisons=[c for g in gates for c in g["comparisons"]],
        verdicts=[v for g in gates for v in g["verdicts"]],
    )
    try:
        validate_report(report)
    except Exception:  # never lose a finished run over a schema slip; the tests hold the schema
        log.exception("report.json does not follow its schema; writing it anyway")
    write_json(run_dir / "report.json", report)
    return report


def _pct(x: float | None) -> float | None:
    return None if x is None or x != x else round(x * 100, 4)


def _comparison_row(g: GatedComparison, v: Verdict, disagreements: Sequence[Any] = ()) -> dict[str, Any]:
    """One comparison as the report holds it: numbers in percent (counts, p-values as they are)."""
    row: dict[str, Any] = {"model": g.model, "base": g.base, "task": g.task, "metric": g.metric}
    row.update({k: (_pct(val) if k in _PCT else val) for k, val in asdict(g.comparison).items()})
    power = g.power
    row.update({
        "p_value": None if g.problem else row["p_value"],
        "p_adjusted": v.p_adjusted,
        "status": v.status,
        "mde": None if power is None else _pct(power.mde),
        "n_needed": None if power is None else power.n_needed,
        "power_target": None if power is None else _pct(power.target),
        "power": None if power is None else power.power,
        "power_alpha": None if power is None else power.alpha,
        "design_effect": None if power is None else round(power.design_effect, 4),
        "power_basis": None if power is None else power.basis,
        "n_truncated_model": None if g.truncated is None else g.truncated[0],
        "n_truncated_base": None if g.truncated is None else g.truncated[1],
        "problem": g.problem or None,
        "disagreements": [
            {"id": d.item, "model_score": _pct(d.model_score), "base_score": _pct(d.base_score),
             "model_output": d.model_output, "base_output": d.base_output,
             **({"reference": d.reference} if d.reference is not None else {})}
            for d in disagreements
        ],
    })
    return row


_PCT = {"model_mean", "base_mean", "diff", "ci_low", "ci_high"}


def _verdict_row(v: Verdict) -> dict[str, Any]:
    return asdict(v)
