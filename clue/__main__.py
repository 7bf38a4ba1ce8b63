"""Command line: ``python -m clue score`` and ``python -m clue data ...`` (also the ``clue`` console script).

``clue score --task T FILE [FILE ...]`` scores outputs already on disk (clue's per-item JSONL or the
CLUE reference implementation's predictions.json) with the task's own scoring, without pytest and
without a model, and prints a JSON object. Exit status 0 on success, 2 on bad input.

``clue data fetch | build | verify`` gets the real data sets (``clue.data.cli``).

``clue demo-adapter DIR`` writes a LoRA adapter of the demo base model (needs peft), to try
``pytest -m clue --model DIR``: an adapter gated against its base, one engine for both.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK = 0
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clue", description="CLUE clinical benchmark tools.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    score = commands.add_parser(
        "score",
        help="score outputs already on disk (per-item JSONL or reference predictions.json)",
        description=(
            "Score recorded outputs again with clue's metrics, without a model. FILE is a clue per-item "
            "JSONL (reports/<run>/items/<model>/<task>.jsonl) or a predictions.json of the CLUE reference "
            "implementation (JSON lines or an array of {\"Model Answer\", \"Ground Truth Answer\"}). "
            "Prints a JSON object with each metric's mean and confidence interval in percent."
        ),
    )
    score.add_argument("--task", required=True, metavar="TASK",
                       help="mednli, meqsum, problemsummary, medisumcode, medisumqa, longhealth_task1..3, medqa, "
                            "medmcqa, pubmedqa, jama or nejm")
    score.add_argument("files", nargs="+", metavar="FILE", help="outputs to score (all of one task)")
    score.add_argument("--bertscore-model", default=None, metavar="PATH_OR_ID",
                       help="BERTScore encoder: a model folder or a hub id in the local cache "
                            "(default: SciBERT as in CLUE when available, else the MiniLM fallback)")
    score.add_argument("--bertscore-layers", type=int, default=None, metavar="N",
                       help="BERTScore layer (default: bert-score's tuned layer, else the model's last)")
    score.add_argument("--no-bertscore", action="store_true",
                       help="leave BERTScore out (reported unavailable); no encoder is loaded")
    score.add_argument("--protocol", default="2024-06", metavar="ID_OR_TOML",
                       help="scoring rules and encoders of this protocol: 2024-06 (default), 2025-01 or a protocol file")
    score.add_argument("--processes", type=int, default=1, metavar="N",
                       help="processes for ROUGE / ICD scoring of large files (default 1)")
    score.add_argument("--seed", type=int, default=1, help="bootstrap seed (default 1, as a pytest run)")
    score.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    score.add_argument("--output", default=None, metavar="OUT.json", help="also write the JSON object to this file")
    from clue.data.cli import add_data_parser

    add_data_parser(commands)
    adapter = commands.add_parser(
        "demo-adapter",
        help="write a LoRA adapter of the demo base model (needs peft)",
        description=(
            "Write a peft LoRA adapter of demo-base (random A and B, so its outputs differ from the base's) "
            "to DIR, replacing DIR. Then: pytest -m clue --model DIR. Another --seed is a retrained adapter."
        ),
    )
    adapter.add_argument("dir", metavar="DIR", help="adapter folder to write")
    adapter.add_argument("--seed", type=int, default=7, help="seed of the adapter's weights (default 7)")
    adapter.add_argument("--rank", type=int, default=8, help="LoRA rank (default 8)")
    adapter.add_argument("--cache-dir", default=None, metavar="DIR",
                         help="where the demo base model is built (default $CLUE_CACHE_DIR/models)")
    return parser


def _fail(parser: argparse.ArgumentParser, message: str) -> int:
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run_score(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from clue.errors import ClueError
    from clue.report.atomic import write_json
    from clue.prompts.protocol import load_protocol
    from clue.rescore import read_outputs, rescore, result_json, scoring_context
    from clue.tasks.registry import get_task

    if args.processes < 1:
        return _fail(parser, f"--processes must be >= 1, got {args.processes}")
    if not 0 < args.confidence < 1:
        return _fail(parser, f"--confidence must be in (0, 1), got {args.confidence}")
    try:
        task = get_task(args.task.strip().lower())
        protocol = load_protocol(args.protocol)
        inputs = read_outputs(task, [Path(f) for f in args.files])
        scoring = scoring_context(
            task,
            protocol,
            bertscore=not args.no_bertscore,
            bertscore_model=args.bertscore_model,
            bertscore_layers=args.bertscore_layers,
            processes=args.processes,
        )
        result = rescore(inputs, scoring, confidence=args.confidence, seed=args.seed)
    except (ClueError, FileNotFoundError) as exc:
        return _fail(parser, str(exc))
    out = result_json(result)
    if args.output:
        try:
            write_json(Path(args.output), out)
        except OSError as exc:
            return _fail(parser, f"cannot write {args.output}: {exc}")
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return EXIT_OK


def run_demo_adapter(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from clue.errors import ClueError
    from clue.models.demo import ensure_demo_model
    from clue.models.demo_adapter import BASE_ALIAS, build_demo_adapter

    try:
        base = ensure_demo_model(BASE_ALIAS, Path(args.cache_dir) if args.cache_dir else None)
        out = build_demo_adapter(Path(args.dir), base, seed=args.seed, rank=args.rank)
    except (ClueError, OSError) as exc:
        return _fail(parser, str(exc))
    print(out)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.command == "score":
        return run_score(args, parser)
    if args.command == "data":
        from clue.data.cli import run_data

        return run_data(args, parser)
    if args.command == "demo-adapter":
        return run_demo_adapter(args, parser)
    parser.print_help(sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
