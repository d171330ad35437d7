"""The benchmark's outputs: a Markdown table (printed and written) and an HTML page with the
best-so-far curves as PNGs inlined (self-contained, like ``bilevel report``'s page)."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .measures import TARGET_REGRET, GoalRow, MethodSummary, goal_met

# Regret is plotted on a log axis from this floor: 0 (the optimum) has no logarithm.
PLOT_FLOOR = 1e-4
PLOT_DPI = 90
# Values below this print in scientific notation, not as a misleading 0.000.
SMALL = 0.001


@dataclass
class ProblemResult:
    name: str
    optimum: float
    optimum_known: bool
    summaries: list[MethodSummary]
    curves: dict[str, list[float]]  # method -> median normalised regret after each trial


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if 0 < abs(value) < SMALL:  # two regrets of "0.000" may still differ: show which is lower
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def problem_table(result: ProblemResult) -> list[str]:
    lines = [
        f"### {result.name} (f* = {result.optimum:.6g}, "
        f"{'known optimum' if result.optimum_known else 'best found by any method'})",
        "",
        "| method | seeds | median regret | IQR | mean rank | trials to target | p vs builtin | builtin |",
        "|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for s in sorted(result.summaries, key=lambda s: s.mean_rank):
        cmp = s.vs_reference
        reach = (
            f"{s.median_trials_to_target} ({s.reached}/{s.seeds})"
            if s.median_trials_to_target is not None
            else f"- ({s.reached}/{s.seeds})"
        )
        lines.append(
            f"| {s.method} | {s.seeds} | {_num(s.median)} | {_num(s.q1)}–{_num(s.q3)} | "
            f"{_num(s.mean_rank, 2)} | {reach} | {_p(cmp.p_value if cmp else None)} | "
            f"{cmp.outcome if cmp else 'reference'} |"
        )
    return lines


def wtl_table(results: Sequence[ProblemResult]) -> list[str]:
    """From the built-in agent's side: problems where it is significantly better (win),
    not distinguishable (tie) or significantly worse (loss) than each method."""
    methods: dict[str, list[str]] = {}
    for r in results:
        for s in r.summaries:
            if s.vs_reference is not None:
                methods.setdefault(s.method, []).append(s.vs_reference.outcome)
    lines = ["| builtin vs | win | tie | loss |", "|---|---:|---:|---:|"]
    for method, outcomes in methods.items():
        lines.append(
            f"| {method} | {outcomes.count('win')} | {outcomes.count('tie')} | "
            f"{outcomes.count('loss')} |"
        )
    return lines


def goal_table(rows: Sequence[GoalRow]) -> list[str]:
    lines = [
        "| problem | builtin median | best Optuna (median) | no worse? | p vs random | better than random? |",
        "|---|---:|---|---|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.problem} | {_num(r.builtin_median)} | {r.best_optuna} "
            f"({_num(r.best_optuna_median)}) | {'yes' if r.no_worse_than_optuna else 'no'} | "
            f"{_p(r.random_p)} | {'yes' if r.better_than_random else 'no'} |"
        )
    share = sum(r.no_worse_than_optuna for r in rows)
    lines += [
        "",
        f"Goal: no worse than the best Optuna sampler on ≥ 70% of the cheap problems "
        f"({share}/{len(rows)}) and better than random on every one "
        f"({sum(r.better_than_random for r in rows)}/{len(rows)}): "
        f"**{'met' if goal_met(rows) else 'not met'}**.",
    ]
    return lines


def markdown(
    header: Sequence[str], results: Sequence[ProblemResult], goal: Sequence[GoalRow]
) -> str:
    lines = [*header, ""]
    lines += [
        f"Normalised regret after the last trial (0 = optimum, 1 = no better than the defaults); "
        f"median and IQR over seeds; ranks per seed, averaged; trials to reach regret ≤ "
        f"{TARGET_REGRET} (median seed; reached/seeds); two-sided paired sign-flip p-value of "
        f"each method's final regret against the built-in agent's on the same seeds.",
        "",
    ]
    for result in results:
        lines += [*problem_table(result), ""]
    lines += ["## Win / tie / loss (p < 0.05)", "", *wtl_table(results), ""]
    if goal:
        lines += ["## The goal on the cheap problems", "", *goal_table(goal), ""]
    return "\n".join(lines)


def curve_png(result: ProblemResult) -> str:
    """A PNG (base64) of the median best-so-far regret per method over trials."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.6), dpi=PLOT_DPI)
    for method, curve in sorted(result.curves.items()):
        ax.plot(
            range(1, len(curve) + 1),
            [max(v, PLOT_FLOOR) for v in curve],
            label=method,
            linewidth=2.2 if method == "builtin" else 1.3,
        )
    ax.set_yscale("log")
    ax.set_xlabel("trials (defaults first)")
    ax.set_ylabel("median normalised regret")
    ax.set_title(result.name)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _md_table_html(lines: Sequence[str]) -> str:
    """The Markdown tables of this module as HTML (pipes only; cells are escaped)."""
    rows = [line.strip("|").split("|") for line in lines if line.startswith("|")]
    if len(rows) < 2:
        return ""
    head, body = rows[0], rows[2:]
    out = ["<table><thead><tr>"]
    out += [f"<th>{html.escape(c.strip())}</th>" for c in head]
    out.append("</tr></thead><tbody>")
    for row in body:
        out.append("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
    "padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
    "img{max-width:100%}"
)


def html_page(
    header: Sequence[str], results: Sequence[ProblemResult], goal: Sequence[GoalRow]
) -> str:
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        "<title>Search quality</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Search quality</h1>",
    ]
    parts += [f"<p>{html.escape(line.lstrip('# '))}</p>" for line in header if line.strip()]
    if goal:
        parts.append("<h2>The goal on the cheap problems</h2>")
        rows = goal_table(goal)
        parts.append(_md_table_html(rows))
        parts.append(f"<p>{html.escape(rows[-1].replace('**', ''))}</p>")
    parts.append("<h2>Win / tie / loss of the built-in agent (p &lt; 0.05)</h2>")
    parts.append(_md_table_html(wtl_table(results)))
    for result in results:
        table = problem_table(result)
        parts.append(f"<h2>{html.escape(table[0].lstrip('# '))}</h2>")
        parts.append(
            f'<img alt="median best-so-far regret, {html.escape(result.name)}" '
            f'src="data:image/png;base64,{curve_png(result)}">'
        )
        parts.append(_md_table_html(table[2:]))
    parts.append("</body></html>")
    return "\n".join(parts)
