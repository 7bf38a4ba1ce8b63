"""The replay engine: answers requests with outputs already on disk, so they can be scored again.

Two file formats are read (JSON lines or a JSON array, detected from the first record):

- clue's per-item files (``items/<model>/<task>.jsonl``, docs/CONTRACTS.md): matched on task + id.
  A recorded ``prompt_sha256`` that differs from the prompt this run builds is reported in a warning
  (the output answers another prompt: changed template, data, seed or truncation).
- the CLUE reference implementation's ``predictions.json``: one object per scored item with
  ``"Model Answer"`` and ``"Ground Truth Answer"``. These carry no ids, so they are matched **by
  ground truth**: a request takes the first unused line (file order) whose ground truth equals its
  reference or gold answer, compared on lower-cased words only (so "entailment" matches "ENTAILMENT"
  and "a; b;" matches "a, b"). Repeated ground truths therefore pair up in file order (position is
  the tie-breaker). For a label task such as MedNLI this keeps each line's correctness, so the task's
  accuracy equals the reference's even when the two runs ordered items differently. ``match=
  "position"`` pairs the i-th request of a task with the i-th line instead.

A reference file's task comes from a ``TASK=PATH`` prefix, else from its path (a folder or file name
that is a task's name, case and punctuation ignored: ``results/MeQSum/predictions.json``); a file
with neither serves any task. Folders are searched for ``*.jsonl`` and ``predictions*.json`` files.

Requests without a recorded output raise an EngineError naming the task, count and ids; with
``missing="empty"`` they are answered with an empty text (finish_reason ``"missing"``, scored as a
wrong answer) and a warning instead.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from clue.data.readers import read_json_records, require, sha256_file
from clue.engines.tokens import ApproxTokenCounter
from clue.errors import DataFormatError, EngineError
from clue.prompts.chat import ChatStyle, to_plain_text
from clue.records import Completion, Request, Sampling

if TYPE_CHECKING:
    from clue.engines.base import OnComplete

log = logging.getLogger(__name__)

MatchMode = Literal["ground_truth", "position"]
MissingMode = Literal["error", "empty"]

MODEL_ANSWER = "Model Answer"
GROUND_TRUTH = "Ground Truth Answer"
_TAG = re.compile(r"^([A-Za-z][A-Za-z0-9_\-]*)=(.+)$")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SHOW_IDS = 10


@dataclass(frozen=True)
class RecordedOutput:
    """One line of a clue per-item file."""

    task: str
    id: str
    output: str
    prompt_sha256: str
    gold: Any
    path: Path
    line: str


@dataclass(frozen=True)
class ReferencePrediction:
    """One line of a reference ``predictions.json``."""

    model_answer: str
    ground_truth: str
    path: Path
    line: str


@dataclass(frozen=True)
class _ReferenceFile:
    path: Path
    task: str | None  # normalised task name; None: serves any task
    predictions: tuple[ReferencePrediction, ...]


# -- reading --------------------------------------------------------------------------------------
def detect_format(path: Path) -> Literal["items", "reference"]:
    """``"reference"`` for a predictions.json of the reference code, ``"items"`` for clue's per-item file."""
    records = read_json_records(Path(path))
    if not records:
        raise DataFormatError(path, "record 1", "<file>", "no records")
    return _format_of(Path(path), *records[0])


def _format_of(path: Path, location: str, record: Any) -> Literal["items", "reference"]:
    if isinstance(record, Mapping):
        if MODEL_ANSWER in record:
            return "reference"
        if "output" in record or ("task" in record and "id" in record):
            return "items"
    raise DataFormatError(
        path,
        location,
        "<record>",
        f'neither a clue per-item record ("task", "id", "output") nor a reference prediction '
        f'("{MODEL_ANSWER}", "{GROUND_TRUTH}")',
    )


def load_reference_predictions(path: Path) -> list[tuple[str, str]]:
    """(model answer, ground truth) per line of a reference ``predictions.json``, in file order.

    A list-valued ground truth (e.g. ICD codes) is joined with ", "; numbers become text.
    """
    return [(p.model_answer, p.ground_truth) for p in read_reference_predictions(path)]


def read_reference_predictions(path: Path) -> list[ReferencePrediction]:
    """The lines of a reference ``predictions.json`` (JSON lines, or a JSON array), in file order."""
    path = Path(path)
    return _parse_reference(path, read_json_records(path))


def _parse_reference(path: Path, records: list[tuple[str, Any]]) -> list[ReferencePrediction]:
    out = []
    for location, record in records:
        answer = require(record, MODEL_ANSWER, str, path, location)
        raw_truth = require(record, GROUND_TRUTH, (str, list, int, float), path, location)
        truth = _ground_truth_text(raw_truth, path, location)
        out.append(ReferencePrediction(answer, truth, path, location))
    return out


def _ground_truth_text(value: Any, path: Path, location: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            raise DataFormatError(path, location, GROUND_TRUTH, "a list must hold only strings or numbers")
        return ", ".join(str(v) for v in value)
    return str(value)


def read_item_outputs(path: Path) -> list[RecordedOutput]:
    """The recorded outputs of a clue per-item JSONL file, in file order."""
    path = Path(path)
    return _parse_items(path, read_json_records(path))


def _parse_items(path: Path, records: list[tuple[str, Any]]) -> list[RecordedOutput]:
    out = []
    for location, record in records:
        task = require(record, "task", str, path, location)
        item_id = require(record, "id", str, path, location)
        output = require(record, "output", str, path, location)
        sha = record.get("prompt_sha256") or ""
        if not isinstance(sha, str):
            raise DataFormatError(path, location, "prompt_sha256", f"expected str, got {type(sha).__name__}")
        out.append(RecordedOutput(task, item_id, output, sha, record.get("gold"), path, location))
    return out


def expand_paths(paths: Iterable[Path | str]) -> list[tuple[str | None, Path]]:
    """(task tag or None, file) for each given path; ``TASK=PATH`` tags, folders searched recursively."""
    found: list[tuple[str | None, Path]] = []
    seen: set[Path] = set()

    def add(tag: str | None, file: Path) -> None:
        if file.resolve() not in seen:
            seen.add(file.resolve())
            found.append((tag, file))

    for given in paths:
        text = str(given)
        tag: str | None = None
        path = Path(text)
        match = _TAG.match(text)
        if not path.exists() and match:
            tag, path = match.group(1), Path(match.group(2))
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and (p.suffix == ".jsonl" or (p.name.startswith("predictions") and p.suffix == ".json"))
            )
            if not files:
                raise EngineError(f"replay: no *.jsonl or predictions*.json files under {path}")
            for f in files:
                add(tag, f)
        elif path.is_file():
            add(tag, path)
        else:
            raise EngineError(f"replay: file not found: {path} (give a per-item JSONL, a predictions.json or a folder)")
    return found


def normalise_name(text: str) -> str:
    """Lower-case letters and digits only: "LongHealth_Task_1" -> "longhealthtask1"."""
    return "".join(c for c in text.lower() if c.isalnum())


def infer_task(path: Path, task_names: Iterable[str]) -> str | None:
    """The task whose name is the file stem or the nearest folder name (case and punctuation ignored).

    Returns the normalised name (see ``normalise_name``).
    """
    known = {normalise_name(n) for n in task_names}
    for part in (path.stem, *(p.name for p in path.parents)):
        if normalise_name(part) in known:
            return normalise_name(part)
    return None


def known_task_names() -> tuple[str, ...]:
    """Names and display names of the registered tasks (empty when the registry cannot be imported)."""
    try:
        from clue.tasks.registry import ALL_TASKS
    except ImportError:  # pragma: no cover - a broken task module should not stop replaying
        log.debug("task registry not importable; replay files are matched to tasks only by TASK=PATH")
        return ()
    return tuple(n for t in ALL_TASKS for n in (t.name, t.display_name))


def _truth_key(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _request_truth_keys(request: Request) -> set[str]:
    keys = {_truth_key(request.reference)}
    gold = request.gold
    if isinstance(gold, str):
        keys.add(_truth_key(gold))
    elif isinstance(gold, (list, tuple)) and all(isinstance(g, str) for g in gold):
        keys.add(_truth_key(" ".join(gold)))
    keys.discard("")
    return keys


def _plain_gold(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain_gold(v) for v in value]
    if isinstance(value, list):
        return [_plain_gold(v) for v in value]
    return value


# -- the engine -----------------------------------------------------------------------------------
class ReplayEngine:
    """An Engine (clue.engines.base) whose outputs are read from files instead of generated."""

    name = "replay"
    cacheable = False  # outputs come from files: nothing to store in the generation cache

    def __init__(
        self,
        paths: Sequence[Path | str],
        *,
        match: MatchMode = "ground_truth",
        missing: MissingMode = "error",
        max_context: int = 32768,
        task_names: Iterable[str] | None = None,
    ) -> None:
        if match not in ("ground_truth", "position"):
            raise ValueError(f"match must be 'ground_truth' or 'position', got {match!r}")
        if missing not in ("error", "empty"):
            raise ValueError(f"missing must be 'error' or 'empty', got {missing!r}")
        if not paths:
            raise EngineError("replay needs at least one file (per-item JSONL or predictions.json)")
        self.match: MatchMode = match
        self.missing: MissingMode = missing
        self.max_context = max_context
        self.chat_style: ChatStyle = "plain"
        self._tokens = ApproxTokenCounter()
        names = tuple(task_names) if task_names is not None else known_task_names()
        self.files = expand_paths(paths)
        self._items: dict[tuple[str, str], RecordedOutput] = {}
        self._references: list[_ReferenceFile] = []
        for tag, path in self.files:
            self._read(path, tag, names)
        digest = hashlib.sha256("".join(sha256_file(p) for _, p in self.files).encode()).hexdigest()
        self.model_id = f"replay:{digest[:12]}"
        self._digest = digest
        self.prompt_mismatches: dict[str, list[str]] = {}
        self.gold_mismatches: dict[str, list[str]] = {}

    def _read(self, path: Path, tag: str | None, names: tuple[str, ...]) -> None:
        records = read_json_records(path)
        if not records:
            raise DataFormatError(path, "record 1", "<file>", "no records")
        if _format_of(path, *records[0]) == "reference":
            task = normalise_name(tag) if tag else infer_task(path, names)
            self._references.append(_ReferenceFile(path, task, tuple(_parse_reference(path, records))))
            return
        for rec in _parse_items(path, records):
            key = (rec.task, rec.id)
            previous = self._items.get(key)
            if previous is not None and previous.output != rec.output:
                raise EngineError(
                    f"replay: {rec.task} item {rec.id!r} has different outputs in {previous.path} ({previous.line}) "
                    f"and {rec.path} ({rec.line}); pass the files of one model only"
                )
            self._items[key] = rec

    # -- Engine protocol ------------------------------------------------------------------------
    @property
    def tokens(self) -> ApproxTokenCounter:
        return self._tokens

    @property
    def loaded(self) -> bool:
        return True  # the files are read on construction; there is no model to load

    def render(self, request: Request) -> str:
        return to_plain_text(request)

    def identity(self) -> Mapping[str, Any]:
        return {"engine": self.name, "files_sha256": self._digest, "match": self.match, "missing": self.missing}

    def close(self) -> None:
        """Nothing to free."""

    def generate(
        self, requests: Sequence[Request], sampling: Sampling, on_complete: OnComplete | None = None
    ) -> list[Completion]:
        """Recorded outputs for ``requests`` (sampling is ignored).

        Matching by ground truth or position runs over the requests of one call: pass all requests
        of a task together (``generate_with_cache`` does so for engines that are not cacheable).
        """
        by_task: dict[str, list[int]] = defaultdict(list)
        for i, request in enumerate(requests):
            by_task[request.task].append(i)
        answers: list[Completion | None] = [None] * len(requests)
        for task, indexes in by_task.items():
            chosen = self._answer_task(task, [requests[i] for i in indexes])
            for i, completion in zip(indexes, chosen, strict=True):
                answers[i] = completion
        return [a for a in answers if a is not None]  # every index was filled above

    # -- matching -------------------------------------------------------------------------------
    def _answer_task(self, task: str, requests: list[Request]) -> list[Completion]:
        found: list[Completion | None] = [None] * len(requests)
        prompt_bad: list[str] = []
        gold_bad: list[str] = []
        for i, request in enumerate(requests):
            rec = self._items.get((task, request.id))
            if rec is None:
                continue
            if rec.prompt_sha256 and rec.prompt_sha256 != request.prompt_key():
                prompt_bad.append(request.id)
            if rec.gold is not None and request.gold is not None and rec.gold != _plain_gold(request.gold):
                gold_bad.append(request.id)
            found[i] = self._completion(request, rec.output, rec.prompt_sha256)
        rest = [i for i, f in enumerate(found) if f is None]
        if rest:
            for i, answer in self._match_references(task, [requests[i] for i in rest]).items():
                found[rest[i]] = self._completion(requests[rest[i]], answer)
        self._warn(task, len(requests), prompt_bad, gold_bad)
        missing = [requests[i].id for i, f in enumerate(found) if f is None]
        if missing:
            self._handle_missing(task, len(requests), missing)
        return [f if f is not None else self._missing_completion(requests[i]) for i, f in enumerate(found)]

    def _files_for(self, task: str) -> list[_ReferenceFile]:
        own = [f for f in self._references if f.task == normalise_name(task)]
        return own or [f for f in self._references if f.task is None]

    def _match_references(self, task: str, requests: list[Request]) -> dict[int, str]:
        """Index into ``requests`` -> model answer, for the requests a reference line answers."""
        files = self._files_for(task)
        lines = [p for f in files for p in f.predictions]
        if not lines:
            return {}
        if self.match == "position":
            if len(files) != 1 or len(lines) != len(requests):
                where = ", ".join(str(f.path) for f in files)
                raise EngineError(
                    f"replay by position: {task} has {len(requests)} requests to answer but {where} holds "
                    f"{len(lines)} lines in {len(files)} file(s); position matching needs one file with one line "
                    "per request (or match by ground truth)"
                )
            return {i: p.model_answer for i, p in enumerate(lines)}
        queues: dict[str, list[int]] = defaultdict(list)
        for j, p in enumerate(lines):
            queues[_truth_key(p.ground_truth)].append(j)
        heads: dict[str, int] = defaultdict(int)  # next unused line per ground truth
        answers: dict[int, str] = {}
        for i, request in enumerate(requests):
            for key in sorted(_request_truth_keys(request)):
                queue = queues.get(key, [])
                if heads[key] < len(queue):
                    answers[i] = lines[queue[heads[key]]].model_answer
                    heads[key] += 1
                    break
        return answers

    # -- results and reporting ------------------------------------------------------------------
    def _completion(self, request: Request, text: str, prompt_sha256: str = "") -> Completion:
        return Completion(
            request_id=request.id,
            text=text,
            prompt_tokens=request.prompt_tokens or self._tokens.count(self.render(request)),
            completion_tokens=self._tokens.count(text),
            finish_reason="replay",
            prompt_sha256=prompt_sha256,
        )

    def _missing_completion(self, request: Request) -> Completion:
        return Completion(request_id=request.id, text="", finish_reason="missing")

    def _handle_missing(self, task: str, total: int, ids: list[str]) -> None:
        shown = ", ".join(ids[:_SHOW_IDS]) + (", ..." if len(ids) > _SHOW_IDS else "")
        sources = ", ".join(str(p) for _, p in self.files)
        message = f"replay: no recorded output for {len(ids)} of {total} {task} requests (ids: {shown}) in {sources}"
        if self.missing == "error":
            raise EngineError(
                f"{message}. Pass the files that hold this task's outputs (TASK=PATH names a predictions.json's "
                "task), or replay with missing='empty' to score absent outputs as empty answers."
            )
        log.warning("%s; scoring them as empty answers", message)

    def _warn(self, task: str, total: int, prompt_bad: list[str], gold_bad: list[str]) -> None:
        if prompt_bad:
            self.prompt_mismatches[task] = prompt_bad
            log.warning(
                "replay: %d of %d %s outputs were generated from a different prompt than this run builds "
                "(prompt_sha256 differs; changed template, data, seed or truncation), e.g. %s",
                len(prompt_bad),
                total,
                task,
                ", ".join(prompt_bad[:_SHOW_IDS]),
            )
        if gold_bad:
            self.gold_mismatches[task] = gold_bad
            log.warning(
                "replay: %d of %d %s items have a different gold answer than this run's data, e.g. %s",
                len(gold_bad),
                total,
                task,
                ", ".join(gold_bad[:_SHOW_IDS]),
            )
