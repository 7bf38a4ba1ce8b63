"""The transfer section of the summary: per gated pair, the measured difference on MCQA, CLUE Level 1,
Level 2 and the case challenges (CI, verdict) beside the published one, a sentence that says whether
a multiple-choice gain carried over ("MCQA went up, CLUE went down"), and a plot of MCQA difference
against CLUE difference per pair (``transfer.png``).

Shown when a pair's row holds more than the CLUE levels (an MCQA or case-challenge composite) or a
published difference; a CLUE-only run of an unpublished pair keeps the summary as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PLOT_FILE = "transfer.png"
COLUMNS = (("mcqa", "MCQA"), ("level1", "CLUE Level 1"), ("level2", "CLUE Level 2"), ("cases", "case challenges"))
CLUE_KEYS = ("level1", "level2")


def _signed(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:+.{digits}f}"


def shown_rows(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The transfer rows worth a section (see the module docstring)."""
    return [
        row for row in report.get("transfer") or ()
        if row.get("published") or set(row.get("composites", {})) - set(CLUE_KEYS)
    ]


def published_value(row: Mapping[str, Any], key: str) -> str:
    """The published difference of one column: GEM 2025 for MCQA and the levels, JAMIA 2025 for cases."""
    pub = row.get("published") or {}
    if key == "cases":
        cases = pub.get("cases") or []
        return ", ".join(f"{c['challenge']} {_signed(c['diff'], 1)}" for c in cases) or "-"
    gem = pub.get("gem2025") or {}
    return _signed(gem.get(key)) if key in gem else "-"


def measured_cell(composite: Mapping[str, Any] | None) -> str:
    if not composite or composite.get("diff") is None:
        return "-"
    partial = "" if composite.get("complete") else " (partial)"
    return (f"{_signed(composite['diff'])} [{_signed(composite['ci_low'])}, {_signed(composite['ci_high'])}] "
            f"{composite.get('verdict', '-')}{partial}")


def direction(composite: Mapping[str, Any] | None) -> str | None:
    """"up" / "down" when the CI lies above / below 0, "unchanged" when it covers 0, None when unmeasured."""
    if not composite or composite.get("diff") is None:
        return None
    if composite["ci_low"] is not None and composite["ci_low"] > 0:
        return "up"
    if composite["ci_high"] is not None and composite["ci_high"] < 0:
        return "down"
    return "unchanged"


def contrast(mcqa: str | None, clue: Sequence[str | None]) -> str:
    """The one-line reading of a pair: did the multiple-choice gain carry over to CLUE? ``clue`` holds
    the directions of Level 1 and Level 2 (None where unmeasured)."""
    known = {label: d for label, d in zip(("Level 1", "Level 2"), clue, strict=False) if d is not None}
    if mcqa is None or not known:
        return "not enough measured to compare MCQA with CLUE"
    dirs = set(known.values())
    if "down" in dirs and "up" in dirs:
        clue_text = "CLUE mixed (" + ", ".join(f"{label} {d}" for label, d in known.items()) + ")"
    elif "down" in dirs:
        clue_text = "CLUE went down"
    elif "up" in dirs:
        clue_text = "CLUE went up"
    else:
        clue_text = "CLUE did not move clearly"
    if mcqa == "up" and "down" in dirs:
        detail = f" ({clue_text})" if "up" in dirs else ""
        return f"**MCQA went up, CLUE went down**{detail}: the multiple-choice gain did not carry over to clinical work"
    if mcqa == "up" and dirs == {"up"}:
        return "MCQA and CLUE both went up: the gain carried over"
    mcqa_text = {"up": "MCQA went up", "down": "MCQA went down"}.get(mcqa, "MCQA did not move clearly")
    return f"{mcqa_text}; {clue_text}"


def _published_contrast(row: Mapping[str, Any]) -> str:
    gem = (row.get("published") or {}).get("gem2025")
    if not gem:
        return ""
    values = ", ".join(f"{label} {_signed(gem.get(key))}" for key, label in COLUMNS[:3] if gem.get(key) is not None)
    went = {k: (None if gem.get(k) is None else ("up" if gem[k] > 0 else "down" if gem[k] < 0 else "unchanged"))
            for k in ("mcqa", *CLUE_KEYS)}
    reading = contrast(went["mcqa"], [went[k] for k in CLUE_KEYS]) if went["mcqa"] else ""
    return f" Published ({gem['source']}: {gem['model']} vs {gem['base']}): {values}" + (f"; {reading}." if reading else ".")


def image_note(report: Mapping[str, Any]) -> list[str]:
    """How many items of a task needed the image the text-only run lacks (once per task and data file)."""
    seen: dict[tuple[str, str], str] = {}
    for part in report.get("tasks", ()):
        data = part.get("data") or {}
        needs = data.get("notes", {}).get("needs_image")
        if part.get("status") == "ok" and needs:
            seen.setdefault((part["display_name"], data.get("sha256", "")),
                            f"- {part['display_name']}: the data file flags {needs} items as needing the image; the run "
                            f"is text-only and scores them like the others ({part['n_examples']} items scored).")
    return list(seen.values())


def render_transfer(report: Mapping[str, Any]) -> list[str]:
    """Markdown lines of the transfer section ([] when there is nothing to show)."""
    rows = shown_rows(report)
    if not rows:
        return []
    head = " | ".join(f"{label} diff [95% CI] verdict | published" for _, label in COLUMNS)
    lines = [
        "", "## Transfer: does a multiple-choice gain carry over to clinical work?", "",
        "Model minus base on the same items, in points. A composite's verdict is the gate's on the tasks inside it. "
        "Published: Dada et al., GEM 2025, Table 3 (MCQA, Level 1, Level 2); Dorfner et al., JAMIA 2025 (case "
        "challenges, accuracy difference). MCQA = mean accuracy over MedQA, MedMCQA and PubMedQA; case challenges = "
        "mean accuracy over JAMA and NEJM.", "",
        f"| pair | {head} |",
        "|---|" + "---|---:|" * len(COLUMNS),
    ]
    for row in rows:
        cells = " | ".join(f"{measured_cell(row['composites'].get(key))} | {published_value(row, key)}" for key, _ in COLUMNS)
        lines.append(f"| {row['model']} vs {row['base']} | {cells} |")
    lines.append("")
    for row in rows:
        c = row["composites"]
        measured = ", ".join(f"{label} {_signed(c[key]['diff'])}" for key, label in COLUMNS if c.get(key, {}).get("diff") is not None)
        reading = contrast(direction(c.get("mcqa")), [direction(c.get(k)) for k in CLUE_KEYS])
        lines.append(f"- **{row['model']}** vs {row['base']}: measured {measured or 'nothing'}; {reading}."
                     f"{_published_contrast(row)}")
    lines += image_note(report)
    if plot_points(rows):
        lines += ["", f"![MCQA difference against CLUE difference per pair]({PLOT_FILE})"]
    return lines


def plot_points(rows: Sequence[Mapping[str, Any]]) -> list[tuple[int, str, str, str, Mapping[str, Any], Mapping[str, Any]]]:
    """(row index, "measured" / "published", level key, marker, x composite, y composite) per point."""
    points = []
    for k, row in enumerate(rows):
        c = row["composites"]
        gem = (row.get("published") or {}).get("gem2025") or {}
        for key, marker in (("level1", "o"), ("level2", "s")):
            x, y = c.get("mcqa"), c.get(key)
            if x and y and x.get("diff") is not None and y.get("diff") is not None:
                points.append((k, "measured", key, marker, x, y))
            if gem.get("mcqa") is not None and gem.get(key) is not None:
                points.append((k, "published", key, marker, {"diff": gem["mcqa"]}, {"diff": gem[key]}))
    return points


def render_transfer_plot(report: Mapping[str, Any], path: Path) -> bool:
    """MCQA difference (x) against CLUE Level 1 and Level 2 difference (y) per pair, measured with 95% CI
    bars and published as hollow markers. Returns False (and draws nothing) when no point exists."""
    rows = shown_rows(report)
    points = plot_points(rows)
    if not points:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 5.0))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, kind, key, marker, x, y in points:
        colour = colours[k % len(colours)]
        level = "L1" if key == "level1" else "L2"
        label = f"{rows[k]['model']} vs {rows[k]['base']}, {level}, {kind}"
        if kind == "measured":
            xerr = [[max(x["diff"] - x["ci_low"], 0)], [max(x["ci_high"] - x["diff"], 0)]]
            yerr = [[max(y["diff"] - y["ci_low"], 0)], [max(y["ci_high"] - y["diff"], 0)]]
            ax.errorbar([x["diff"]], [y["diff"]], xerr=xerr, yerr=yerr, fmt=marker, color=colour, capsize=3, label=label)
        else:
            ax.scatter([x["diff"]], [y["diff"]], marker=marker, facecolors="none", edgecolors=colour, s=60, label=label)
    # keep 0 in view on both axes, and shade the quadrant where an MCQA gain meets a CLUE loss
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    span = max(x1 - x0, y1 - y0, 2.0) * 0.08
    x0, x1, y0, y1 = min(x0, -span), max(x1, span), min(y0, -span), max(y1, span)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.fill_between([0, x1], y0, 0, color="tab:red", alpha=0.07, linewidth=0)
    ax.text(x1, y0, "MCQA up, CLUE down ", ha="right", va="bottom", fontsize=8, color="tab:red")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("MCQA difference, model - base (points)")
    ax.set_ylabel("CLUE Level difference, model - base (points)")
    ax.set_title(f"clue run {report['run']['id']}: does the MCQA gain carry over?")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
