"""The pytest plugin: options, the ``clue`` marker, model x task cases, session fixtures, the report.

It only wires the pipeline together (see clue/session.py). Registered under the ``pytest11`` entry
point; the cases themselves live in clue/pytest_cases.py, which is added to the collection when
``--model`` is given.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from clue.config import ENGINES, RunConfig, pyproject_settings
from clue.errors import ClueError, DataFormatError, DataMissingError

if TYPE_CHECKING:  # the session pulls in numpy, the metrics and the tasks: import it only for a clue run
    from clue.session import Case, ClueSession

log = logging.getLogger(__name__)

SESSION_KEY = pytest.StashKey["ClueSession"]()
CASES_MODULE = Path(__file__).with_name("pytest_cases.py")
RUN_ID_INPUT = "clue_run_id"
GPUS_INPUT = "clue_cuda_visible_devices"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("clue", "CLUE clinical benchmark")
    add = group.addoption
    add("--model", action="append", default=[], metavar="ALIAS|PATH",
        help="model to evaluate (registry alias or local checkpoint folder); repeatable")
    add("--base", default=None, metavar="ALIAS|PATH", help="base model to gate against (overrides the registry)")
    add("--task", action="append", default=[], metavar="NAME",
        help="task to run (mednli, meqsum, problemsummary, medisumcode, medisumqa, longhealth or "
             "longhealth_task1..3); repeatable; default all")
    add("--clue-data", default=None, metavar="DIR",
        help="folder with the original data files (default: $CLUE_DATA, else the demo data shipped with clue)")
    add("--engine", default=None, choices=ENGINES, help="engine for every model (default: the registry's)")
    add("--limit", type=int, default=None, metavar="N", help="score only the first N items of each task")
    add("--clue-strict", action="store_true", help="fail (do not skip) tasks whose data is missing")
    add("--clue-seed", type=int, default=1, help="seed of sampling, shuffles and bootstrap (default 1)")
    add("--clue-batch-size", type=int, default=16, help="generation batch size (default 16)")
    add("--clue-max-new-tokens", type=int, default=None, metavar="N", help="cap every task's max new tokens")
    add("--clue-report-dir", default="reports", metavar="DIR", help="where reports/<run-id>/ goes")
    add("--clue-run-id", default=None, help="run id (default: a UTC timestamp)")
    add("--clue-no-cache", action="store_true", help="neither read nor write the generation cache")
    add("--clue-cache-dir", default=None, metavar="DIR", help="cache folder (default $CLUE_CACHE_DIR or ~/.cache/clue)")
    add("--clue-include-text", action="store_true",
        help="write prompts and references into the per-item files (MIMIC-derived text may not be redistributed)")
    add("--clue-bertscore-model", default=None, metavar="PATH|ID",
        help="BERTScore encoder (default: SciBERT as in CLUE, when available locally)")
    add("--clue-bertscore-layers", type=int, default=None, help="BERTScore layer (needed for local folders)")
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
        report_dir=Path(opt("--clue-report-dir")),
        use_cache=not opt("--clue-no-cache"),
        include_text=opt("--clue-include-text"),
        bertscore_model=opt("--clue-bertscore-model"),
        bertscore_layers=opt("--clue-bertscore-layers"),
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


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "clue: a CLUE model x task evaluation case")
    if not config.getoption("--model"):
        return
    from clue.session import ClueSession, new_run_id

    workerinput = getattr(config, "workerinput", None)
    if workerinput and workerinput.get(GPUS_INPUT):
        os.environ["CUDA_VISIBLE_DEVICES"] = workerinput[GPUS_INPUT]  # before anything initialises CUDA
    run_id = (workerinput or {}).get(RUN_ID_INPUT) or config.getoption("--clue-run-id") or new_run_id()
    try:
        session = ClueSession(_config(config), run_id=run_id)
    except ClueError as exc:
        raise pytest.UsageError(str(exc)) from exc
    config.stash[SESSION_KEY] = session
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order clue cases so each model's cases run together, bases first, regressions after their model."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        return
    from clue.session import Case

    models = list(session.specs)

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


def run_case(session: ClueSession, case: Case, properties: list[tuple[str, object]] | None = None) -> None:
    """Evaluate one case and check its thresholds (the body of ``test_task``); its numbers become
    JUnit properties."""
    from clue.report.junit import task_properties

    try:
        session.evaluate(case)
    except DataMissingError as exc:
        if session.config.strict:
            pytest.fail(f"{exc} (--clue-strict)", pytrace=False)
        pytest.skip(str(exc))
    except DataFormatError as exc:
        pytest.fail(f"{case.task.display_name}: malformed data: {exc}", pytrace=False)
    verdicts = session.thresholds(case)
    part = session.task_part(case)
    if part is not None and properties is not None:
        properties.extend(task_properties(part, [v.status for v in verdicts]))
    failed = [v for v in verdicts if not v.passed]
    if failed:
        pytest.fail("\n".join(v.message for v in failed), pytrace=False)


def run_regression(session: ClueSession, case: Case, properties: list[tuple[str, object]] | None = None) -> None:
    """Compare one case with the base model (the body of ``test_regression``); its numbers become
    JUnit properties, an inconclusive comparison a warning (a failure with --clue-require-power)."""
    from clue.gate.rules import InconclusiveWarning
    from clue.report.junit import regression_properties
    from clue.session import Case as SessionCase

    base = session.base_of(case.model)
    if base is None:
        pytest.skip(f"{case.model} has no base model to compare with")
    verdicts = session.regression(case)
    if not verdicts:
        pytest.skip(f"no comparison for {case.id}: the model's or the base's results are missing")
    if properties is not None:
        base_part = session.task_part(SessionCase(base, case.task))
        properties.extend(regression_properties(session.regression_rows(case), session.task_part(case), base_part))
    for v in verdicts:
        if v.status == "inconclusive" and v.passed:
            warnings.warn(InconclusiveWarning(f"{case.id}: {v.message}"), stacklevel=2)
    failed = [v for v in verdicts if not v.passed]
    if failed:
        pytest.fail("\n".join(v.message for v in failed), pytrace=False)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """A passed clue case whose comparison was inconclusive reads "inconclusive" in the terminal."""
    if report.when == "call" and report.passed and ("clue.verdict", "inconclusive") in report.user_properties:
        return "inconclusive", "i", "INCONCLUSIVE"
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    clue = config.stash.get(SESSION_KEY, None)
    if clue is None:
        return
    from clue.report.summary import write_human_outputs
    from clue.session import assemble_report

    clue.close()
    if getattr(config, "workerinput", None) is not None:
        return  # workers wrote their parts; the controller assembles the report
    if not (clue.run_dir / "parts").is_dir():
        return
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
    )
    write_human_outputs(clue.run_dir, report)
    config.stash[REPORT_KEY] = clue.run_dir


REPORT_KEY = pytest.StashKey[Path]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run_dir = config.stash.get(REPORT_KEY, None)
    if run_dir is None:
        return
    terminalreporter.write_sep("-", "clue report")
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
