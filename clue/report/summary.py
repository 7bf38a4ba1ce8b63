"""What people read: a Markdown summary (also appended to $GITHUB_STEP_SUMMARY) and a PNG plot.

The summary's first line is the run's outcome (``report["outcome"]``: PASS, FAIL or INCOMPLETE),
decided from the exit status, every case and every check; the reasons follow it.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clue.report.atomic import write_bytes, write_text

log = logging.getLogger(__name__)


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _main_metric(part: Mapping[str, Any]) -> str | None:
    """The first level metric of a task: the one plotted and shown in the overview."""
    for name, m in part.get("metrics", {}).items():
        if m.get("level_metric"):
            return name
    return next(iter(part.get("metrics", {})), None)


def _published(report: Mapping[str, Any], model: str, task: str, metric: str) -> float | None:
    pub = report["models"].get(model, {}).get("published") or {}
    return pub.get("tasks", {}).get(task, {}).get(metric)


def _margins(gate: Mapping[str, Any]) -> str:
    """The tolerated drop in points: the run's, or each gated model's (registry) where they differ."""
    margins = {m: round(v * 100, 2) for m, v in (gate.get("margins") or {}).items()}
    if gate.get("margin") is not None or len(set(margins.values())) <= 1:
        value = gate.get("margin") if gate.get("margin") is not None else next(iter(margins.values()), 0.0) / 100
        return f"{round(float(value) * 100, 2)} points"
    return ", ".join(f"{m}: {v} points" for m, v in margins.items())


def _cell(text: str, limit: int = 160) -> str:
    """Text fit for one Markdown table cell: on one line, pipes escaped, backticks dropped, cut to ``limit``."""
    flat = " ".join(str(text).split()).replace("|", "\\|").replace("`", "'")
    if not flat:
        return "(empty)"
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def outcome_lines(report: Mapping[str, Any]) -> list[str]:
    """The head of the summary: the outcome (first line), the exit status and why."""
    outcome = report["outcome"]
    run = report["run"]
    lines = [f"# {outcome['status']}: clue run `{run['id']}`", ""]
    exit_status = outcome["exit_status"]
    pytest_status = outcome["pytest_exit_status"]
    status = f"exit status {exit_status}"
    if pytest_status != exit_status:
        status += f" (pytest's was {pytest_status})"
    counts = outcome.get("counts", {})
    lines.append(
        f"{status}. Cases: {counts.get('selected', 0)} selected, {counts.get('passed', 0)} passed, "
        f"{counts.get('failed', 0)} failed, {counts.get('error', 0)} errors, {counts.get('skipped', 0)} skipped, "
        f"{counts.get('not_run', 0)} not run. Checks: {counts.get('checks', 0)}, "
        f"of which {counts.get('checks_failed', 0)} failed."
    )
    if outcome["reasons"]:
        lines += ["", *(f"- {reason}" for reason in outcome["reasons"])]
    return lines


def _status(verdict: Mapping[str, Any]) -> str:
    return verdict.get("status") or ("pass" if verdict["passed"] else "fail")


def verdict_counts(report: Mapping[str, Any]) -> str:
    """"Verdicts: 10 pass, 0 fail, 6 inconclusive (underpowered: not significant, MDE above margin +
    5.00 points; they pass)." The line that opens the summary."""
    counts = {s: 0 for s in ("pass", "fail", "inconclusive")}
    for v in report.get("verdicts", []):
        counts[_status(v)] = counts.get(_status(v), 0) + 1
    gate = report.get("settings", {}).get("gate", {})
    line = f"Verdicts: {counts['pass']} pass, {counts['fail']} fail, {counts['inconclusive']} inconclusive"
    if counts["inconclusive"]:
        tolerance = round(100 * float(gate.get("power_tolerance") or 0.0), 2)
        fate = "they fail (--clue-require-power)" if gate.get("require_power") else "they pass, with a warning"
        line += f" (underpowered: not significant, and the MDE is above margin + {tolerance} points; {fate})"
    return line + "."


def _verdict_cell(v: Mapping[str, Any] | None) -> str:
    if v is None:
        return "-"
    status = _status(v)
    if status == "inconclusive":
        mde = v.get("mde")
        needed = v.get("n_needed")
        detail = ", ".join(x for x in (f"MDE {100 * mde:.2f}" if mde is not None else "",
                                        f"n needed {needed:,}" if needed else "") if x)
        return f"**inconclusive**{f' ({detail})' if detail else ''}{'' if v['passed'] else ': FAIL'}"
    return "pass" if status == "pass" else "FAIL"


def inconclusive_lines(report: Mapping[str, Any]) -> list[str]:
    """Each inconclusive comparison: "<model> <message>" (the message names the MDE and needed n)."""
    return [f"{v['model']}: {v['message']}" for v in report.get("verdicts", []) if _status(v) == "inconclusive"]


def disagreement_section(report: Mapping[str, Any]) -> list[str]:
    """Per failed or inconclusive comparison, the items where the base scored most above the model
    (a 0/1 metric: the base right, the model wrong): item id, both scores, both outputs on one line.
    The gold text only where the run was made with --clue-include-text."""
    lines: list[str] = []
    for c in report.get("comparisons", []):
        if c.get("status") not in ("fail", "inconclusive") or not c.get("disagreements"):
            continue
        with_reference = any("reference" in d for d in c["disagreements"])
        lines += ["", f"### {c['model']} vs {c['base']}: {c['task']} {c['metric']} ({c['status']})", "",
                  "| item | model | base | model output | base output |" + (" reference |" if with_reference else ""),
                  "|---|---:|---:|---|---|" + ("---|" if with_reference else "")]
        for d in c["disagreements"]:
            ref = f" {_cell(d.get('reference', ''))} |" if with_reference else ""
            lines.append(f"| {_cell(d['id'])} | {_fmt(d['model_score'])} | {_fmt(d['base_score'])} | "
                         f"{_cell(d['model_output'])} | {_cell(d['base_output'])} |{ref}")
    if lines:
        lines = ["", "## Where the base was right and the model wrong",
                 "", "The five items per failed or inconclusive comparison where the base scored most above the model."] + lines
    return lines


def render_markdown(report: Mapping[str, Any]) -> str:
    run = report["run"]
    models = report["models"]
    parts = report["tasks"]
    verdicts = report["verdicts"]
    comparisons = {(c["model"], c["task"], c["metric"]): c for c in report["comparisons"]}
    protocol = report["settings"].get("protocol") or {}
    show_published = bool(protocol.get("published_results"))
    head = outcome_lines(report)  # the outcome first, then the counts of each verdict
    lines = [*head[:2], verdict_counts(report), "", *head[2:], ""]
    lines.append(
        f"clue {run['suite_version']} (commit {run.get('git_commit') or 'unknown'}), "
        f"{run['duration_s']:.1f} s, of which harness overhead {run.get('harness_overhead_s', 0):.1f} s. Scores in percent."
    )
    if protocol:
        lines += ["", f"Protocol **{protocol.get('id')}** (sha256 {str(protocol.get('sha256', ''))[:16]}): "
                  f"{protocol.get('title', '')}. Deviations from the reference applied on purpose: "
                  f"{len(protocol.get('deviations', []))}, listed in report.json."]
    synthetic = sorted({p["display_name"] for p in parts if p.get("data", {}).get("synthetic")})
    if synthetic:
        lines += ["", f"> **Synthetic data** for {', '.join(synthetic)}: these scores test the pipeline, "
                  "they are not CLUE scores. Pass `--clue-data DIR` with the real files."]
    lines += _transfer_section(report)
    failed = [v for v in verdicts if not v["passed"]]
    gate = report["settings"].get("gate", {})
    by_kind = {k: sum(1 for v in failed if v["kind"] == k) for k in ("threshold", "regression")}
    lines += ["", f"Checks: {len(verdicts) - len(failed)} of {len(verdicts)} passed "
              f"({by_kind['threshold']} threshold and {by_kind['regression']} regression checks failed); "
              f"gate mode {gate.get('mode')}, alpha {gate.get('alpha')}, margin {_margins(gate)}."]
    for level in ("level1", "level2"):
        rows = []
        for alias, m in models.items():
            ours = m["levels"].get(level)
            if ours is None:
                continue
            base = m.get("base")
            base_score = models.get(base, {}).get("levels", {}).get(level, {}).get("score") if base and base != alias else None
            pub = (m.get("published") or {}).get(level)
            diff = None if base_score is None or ours["score"] is None else ours["score"] - base_score
            model_verdicts = [v for v in verdicts if v["model"] == alias and v["kind"] == "regression"]
            verdict = "-" if not model_verdicts else ("FAIL" if any(not v["passed"] for v in model_verdicts) else "pass")
            note = "" if ours["complete"] else " (partial)"
            published_cell = f" {_fmt(pub)} |" if show_published else ""
            rows.append(f"| {alias} | {base or '-'} | {_fmt(ours['score'])}{note} | {_fmt(base_score)} |"
                        f"{published_cell} {_fmt(diff)} | {verdict} |")
        if rows:
            pub_head, pub_rule = (" published CLUE |", "---:|") if show_published else ("", "")
            lines += ["", f"## Level {level[-1]}", "",
                      f"| model | base | score | base score |{pub_head} diff | regression |",
                      f"|---|---|---:|---:|{pub_rule}---:|---|", *rows]
    pub_head, pub_rule = (" published |", "---:|") if show_published else ("", "")
    lines += ["", "## Tasks", "", f"| model | task | n | metric | score [95% CI] | base |{pub_head} diff [95% CI] | p (Holm) | verdict |",
              f"|---|---|---:|---|---|---:|{pub_rule}---|---:|---|"]
    verdict_of = {(v["model"], v["task"], v["metric"], v["kind"]): v for v in verdicts}
    for p in parts:
        if p["status"] != "ok":
            lines.append(f"| {p['model']} | {p['display_name']} | - | - | {p['status']}: {p.get('reason', '')[:120]} | | | | | |")
            continue
        for metric, m in p["metrics"].items():
            if not m.get("level_metric"):
                continue
            c = comparisons.get((p["model"], p["task"], metric))
            v = verdict_of.get((p["model"], p["task"], metric, "regression")) or verdict_of.get(
                (p["model"], p["task"], metric, "threshold"))
            diff = f"{_fmt(c['diff'])} [{_fmt(c['ci_low'])}, {_fmt(c['ci_high'])}]" if c else "-"
            p_adj = _fmt(c.get("p_adjusted"), 4) if c and c.get("p_adjusted") is not None else "-"
            published_cell = f" {_fmt(_published(report, p['model'], p['task'], metric))} |" if show_published else ""
            lines.append(
                f"| {p['model']} | {p['display_name']} | {p['n']} | {metric} | "
                f"{_fmt(m['mean'])} [{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}] | "
                f"{_fmt(c['base_mean']) if c else '-'} |{published_cell} "
                f"{diff} | {p_adj} | {_verdict_cell(v)} |"
            )
        for metric, reason in p.get("unavailable", {}).items():
            if metric in p.get("level_metrics", ()):
                lines.append(f"| {p['model']} | {p['display_name']} | {p['n']} | {metric} | unavailable: {reason[:100]} | | | | | |")
    if failed:
        lines += ["", "## Failures", ""] + [f"- {v['message']}" for v in failed]
    not_passed = [c for c in report.get("cases", []) if c.get("outcome") != "passed"]
    if not_passed:
        lines += ["", "## Cases that did not pass", "", "| case | outcome | why |", "|---|---|---|"]
        lines += [
            f"| {_cell(c['kind'] + ' ' + c['model'] + ' ' + c['task'], 80)} | {c['outcome']} ({c['category']}) | "
            f"{_cell(c.get('message', ''))} |"
            for c in not_passed
        ]
    lines += _inconclusive_section(report)
    lines += _baseline_note(report)
    lines += disagreement_section(report)
    return "\n".join(lines) + "\n"


def _inconclusive_section(report: Mapping[str, Any]) -> list[str]:
    found = inconclusive_lines(report)
    if not found:
        return []
    return ["", "## Inconclusive: too few items to see a drop beyond the margin", ""] + [f"- {line}" for line in found]


def _baseline_note(report: Mapping[str, Any]) -> list[str]:
    baseline = report.get("settings", {}).get("baseline")
    if not baseline:
        return []
    return ["", f"Base results ({', '.join(baseline.get('models', []))}) read from the stored baseline run "
                f"`{baseline.get('run_id')}` (report sha256 {str(baseline.get('report_sha256', ''))[:16]}); "
                "the base was not run."]


def _transfer_section(report: Mapping[str, Any]) -> list[str]:
    """The "MCQA went up, CLUE went down" contrast per gated pair, measured beside published
    (``clue.report.transfer_summary``); empty for a CLUE-only run of an unpublished pair."""
    from clue.report.transfer_summary import render_transfer

    return render_transfer(report)


def render_plot(report: Mapping[str, Any], path: Path) -> None:
    """Model vs base (and published, where known) per task, main metric, with 95% CI error bars.

    Written atomically with the same permissions as every other file of the run."""
    # A Figure on the Agg canvas directly: pyplot's import and its global figure manager are not needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    parts = [p for p in report["tasks"] if p["status"] == "ok"]
    tasks = list(dict.fromkeys(p["task"] for p in parts))
    names = {p["task"]: p["display_name"] for p in parts}
    models = list(report["models"])
    fig = Figure(figsize=(max(6.0, 1.3 * len(tasks) + 2), 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / max(len(models), 1)
    for k, model in enumerate(models):
        xs, ys, lo, hi, pubs = [], [], [], [], []
        for i, task in enumerate(tasks):
            part = next((p for p in parts if p["task"] == task and p["model"] == model), None)
            metric = _main_metric(part) if part else None
            if part is None or metric is None:
                continue
            m = part["metrics"][metric]
            xs.append(i + (k - (len(models) - 1) / 2) * width)
            ys.append(m["mean"])
            lo.append(max(m["mean"] - (m["ci_low"] if m["ci_low"] is not None else m["mean"]), 0))
            hi.append(max((m["ci_high"] if m["ci_high"] is not None else m["mean"]) - m["mean"], 0))
            pubs.append((xs[-1], _published(report, model, task, metric)))
        ax.bar(xs, ys, width=width * 0.9, yerr=[lo, hi], capsize=3, label=model)
        pub_pts = [(x, y) for x, y in pubs if y is not None]
        if pub_pts:
            ax.scatter(*zip(*pub_pts, strict=True), marker="D", color="black", zorder=3,
                       label="published CLUE" if k == 0 else None)
    ax.set_xticks(range(len(tasks)))
    ax.set_xticklabels([names[t] for t in tasks], rotation=30, ha="right")
    ax.set_ylabel("score (%), main metric, 95% CI")
    ax.set_ylim(0, 105)
    ax.set_title(f"clue run {report['run']['id']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    write_bytes(path, buffer.getvalue())


def _append_step_summary(markdown: str) -> None:
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        try:
            with open(step_summary, "a", encoding="utf-8") as fh:
                fh.write(markdown + "\n")
        except OSError:
            log.exception("could not append to $GITHUB_STEP_SUMMARY (%s)", step_summary)


def write_failure_summary(run_dir: Path, run_id: str, problem: str) -> None:
    """A summary for a run whose report could not be built: its outcome is unknown, so FAIL."""
    markdown = f"# FAIL: clue run `{run_id}`\n\n- {problem}\n"
    try:
        write_text(run_dir / "summary.md", markdown)
    except OSError:
        log.exception("could not write %s", run_dir / "summary.md")
    _append_step_summary(markdown)


def write_human_outputs(run_dir: Path, report: Mapping[str, Any]) -> None:
    markdown = render_markdown(report)
    write_text(run_dir / "summary.md", markdown)
    _append_step_summary(markdown)
    try:
        render_plot(report, run_dir / "plot.png")
    except Exception:  # a plot must never cost the run its report
        log.exception("could not draw plot.png")
    _write_transfer_plot(report, run_dir)


def _write_transfer_plot(report: Mapping[str, Any], run_dir: Path) -> None:
    from clue.report.transfer_summary import PLOT_FILE, render_transfer_plot

    try:
        render_transfer_plot(report, run_dir / PLOT_FILE)
    except Exception:  # a plot must never cost the run its report
        log.exception("could not draw %s", PLOT_FILE)
