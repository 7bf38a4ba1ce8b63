"""The pytest plugin: options, the ``clue`` marker, model x task cases, session fixtures, the report.

It only wires the pipeline together (see clue/session.py). Registered under the ``pytest11`` entry
point; the cases themselves live in clue/pytest_cases.py, which is added to the collection when
``--model`` is given.

Every selected case's ending is recorded from pytest's own reports (``pytest_runtest_logreport``,
on the controller, so xdist workers' cases and crashes are recorded too) into the run's parts; the
report's outcome (PASS / FAIL / INCOMPLETE, clue/report/outcome.py) is decided from them, every
check's verdict and pytest's exit status, and the process exits non-zero whenever it is not PASS.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from clue.config import ENGINES, RunConfig, pyproject_settings
from clue.errors import (
    ClueError,
    ConfigError,
    DataFormatError,
    DataMissingError,
    DataReadError,
    DataUseRefused,
    EngineError,
)

if TYPE_CHECKING:  # the session pulls in numpy, the metrics and the tasks: import it only for a clue run
    from clue.planning import Case
    from clue.session import ClueSession

log = logging.getLogger(__name__)

SESSION_KEY = pytest.StashKey["ClueSession"]()
RECORDER_KEY = pytest.StashKey["CaseRecorder"]()
REPORT_KEY = pytest.StashKey[Path]()  # the run folder, once its report is written
OUTCOME_KEY = pytest.StashKey[dict[str, Any]]()  # the run's outcome, for the terminal summary
CASES_MODULE = Path(__file__).with_name("pytest_cases.py")
RUN_ID_INPUT = "clue_run_id"
GPUS_INPUT = "clue_cuda_visible_devices"
CASE_FUNCTIONS = {"test_task": "task", "test_regression": "regression"}
MESSAGE_LIMIT = 2000  # characters of a case's message kept in the report


class ClueWarning(pytest.PytestWarning):
    """Something the run works around (a read-only cache) and the user should know about."""


class CaseFailed(pytest.fail.Exception):
    """A case's failure with what kind of failure it is (``category``, see clue/report/outcome.py)."""

    __module__ = "builtins"  # as pytest's own outcomes: "CaseFailed: message" in the short summary

    def __init__(self, message: str, category: str) -> None:
        super().__init__(message, pytrace=False)
        self.category = category


class CaseSkipped(pytest.skip.Exception):
    """A case's skip with why it was skipped (``category``: data_missing, no_comparison, no_base)."""

    __module__ = "builtins"

    def __init__(self, message: str, category: str) -> None:
        super().__init__(message)
        self.category = category


_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}  # a later phase never hides a worse ending


class CaseRecorder:
    """The controller's record of the selected clue cases and how each ended, written to the run's
    parts as it happens (``parts/cases/``). Registered as a plugin object, one per pytest session."""

    def __init__(self, session: ClueSession) -> None:
        self.session = session
        self.expected: dict[str, dict[str, str]] = {}  # nodeid -> nodeid, kind, model, task
        self.recorded: dict[str, dict[str, Any]] = {}
        self.stop_reason: str | None = None

    def expect(self, ref: dict[str, str]) -> None:
        self.expected.setdefault(ref["nodeid"], ref)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """xdist: the selected cases, from what a worker collected (the controller collects nothing)."""
        for nodeid in ids:
            if nodeid not in self.expected and (ref := _ref_from_nodeid(self.session, nodeid)) is not None:
                self.expect(ref)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        text = excinfo.exconly().strip()
        self.stop_reason = text.splitlines()[-1][:200] if text else "KeyboardInterrupt"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from clue.report import parts as part_files

        ref = getattr(report, "clue_case", None) or self.expected.get(report.nodeid)
        if ref is None:
            ref = _ref_from_nodeid(self.session, report.nodeid)
        if ref is None:
            return  # not a clue case
        self.expect(dict(ref))
        if report.when == "setup" and report.passed:
            return  # the call decides
        crashed = report.when not in ("setup", "call", "teardown")  # xdist: a worker died in the case
        if report.passed:
            outcome, category = "passed", "ok"
        elif report.skipped:
            outcome, category = "skipped", "skipped"
        elif report.when == "call":
            outcome, category = "failed", "error"
        else:
            outcome, category = "error", "crashed" if crashed else "error"
        category = getattr(report, "clue_category", None) or category
        message = getattr(report, "clue_message", None) or _short_message(report)
        previous = self.recorded.get(report.nodeid)
        if previous is not None and _RANK[previous["outcome"]] >= _RANK[outcome]:
            previous["duration_s"] = round(previous["duration_s"] + report.duration, 4)
            record = previous
        else:
            record = {
                **dict(ref),
                "outcome": outcome,
                "category": category,
                "message": message[:MESSAGE_LIMIT],
                "duration_s": round(report.duration + (previous or {}).get("duration_s", 0.0), 4),
            }
        self.recorded[report.nodeid] = record
        part_files.write_case(self.session.run_dir, record)


def _short_message(report: pytest.TestReport) -> str:
    """The last line of what pytest reports (the exception), never a traceback with source or locals."""
    if report.passed:
        return ""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    text = str(longrepr or "").strip()
    return text.splitlines()[-1] if text else report.outcome


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("clue", "CLUE clinical benchmark")
    add = group.addoption
    add("--model", action="append", default=[], metavar="ALIAS|PATH",
        help="model to evaluate (registry alias or local checkpoint folder); repeatable")
    add("--base", default=None, metavar="ALIAS|PATH", help="base model to gate against (overrides the registry)")
    add("--task", action="append", default=[], metavar="NAME",
        help="task or group to run: a CLUE task (mednli, meqsum, problemsummary, medisumcode, medisumqa, "
             "longhealth_task1..3, group longhealth), medqa, medmcqa, pubmedqa, jama, nejm, or a suite: clue "
             "(the default: the six CLUE tasks), mcqa, cases, all; repeatable")
    add("--clue-data", default=None, metavar="DIR",
        help="folder with the original data files (default: $CLUE_DATA, else the demo data shipped with clue)")
    add("--engine", default=None, choices=ENGINES, help="engine for every model (default: the registry's)")
    add("--limit", type=int, default=None, metavar="N", help="score only the first N items of each task")
    add("--clue-strict", action="store_true", help="fail (do not skip) tasks whose data is missing")
    add("--clue-allow-skips", action="store_true",
        help="a run whose only blemish is cases skipped for missing data passes (default: it fails)")
    add("--clue-seed", type=int, default=1, help="seed of sampling, shuffles and bootstrap (default 1)")
    add("--clue-batch-size", type=int, default=None, metavar="N",
        help="hf engine: rows per forward batch at most (default: as many as the token budget allows, up to 256)")
    add("--clue-token-budget", type=int, default=None, metavar="TOKENS",
        help="hf engine: tokens per forward batch, rows x (longest prompt + new tokens) (default: fitted to the "
             "GPU's free memory; 4096 on CPU; 0: no token limit)")
    add("--clue-chunk-size", type=int, default=None, metavar="N",
        help="requests per engine call; finished chunks are cached (default: vllm 2048, other engines a whole task)")
    add("--clue-max-new-tokens", type=int, default=None, metavar="N", help="cap every task's max new tokens")
    add("--clue-report-dir", default="reports", metavar="DIR", help="where reports/<run-id>/ goes")
    add("--clue-run-id", default=None,
        help="run id, a folder name: letters, digits, '.', '_', '-' (default: a UTC timestamp)")
    add("--clue-overwrite", action="store_true", help="replace the report of an earlier run with the same --clue-run-id")
    add("--clue-no-cache", action="store_true", help="neither read nor write the generation cache")
    add("--clue-cache-dir", default=None, metavar="DIR", help="cache folder (default $CLUE_CACHE_DIR or ~/.cache/clue)")
    add("--clue-include-text", action="store_true",
        help="write prompts and references into the per-item files (MIMIC-derived text may not be redistributed)")
    add("--clue-bertscore-model", default=None, metavar="PATH|ID",
        help="BERTScore encoder (default: SciBERT as in CLUE, when available locally)")
    add("--clue-bertscore-layers", type=int, default=None, help="BERTScore layer (needed for local folders)")
    add("--clue-bertscore-threads", type=int, default=None, metavar="N",
        help="CPU threads for BERTScore (default: half the CPUs, 1 to 4)")
    add("--clue-registry", action="append", default=[], metavar="TOML", help="extra model registry file; repeatable")
    add("--clue-gate-mode", default="significant", choices=("significant", "noninferior"),
        help="regression rule: fail on a significant drop (default) or unless non-inferior")
    add("--clue-alpha", type=float, default=0.05, help="significance level of the gate (default 0.05)")
    add("--clue-margin", type=float, default=None,
        help="tolerated drop, in percentage points (default: the registry entry's, else 0)")
    add("--clue-power-tolerance", type=float, default=5.0, metavar="POINTS",
        help="a comparison that is not significant and whose minimum detectable effect exceeds margin + this "
             "is inconclusive (default 5 points)")
    add("--clue-require-power", action="store_true",
        help="fail inconclusive (underpowered) regression comparisons instead of passing them with a warning")
    add("--clue-baseline", default=None, metavar="RUN_DIR|REPORT",
        help="gate against the base results stored in a previous run (its folder or report.json); the base is not run")
    add("--api-base", default=None, metavar="URL", help="OpenAI-compatible server for --engine openai")
    add("--clue-request-deadline", type=float, default=None, metavar="SECONDS",
        help="--engine openai: give up on a request after this long, retries included (default 180)")
    add("--clue-allow-remote-credentialed", action="store_true",
        help="allow sending credentialed (PhysioNet) task data to a non-loopback server")
    add("--clue-trust-remote-code", action="store_true", help="let transformers/vLLM run model code from the hub")
    add("--clue-processes", type=int, default=1, help="processes for ROUGE/ICD scoring of large runs")
    add("--clue-dtype", default=None, help="model dtype (auto, float32, bfloat16, float16)")
    add("--clue-tensor-parallel-size", type=int, default=None, help="vLLM tensor parallel size")
    add("--clue-pipeline-parallel-size", type=int, default=None, help="vLLM pipeline parallel size")
    add("--clue-distributed-backend", default=None, choices=("mp", "ray"), help="vLLM executor (ray for multi-node)")
    add("--clue-max-model-len", type=int, default=None, help="vLLM max_model_len / context limit")
    add("--clue-gpu-memory-utilization", type=float, default=None, help="vLLM gpu_memory_utilization")
    add("--clue-protocol", default=None, choices=("2024-06", "2025-01"),
        help="CLUE reference protocol: prompts, rules and scorers (default 2024-06, behind the published numbers)")
    add("--clue-protocol-file", default=None, metavar="TOML",
        help="run your own protocol file (same schema as clue/prompts/protocols/*.toml)")
    add("--clue-replay", action="append", default=[], metavar="FILE",
        help="outputs to score with --engine replay (clue per-item JSONL or reference predictions.json)")
    add("--clue-dry-run", action="store_true",
        help="list the run (models, the base each is gated against and where the pairing comes from, the "
             "published differences, tasks and data files) and run nothing")


def _config(config: pytest.Config) -> RunConfig:
    opt = config.getoption
    # the invocation folder's pyproject: an option's folder value can move pytest's rootdir elsewhere
    pyproject = Path(config.invocation_params.dir) / "pyproject.toml"
    table = pyproject_settings(pyproject)
    data = opt("--clue-data") or os.environ.get("CLUE_DATA") or table.get("data")
    cache_dir = opt("--clue-cache-dir") or table.get("cache_dir")
    engine_options = {
        "dtype": opt("--clue-dtype"),
        "tensor_parallel_size": opt("--clue-tensor-parallel-size"),
        "pipeline_parallel_size": opt("--clue-pipeline-parallel-size"),
        "distributed_executor_backend": opt("--clue-distributed-backend"),
        "max_model_len": opt("--clue-max-model-len"),
        "gpu_memory_utilization": opt("--clue-gpu-memory-utilization"),
        "replay": tuple(opt("--clue-replay")),
        "deadline": opt("--clue-request-deadline"),
        "token_budget": opt("--clue-token-budget"),
    }
    kwargs: dict[str, Any] = {}
    if cache_dir:
        kwargs["cache_dir"] = Path(cache_dir)
    protocol_file = opt("--clue-protocol-file")
    if protocol_file and opt("--clue-protocol"):
        raise pytest.UsageError("give --clue-protocol or --clue-protocol-file, not both")
    protocol = Path(protocol_file) if protocol_file else opt("--clue-protocol") or table.get("protocol")
    if protocol:
        kwargs["protocol"] = protocol
    return RunConfig(
        models=tuple(opt("--model")),
        base=opt("--base"),
        tasks=tuple(opt("--task")),
        data_dir=Path(data) if data else None,
        engine=opt("--engine"),
        limit=opt("--limit"),
        strict=opt("--clue-strict"),
        seed=opt("--clue-seed"),
        batch_size=opt("--clue-batch-size"),
        chunk_size=opt("--clue-chunk-size"),
        report_dir=Path(opt("--clue-report-dir")),
        use_cache=not opt("--clue-no-cache"),
        include_text=opt("--clue-include-text"),
        bertscore_model=opt("--clue-bertscore-model"),
        bertscore_layers=opt("--clue-bertscore-layers"),
        bertscore_threads=opt("--clue-bertscore-threads"),
        registry_files=tuple(Path(p) for p in opt("--clue-registry")),
        pyproject=pyproject if pyproject.is_file() else None,
        gate_mode=opt("--clue-gate-mode"),
        alpha=opt("--clue-alpha"),
        margin=None if opt("--clue-margin") is None else opt("--clue-margin") / 100.0,
        require_power=opt("--clue-require-power"),
        power_tolerance=opt("--clue-power-tolerance") / 100.0,
        baseline=Path(opt("--clue-baseline")) if opt("--clue-baseline") else None,
        api_base=opt("--api-base"),
        allow_remote_credentialed=opt("--clue-allow-remote-credentialed"),
        trust_remote_code=opt("--clue-trust-remote-code"),
        max_new_tokens=opt("--clue-max-new-tokens"),
        processes=opt("--clue-processes"),
        engine_options={k: v for k, v in engine_options.items() if v not in (None, ())},
        **kwargs,
    )


def _writes_nothing(config: pytest.Config) -> bool:
    """--collect-only, --help, --version, --clue-dry-run: no run folder, no report."""
    opt = config.option
    flags = ("collectonly", "help", "version", "clue_dry_run")
    return any(bool(getattr(opt, flag, False)) for flag in flags)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "clue: a CLUE model x task evaluation case")
    if not config.getoption("--model"):
        return
    from clue.report.rundir import check_run_id, prepare_run_dir
    from clue.session import ClueSession, new_run_id

    workerinput = getattr(config, "workerinput", None)
    if workerinput and workerinput.get(GPUS_INPUT):
        os.environ["CUDA_VISIBLE_DEVICES"] = workerinput[GPUS_INPUT]  # before anything initialises CUDA
    run_id = (workerinput or {}).get(RUN_ID_INPUT) or config.getoption("--clue-run-id") or new_run_id()
    notes: tuple[str, ...] = ()
    try:  # every setting is checked here: one usage error (exit 4) naming the option, no traceback
        check_run_id(run_id)
        session = ClueSession(_config(config), run_id=run_id)
        if workerinput is None and not _writes_nothing(config):
            prepare_run_dir(session.config.report_dir, run_id, overwrite=config.getoption("--clue-overwrite"))
            notes = session.open_caches()
    except ClueError as exc:
        raise pytest.UsageError(str(exc)) from exc
    for note in notes:
        config.issue_config_time_warning(ClueWarning(f"clue: {note}"), stacklevel=2)
    config.stash[SESSION_KEY] = session
    if workerinput is None and not _writes_nothing(config):
        recorder = CaseRecorder(session)
        config.stash[RECORDER_KEY] = recorder
        config.pluginmanager.register(recorder, "clue-case-recorder")
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = []  # `pytest -m clue --model X` without paths: collect the clue cases only
    config.args.append(str(CASES_MODULE))
    # under xdist, keep a model and its base on one worker (their cases share engines and results)
    if workerinput is None and getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand each worker the run id (all write into one run folder) and its GPUs."""
    from clue.engines.devices import visible_gpus, worker_gpus

    session = node.config.stash.get(SESSION_KEY, None)
    if session is None:
        return
    node.workerinput[RUN_ID_INPUT] = session.run_id
    n_workers = int(getattr(node.config.option, "numprocesses", 0) or 0)
    index = int("".join(c for c in str(node.gateway.id) if c.isdigit()) or 0)
    gpus = worker_gpus(visible_gpus(), n_workers, index)
    if gpus:
        node.workerinput[GPUS_INPUT] = ",".join(gpus)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "clue_case" not in metafunc.fixturenames:
        return
    session = metafunc.config.stash.get(SESSION_KEY, None)
    if session is None:
        metafunc.parametrize("clue_case", [pytest.param(None, marks=pytest.mark.skip(reason="no --model given"))])
        return
    cases = session.regression_cases() if metafunc.function.__name__ == "test_regression" else session.cases()
    metafunc.parametrize(
        "clue_case",
        [
            pytest.param(c, id=c.id, marks=[pytest.mark.clue, pytest.mark.xdist_group(session.family(c.model))])
            for c in cases
        ],
    )


def _item_case(item: pytest.Item) -> tuple[str, Case] | None:
    """(kind, case) of a clue case item, None for any other test."""
    from clue.planning import Case

    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("clue_case") if callspec is not None else None
    kind = CASE_FUNCTIONS.get(getattr(item, "originalname", ""))
    if not isinstance(case, Case) or kind is None:
        return None
    return kind, case


def _case_ref(nodeid: str, kind: str, model: str, task: str) -> dict[str, str]:
    return {"nodeid": nodeid, "kind": kind, "model": model, "task": task}


def _ref_from_nodeid(session: ClueSession, nodeid: str) -> dict[str, str] | None:
    """The case a node id names, from the id clue gave it (the controller of an xdist run has no items)."""
    name = nodeid.rsplit("::", 1)[-1]
    function, _, param = name.partition("[")
    kind = CASE_FUNCTIONS.get(function)
    if kind is None or not param.endswith("]"):
        return None
    cases = session.regression_cases() if kind == "regression" else session.cases()
    case = next((c for c in cases if c.id == param[:-1]), None)
    return None if case is None else _case_ref(nodeid, kind, case.model, case.task.name)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The final selection (after -k, -m, --lf, --deselect): the session evaluates only what it needs."""
    clue = session.config.stash.get(SESSION_KEY, None)
    if clue is None:
        return
    selected = [(item.nodeid, *found) for item in session.items if (found := _item_case(item)) is not None]
    clue.select(
        task_cases=[case for _, kind, case in selected if kind == "task"],
        regression_cases=[case for _, kind, case in selected if kind == "regression"],
    )
    recorder = session.config.stash.get(RECORDER_KEY, None)
    if recorder is not None:
        for nodeid, kind, case in selected:
            recorder.expect(_case_ref(nodeid, kind, case.model, case.task.name))


def _category(exc: BaseException) -> tuple[str, str]:
    """What kind of ending an exception of a case is, and a short message (no traceback, no locals)."""
    if isinstance(exc, CaseFailed | CaseSkipped):
        return exc.category, str(exc.msg or "")
    if isinstance(exc, pytest.skip.Exception):
        return "skipped", str(exc.msg or "")
    if isinstance(exc, pytest.fail.Exception):
        return "error", str(exc.msg or "")
    return "error", f"{type(exc).__name__}: {exc}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Tag a clue case's report with its case and, when it did not pass, the kind of ending; plain
    attributes, so they travel from xdist workers to the controller with the report."""
    report = yield
    found = _item_case(item)
    if found is not None:
        kind, case = found
        report.clue_case = _case_ref(item.nodeid, kind, case.model, case.task.name)
        if call.excinfo is not None:
            category, message = _category(call.excinfo.value)
            report.clue_category = category
            report.clue_message = message[:MESSAGE_LIMIT]
    return report


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order clue cases so each model's cases run together, bases first, regressions after their model."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        return
    from clue.planning import Case

    models = list(session.specs)
    if config.getoption("--clue-dry-run"):
        for item in items:
            if isinstance(getattr(item, "callspec", None) and item.callspec.params.get("clue_case"), Case):
                item.add_marker(pytest.mark.skip(reason="--clue-dry-run: nothing is run"))

    def key(item: pytest.Item) -> tuple[int, int, int]:
        case = getattr(item, "callspec", None) and item.callspec.params.get("clue_case")
        if not isinstance(case, Case):
            return (-1, 0, 0)
        family_rank = models.index(session.family(case.model))
        is_regression = item.name.startswith("test_regression")
        model_rank = models.index(case.model)
        return (family_rank, int(is_regression), model_rank)

    items.sort(key=key)  # stable: the tasks keep their order within a model


@pytest.fixture(scope="session")
def clue_session(request: pytest.FixtureRequest) -> "ClueSession":
    session = request.config.stash.get(SESSION_KEY, None)
    if session is None:
        pytest.skip("no --model given")
    return session


@pytest.fixture(scope="session")
def clue_engines(clue_session: "ClueSession"):
    """The session's engine pool: each model's engine is built once and loaded on first use."""
    yield clue_session.pool
    clue_session.close()


def _fail_for(exc: ClueError, case: Case, strict: bool) -> NoReturn:
    """The case's ending for an error it met: a skip for missing data (a failure with --clue-strict),
    else a failure without traceback whose category says what went wrong."""
    name = case.task.display_name
    if isinstance(exc, DataMissingError):
        if strict:
            raise CaseFailed(f"{exc} (--clue-strict)", "data_missing")
        raise CaseSkipped(str(exc), "data_missing")
    if isinstance(exc, DataReadError):
        raise CaseFailed(f"{name}: unreadable data: {exc}", "data_error")
    if isinstance(exc, DataFormatError):
        raise CaseFailed(f"{name}: malformed data: {exc}", "data_error")
    if isinstance(exc, DataUseRefused):
        raise CaseFailed(f"{name}: refused: {exc}", "refused")
    from clue.cache.store import CacheError

    if isinstance(exc, CacheError):
        raise CaseFailed(f"{name}: {exc}", "cache_error")
    if isinstance(exc, EngineError):
        raise CaseFailed(f"{name}: engine error: {exc}", "engine_error")
    if isinstance(exc, ConfigError):
        raise CaseFailed(f"{name}: {exc}", "config_error")
    raise CaseFailed(f"{name}: {exc}", "error")


def run_case(session: ClueSession, case: Case, properties: list[tuple[str, object]] | None = None) -> None:
    """Evaluate one case and check its thresholds (the body of ``test_task``); its numbers become
    JUnit properties."""
    from clue.report.junit import task_properties

    try:
        verdicts = session.thresholds(case)
    except ClueError as exc:
        _fail_for(exc, case, session.config.strict)
    part = session.task_part(case)
    if part is not None and properties is not None:
        properties.extend(task_properties(part, [v.status for v in verdicts]))
    failed = [v for v in verdicts if not v.passed]
    if failed:
        raise CaseFailed("\n".join(v.message for v in failed), "threshold")


def run_regression(session: ClueSession, case: Case, properties: list[tuple[str, object]] | None = None) -> None:
    """Compare one case with the base model (the body of ``test_regression``); its numbers become
    JUnit properties, an inconclusive comparison a warning (a failure with --clue-require-power)."""
    from clue.gate.rules import InconclusiveWarning
    from clue.report.junit import regression_properties
    from clue.planning import Case as SessionCase

    base = session.base_of(case.model)
    if base is None:
        raise CaseSkipped(f"{case.model} has no base model to compare with", "no_base")
    try:
        verdicts = session.regression(case)
    except ClueError as exc:
        _fail_for(exc, case, session.config.strict)
    except Exception as exc:
        if exc is not session.failure(case.model, case.task) and exc is not session.failure(base, case.task):
            raise  # an error of the comparison itself: let pytest show where
        raise CaseFailed(
            f"cannot compare {case.model} with {base} on {case.task.display_name}: {type(exc).__name__}: {exc}",
            "error",
        ) from exc
    if not verdicts:
        raise CaseSkipped(
            f"no comparison for {case.id}: no gated metric has values for both the model and the base", "no_comparison"
        )
    if properties is not None:
        base_part = session.task_part(SessionCase(base, case.task))
        properties.extend(regression_properties(session.regression_rows(case), session.task_part(case), base_part))
    for v in verdicts:
        if v.status == "inconclusive" and v.passed:
            warnings.warn(InconclusiveWarning(f"{case.id}: {v.message}"), stacklevel=2)
    failed = [v for v in verdicts if not v.passed]
    if failed:
        raise CaseFailed("\n".join(v.message for v in failed), "regression")


def _stop_reason(session: pytest.Session, recorder: CaseRecorder | None) -> str | None:
    reason = session.shouldfail or session.shouldstop or (recorder.stop_reason if recorder else None)
    return str(reason) if reason else None


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """A passed clue case whose comparison was inconclusive reads "inconclusive" in the terminal."""
    if report.when == "call" and report.passed and ("clue.verdict", "inconclusive") in report.user_properties:
        return "inconclusive", "i", "INCONCLUSIVE"
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Assemble report.json and summary.md (controller), and exit non-zero unless the run passed."""
    config = session.config
    clue = config.stash.get(SESSION_KEY, None)
    if clue is None:
        return
    clue.close()
    recorder = config.stash.get(RECORDER_KEY, None)
    if recorder is None or not clue.run_dir.is_dir():
        return  # an xdist worker (its parts are written), or --collect-only
    from clue.report.summary import write_failure_summary, write_human_outputs
    from clue.report.assemble import assemble_report

    try:
        report = assemble_report(
            clue.run_dir,
            run_id=clue.run_id,
            started=clue.started,
            duration_s=time.perf_counter() - clue._t0,
            seed=clue.config.seed,
            settings=clue.settings_row(),
            models=clue.model_rows(),
            tasks=clue.tasks,
            exit_status=int(exitstatus),
            workers=int(getattr(config.option, "numprocesses", 0) or 0),
            expected_cases=list(recorder.expected.values()),
            allow_skips=bool(config.getoption("--clue-allow-skips")),
            stop_reason=_stop_reason(session, recorder),
        )
    except Exception as exc:  # the run's outcome is unknown: say so, and never exit 0
        log.exception("could not assemble the clue report")
        write_failure_summary(clue.run_dir, clue.run_id, f"the report could not be assembled: {type(exc).__name__}: {exc}")
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        config.stash[OUTCOME_KEY] = {"status": "FAIL", "reasons": [f"the report could not be assembled: {exc}"]}
        return
    write_human_outputs(clue.run_dir, report)
    outcome = report["outcome"]
    if outcome["exit_status"] != int(exitstatus):
        session.exitstatus = outcome["exit_status"]
    config.stash[REPORT_KEY] = clue.run_dir
    config.stash[OUTCOME_KEY] = outcome



def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None and config.getoption("--clue-dry-run"):
        from clue.plan import run_plan

        terminalreporter.write_sep("-", "clue dry run: nothing was run")
        for line in run_plan(session):
            terminalreporter.write_line(line)
    outcome = config.stash.get(OUTCOME_KEY, None)
    run_dir = config.stash.get(REPORT_KEY, None)
    if outcome is None:
        return
    terminalreporter.write_sep("-", "clue report")
    status = outcome["status"]
    terminalreporter.write_line(f"clue: {status}", bold=True, red=status != "PASS", green=status == "PASS")
    for reason in outcome.get("reasons", []):
        terminalreporter.write_line(f"  - {reason}")
    if run_dir is None:
        return
    terminalreporter.write_line(f"report: {run_dir / 'report.json'}")
    summary = run_dir / "summary.md"
    if summary.is_file():
        terminalreporter.write_line(f"summary: {summary}")
    _write_verdict_counts(terminalreporter, run_dir)


def _write_verdict_counts(terminalreporter: Any, run_dir: Path) -> None:
    """The verdict counts and each inconclusive comparison with its MDE and needed n."""
    import json

    from clue.report.summary import inconclusive_lines, verdict_counts

    try:
        report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    terminalreporter.write_line(verdict_counts(report))
    for line in inconclusive_lines(report):
        terminalreporter.write_line(f"  inconclusive: {line}", yellow=True)
