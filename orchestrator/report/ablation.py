"""The ablation report: one table of Δ (the study's metric) per group beside the paper's, and the curves.

An ablation folder holds one study folder per run, named ``<group>-r<repeat>`` (see
:mod:`orchestrator.ablation`). Only finished runs enter the statistics; unfinished ones are
listed so a reader knows the table is partial.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator import stats
from orchestrator.ablation_groups import GROUPS
from orchestrator.errors import UserError
from orchestrator.events import StudyFinished
from orchestrator.journal import JOURNAL_FILENAME as JOURNAL_NAME
from orchestrator.metric import Metric
from orchestrator.report import style
from orchestrator.report.data import RunData, load_run
from orchestrator.report.document import Document
from orchestrator.report.study import ReportPaths, fmt

RUN_DIR_PATTERN = re.compile(r"^(?P<group>[A-Z])-r(?P<repeat>\d+)$")
# What each group runs; the wording of `bilevel ablation --help`.
GROUP_LEVELS = {name: group.levels for name, group in GROUPS.items()}
# The order groups appear in tables and legends, whatever order they were run in.
GROUP_ORDER = "ABCDRN"


@dataclass(frozen=True)
class AblationRun:
    group: str
    repeat: int
    run: RunData


def is_ablation_dir(folder: Path) -> bool:
    return any(_runs_in(folder))


def _runs_in(folder: Path) -> list[tuple[str, int, Path]]:
    found = []
    for child in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else []:
        match = RUN_DIR_PATTERN.match(child.name)
        if match and (child / JOURNAL_NAME).is_file():
            found.append((match["group"], int(match["repeat"]), child))
    return found


def load_ablation(folder: Path) -> list[AblationRun]:
    runs = [AblationRun(g, k, load_run(path)) for g, k, path in _runs_in(folder)]
    if not runs:
        raise UserError(
            f"no runs (folders like A-r0/{JOURNAL_NAME}) in {folder}; "
            "pass the --out folder of `bilevel ablation`"
        )
    return sorted(runs, key=lambda r: (_group_rank(r.group), r.repeat))


def _group_rank(group: str) -> int:
    return GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER)


def deltas_by_group(runs: list[AblationRun]) -> dict[str, dict[int, float]]:
    """``{group: {repeat: Δ}}`` (best − baseline) over finished runs, groups in table order."""
    table: dict[str, dict[int, float]] = {}
    for item in runs:
        if item.run.finished and item.run.delta is not None:
            table.setdefault(item.group, {})[item.repeat] = item.run.delta
    return table


def write_ablation_report(folder: Path) -> ReportPaths:
    runs = load_ablation(Path(folder))
    markdown, page = build_document(Path(folder), runs).write(Path(folder))
    return ReportPaths(markdown=markdown, html=page)


def runs_metric(runs: list[AblationRun]) -> Metric:
    """The metric of an ablation's runs (all runs share the base study's objective)."""
    return runs[0].run.metric if runs else Metric()


def better_sign(metric: Metric) -> str:
    return "positive" if metric.maximize else "negative"


def stats_table(
    rows: list[stats.GroupStats], metric: Metric | None = None
) -> tuple[list[str], list[list[str]], list[bool]]:
    metric = metric or Metric()
    headers = [
        "group",
        "levels",
        "n",
        f"mean Δ{metric.name}",
        "sd",
        "95% CI (bootstrap)",
        "ratio to A",
        "p vs A",
        "paper mean Δ",
    ]
    body = []
    for row in rows:
        paper = stats.paper_row(row.group, metric.name)
        body.append(
            [
                row.group,
                GROUP_LEVELS.get(row.group, "?"),
                str(row.n),
                fmt(row.mean, signed=True),
                "–" if math.isnan(row.sd) else fmt(row.sd),
                f"[{fmt(row.ci_low, signed=True)}, {fmt(row.ci_high, signed=True)}]",
                "–" if row.ratio_to_reference is None else f"{row.ratio_to_reference:.2f}×",
                _p(row),
                fmt(paper.mean_delta, 3, signed=True) if paper else "–",
            ]
        )
    numeric = [False, False, True, True, True, True, True, True, True]
    if metric.name != "val_bpb":  # the paper measured val_bpb: no column to compare with
        return headers[:-1], [row[:-1] for row in body], numeric[:-1]
    return headers, body, numeric


def _p(row: stats.GroupStats) -> str:
    if row.p_vs_reference is None or math.isnan(row.p_vs_reference):
        return "–"
    return f"{row.p_vs_reference:.3f}" + (" (paired)" if row.paired else " (unpaired)")


def build_document(folder: Path, runs: list[AblationRun]) -> Document:
    doc = Document(title=f"Ablation report: {folder.resolve().name}")
    finished = [r for r in runs if r.run.finished]
    unfinished = [r for r in runs if not r.run.finished]
    metric = runs_metric(runs)
    doc.paragraph(
        f"{len(finished)} finished runs, {len(unfinished)} unfinished, in {folder}. "
        f"Δ{metric.name} = best − baseline of each run ({better_sign(metric)} is better): the "
        "mean of the best's fresh-seed re-runs minus the baseline's on the same seeds when the "
        "run made them (noise-aware), else the search's best draw (the selection figure, "
        "biased towards luck). The runs table shows both, and the held-out test split's Δ.",
        note=True,
    )
    rows = stats.summarize_groups(deltas_by_group(runs))
    doc.heading(f"Δ{metric.name} by group")
    headers, body, numeric = stats_table(rows, metric)
    doc.table(headers, body, numeric)
    doc.paragraph(
        "Interval: percentile bootstrap of the mean "
        f"({stats.BOOTSTRAP_RESAMPLES} resamples, seed {stats.SEED}). p: two-sided exact "
        "sign-flip permutation test on paired repeats (same seed in both groups), else a "
        "two-sample permutation test. With n paired repeats the smallest possible p is "
        "2/2^n (0.25 for n = 3), so a few repeats cannot reach p < 0.05 however large the "
        "effect."
        + (
            f" Paper: {stats.PAPER_SETUP}; it reports means only."
            if metric.name == "val_bpb"
            else " The paper's figures are GPT val_bpb and are not shown for this metric."
        ),
        note=True,
    )
    curves = curve_plot(runs)
    if curves is not None:
        doc.figure(
            "ablation-curves",
            curves,
            f"Best-so-far Δ{metric.name} per trial: thin lines are repeats, thick lines the "
            "group mean.",
        )
    spread = delta_plot(rows, runs)
    if spread is not None:
        doc.figure(
            "ablation-deltas",
            spread,
            f"Final Δ{metric.name} of every run (dots) with the group mean and 95% bootstrap "
            "interval; "
            "diamonds: the paper's means.",
        )
    doc.heading("Runs")
    doc.table(
        [
            "run",
            "group",
            "repeat",
            "trials",
            "baseline",
            "best",
            f"Δ{metric.name}",
            "Δ selection",
            "Δ re-runs",
            "Δ test",
            "state",
            "report",
        ],
        [
            [
                r.run.run_dir.name,
                r.group,
                str(r.repeat),
                str(len(r.run.trials)),
                fmt(r.run.baseline_value),
                fmt(r.run.best_value),
                fmt(r.run.delta, signed=True),
                fmt(r.run.selection_delta, signed=True),
                fmt(r.run.rerun_delta, signed=True),
                fmt(_test_delta(r.run), signed=True),
                "finished" if r.run.finished else "unfinished",
                f"`{r.run.run_dir.name}/report.html`"
                if (r.run.run_dir / "report.html").is_file()
                else "–",
            ]
            for r in runs
        ],
        numeric=[False, False, True, True, True, True, True, True, True, True, False, False],
    )
    return doc


def _test_delta(run: RunData) -> float | None:
    """best − baseline on the held-out test split (GPT, noise-aware runs)."""
    summary = run.summary or StudyFinished()
    best, base = summary.test_best, summary.test_baseline
    return None if best is None or base is None else float(best) - float(base)


def _delta_curve(run: RunData) -> list[float]:
    """Best − baseline after 1, 2, ... search trials."""
    baseline = run.baseline_value
    if baseline is None:
        return []
    return [b - baseline for _, b in run.best_so_far() if b is not None]


def _steps(ax: Any, values: list[float], **line: Any) -> None:
    # Value k holds over (k-1, k] trials done, so the last trial's segment is drawn too.
    ax.step(range(len(values) + 1), [values[0], *values], where="pre", **line)


def curve_plot(runs: list[AblationRun]) -> bytes | None:
    by_group: dict[str, list[tuple[bool, list[float]]]] = {}
    for item in runs:
        curve = _delta_curve(item.run)
        if curve:
            by_group.setdefault(item.group, []).append((item.run.finished, curve))
    if not by_group:
        return None
    with style.figure(height=3.6) as (fig, ax):
        from matplotlib.ticker import MaxNLocator

        for group, entries in by_group.items():
            colour = style.group_colour(group)
            for _, curve in entries:
                _steps(ax, curve, color=colour, alpha=0.35, linewidth=0.8)
            # The mean is over finished runs (all runs while none has finished yet).
            curves = [c for done, c in entries if done] or [c for _, c in entries]
            length = min(len(c) for c in curves)
            mean = [sum(c[t] for c in curves) / len(curves) for t in range(length)]
            _steps(
                ax,
                mean,
                color=colour,
                linewidth=2.0,
                label=f"{group}: {GROUP_LEVELS.get(group, '?')} (n={len(curves)})",
            )
        ax.axhline(0.0, color="#999999", linewidth=0.8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(left=0)
        ax.set_xlabel("search trials finished (baseline included)")
        metric = runs_metric(runs)
        ax.set_ylabel(f"best − baseline {metric.name}")
        ax.set_title(f"Best-so-far improvement by group ({metric.word})")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
        return style.png(fig)


def delta_plot(rows: list[stats.GroupStats], runs: list[AblationRun]) -> bytes | None:
    if not rows:
        return None
    metric = runs_metric(runs)
    with style.figure(width=5.6, height=3.0) as (fig, ax):
        for x, row in enumerate(rows):
            colour = style.group_colour(row.group)
            values = [
                r.run.delta
                for r in runs
                if r.group == row.group and r.run.finished and r.run.delta is not None
            ]
            jitter = [(j - (len(values) - 1) / 2) * 0.06 for j in range(len(values))]
            ax.scatter([x + j for j in jitter], values, s=18, color=colour, alpha=0.7, zorder=3)
            ax.errorbar(
                x + 0.25,
                row.mean,
                yerr=[[row.mean - row.ci_low], [row.ci_high - row.mean]],
                fmt="o",
                color=colour,
                capsize=3,
                markersize=6,
                zorder=4,
            )
            paper = stats.paper_row(row.group, metric.name)
            if paper:
                ax.scatter(
                    x + 0.25,
                    paper.mean_delta,
                    marker="D",
                    s=30,
                    facecolor="white",
                    edgecolor=colour,
                    zorder=5,
                    label="paper mean" if row.group == "A" or x == 0 else None,
                )
        ax.axhline(0.0, color="#999999", linewidth=0.8)
        ax.set_xticks(range(len(rows)), [r.group for r in rows])
        ax.set_xlabel("group")
        ax.set_ylabel(f"Δ{metric.name} = best − baseline")
        ax.set_title("Final improvement per run, mean and 95% CI")
        ax.grid(axis="x", visible=False)
        if any(stats.paper_row(r.group, metric.name) for r in rows):
            from matplotlib.lines import Line2D

            ax.legend(
                handles=[
                    Line2D([], [], marker="o", linestyle="", color="#555555", label="run"),
                    Line2D([], [], marker="o", color="#555555", label="mean ± 95% CI"),
                    Line2D(
                        [],
                        [],
                        marker="D",
                        linestyle="",
                        markerfacecolor="white",
                        color="#555555",
                        label="paper mean",
                    ),
                ],
                loc="best",
            )
        return style.png(fig)
