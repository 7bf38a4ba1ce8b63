"""Adding a task is one module, one registry line and one protocol section: a toy task, end to end."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clue.contracts import PromptContext, ScoringContext
from clue.data.readers import read_json_records, require
from clue.data.records import UniqueIds, record_number
from clue.engines.oracle import OracleEngine
from clue.pipeline import evaluate, load_task_data
from clue.prompts.fewshot import fewshot_requests
from clue.prompts.protocol import builtin_path, load_protocol
from clue.records import Completion, Example, ItemScore, Request, Sampling
from clue.tasks.base import Task
from clue.tasks.registry import ALL_TASKS, select_tasks
from clue.tasks.scoring_common import paired

# -- the module (clue/tasks/toy.py) -------------------------------------------------------------------
NAME = "toy"


def gold(truth: Any) -> str:
    return str(truth).strip().lower()


def load(path: Path) -> list[Example]:
    ids = UniqueIds(path)
    out = []
    for location, record in read_json_records(path):
        item_id = ids.add(str(require(record, "id", str, path, location)), location, "id")
        fields = {"question": require(record, "question", str, path, location),
                  "answer": require(record, "answer", str, path, location)}
        out.append(Example(id=item_id, task=NAME, fields=fields, reference=fields["answer"],
                           source_line=record_number(location), source=str(path), location=location))
    return out


def requests(examples: Sequence[Example], ctx: PromptContext) -> list[Request]:
    return fewshot_requests(ctx.rules.task(NAME), examples, ctx, gold=lambda ex: gold(ex.fields["answer"]))


def score(requests: Sequence[Request], completions: Sequence[Completion], sctx: ScoringContext) -> list[ItemScore]:
    return [ItemScore(r.id, r.cluster, {"accuracy": float(gold(c.text) == r.gold)}, c.text) for r, c in paired(requests, completions)]


TOY = Task(name=NAME, display_name="Toy", level=1, group=NAME, data_file="Toy/toy.jsonl", how_to_obtain="write it",
           credentialed=False, metrics=("accuracy",), level_metrics=("accuracy",), load=load, requests=requests,
           score=score, gold=gold)

# -- its protocol section ------------------------------------------------------------------------------
SECTION = '''
[tasks.toy]
system = "Answer with one word."
user = "Q: {question}"
assistant = "A: {answer}"
prefix = "A: "
shots = 1
shot_order = "file"
max_new_tokens = 4
fold_separator = "\\n\\n"
plain_separator = "\\n\\n"
plain_ends_with_prefix = true
'''


def test_a_toy_task_registers_and_runs(tmp_path: Path) -> None:
    protocol_file = tmp_path / "with-toy.toml"
    base = builtin_path("2024-06").read_text(encoding="utf-8")
    protocol_file.write_text(base.replace("\n[scoring]", SECTION + "\n[scoring]"), encoding="utf-8")
    protocol = load_protocol(protocol_file)
    data = tmp_path / "Toy" / "toy.jsonl"
    data.parent.mkdir()
    data.write_text("".join(json.dumps({"id": f"t{i}", "question": f"colour {i}?", "answer": f"Blue{i}"}) + "\n" for i in range(4)))

    registry = (*ALL_TASKS, TOY)  # the registry line
    (task,) = select_tasks(["toy"], registry)
    result = evaluate(load_task_data(task, tmp_path), OracleEngine(), model="oracle", sampling=Sampling(),
                      scoring=ScoringContext(protocol=protocol), protocol=protocol)
    assert result.n == 3  # the first record is the shot
    assert result.estimates["accuracy"].mean == 1.0
    request, _ = result.records[0]
    assert request.rendering.prefix == "A: " and request.messages[1].content == "Q: colour 0?"
    assert request.messages[2].content == "A: Blue0" and request.reference == "Blue1"
