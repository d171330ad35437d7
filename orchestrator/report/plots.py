"""The figures of one study's report, each returned as PNG bytes (None when there is no data)."""

from __future__ import annotations

import itertools
import math
from datetime import datetime
from typing import Any

from contract.trials import BASELINE_SOURCE
from orchestrator.report import style
from orchestrator.report.data import ReportTrialRow, RunData

# More panels than this stop being readable at page width; the most-changed params win.
MAX_PARAM_PANELS = 12
PARAM_COLUMNS = 3
# Ticks on a log-scaled parameter axis: enough to read a value, few enough to stay clean.
LOG_TICKS = 4
# The study's levels in the order they run, for the LLM-call raster.
ROLE_ORDER = ("level1", "level15", "explore", "critique", "specify", "generate", "repair")
# The progress plot shows values up to 3 × (the improvement) past the baseline: the improvement
# stays readable and the worst trials still show as off-scale markers along the top.
ZOOM_SPANS = 3.0
# ... with a span of at least 1% of the baseline, so a study without progress is not zoomed
# into its noise.
ZOOM_MIN_SPAN = 0.01
# Failed trials have no value; they are drawn as ticks just under the axis floor.
FAILED_MARKER = "x"


def progress(run: RunData) -> bytes | None:
    """The metric per trial, best so far, noise floor, and promotions/reverts/research marked."""
    trials = run.trials
    if not trials:
        return None
    with style.figure(height=3.6) as (fig, ax):
        baseline = run.baseline_value
        metric = run.metric
        if baseline is not None and run.noise_floor:
            ax.axhspan(
                baseline - run.noise_floor,
                baseline + run.noise_floor,
                color=style.NOISE,
                label=f"baseline ± noise floor ({run.noise_floor:.4f})",
                zorder=0,
            )
        ok = [t for t in trials if t.value is not None]
        ceiling = _zoom_ceiling(run, [t.value for t in ok if t.value is not None])
        outliers = [t for t in ok if t.value is not None and metric.better(ceiling, t.value)]
        ok = [t for t in ok if t not in outliers]
        kept = [t for t in ok if t.kept]
        other = [t for t in ok if not t.kept]
        if outliers:
            ax.scatter(
                [t.index for t in outliers],
                [ceiling] * len(outliers),
                marker="v" if metric.maximize else "^",
                s=22,
                color=style.DISCARDED,
                label=f"off scale ({'<' if metric.maximize else '>'} {ceiling:.3f})",
                zorder=2,
                clip_on=False,
            )
        ax.scatter(
            [t.index for t in other],
            [t.value for t in other],
            s=16,
            color=style.DISCARDED,
            label="discarded",
            zorder=2,
        )
        ax.scatter(
            [t.index for t in kept],
            [t.value for t in kept],
            s=22,
            color=style.KEPT,
            label="kept",
            zorder=3,
        )
        curve = [(i, b) for i, b in run.best_so_far() if b is not None]
        if curve:
            ax.step(
                [i for i, _ in curve],
                [b for _, b in curve],
                where="post",
                color=style.BEST,
                linewidth=1.4,
                label="best so far",
                zorder=4,
            )
        failed = [t for t in trials if t.value is None]
        if ok and failed:
            low = min(t.value for t in ok if t.value is not None)
            ax.scatter(
                [t.index for t in failed],
                [low] * len(failed),
                marker=FAILED_MARKER,
                s=18,
                color=style.FAILED,
                label=f"failed (no {metric.name})",
                zorder=3,
                clip_on=False,
            )
        _mark_events(ax, run)
        _integer_x(ax)
        ax.set_title(f"{metric.name} per trial — {run.study or run.run_dir.name}")
        ax.set_xlabel("trial index")
        ax.set_ylabel(
            "validation bits per byte (lower is better)"
            if metric.name == "val_bpb"
            else f"{metric.name} ({metric.word})"
        )
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4)
        return style.png(fig)


def _zoom_ceiling(run: RunData, values: list[float]) -> float:
    """Top of the progress plot's y axis: the region where the search makes progress.

    Diverging configurations (val_bpb 8 against a 4.3 baseline) would squash the best-so-far
    curve into a flat line; values above ``baseline + ZOOM_SPANS × progress`` are drawn as
    off-scale markers instead. +inf (no zoom) when nothing lies that far out.
    """
    baseline, best = run.baseline_value, run.best_value
    metric = run.metric
    far = -math.inf if metric.maximize else math.inf
    if baseline is None or best is None or not values:
        return far
    gain = metric.improvement(baseline, best) or 0.0
    span = max(gain, run.noise_floor or 0.0, ZOOM_MIN_SPAN * abs(baseline))
    # The worse side of the baseline: above it when minimising, below when maximising.
    ceiling = baseline - ZOOM_SPANS * span if metric.maximize else baseline + ZOOM_SPANS * span
    worst = min(values) if metric.maximize else max(values)
    return ceiling if metric.better(ceiling, worst) else far


def _mark_events(ax: Any, run: RunData) -> None:
    seen: set[str] = set()
    for marker in sorted(run.markers, key=lambda m: m.iteration):
        colour, label, line = {
            "promoted": (style.PROMOTED, "mechanism promoted", "-"),
            "reverted": (style.REVERTED, "mechanism reverted", "--"),
            "research": (style.RESEARCH, "research session started", ":"),
            "restart": (style.RESTART, "Level-1 context reset", "-."),
        }[marker.kind]
        ax.axvline(
            marker.iteration - 0.5,
            color=colour,
            linestyle=line,
            linewidth=1.0,
            alpha=0.85,
            label=None if marker.kind in seen else label,
            zorder=1,
        )
        seen.add(marker.kind)
        if marker.kind in ("promoted", "reverted"):
            ax.annotate(
                marker.label,
                xy=(marker.iteration - 0.5, 1.0),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
                color=colour,
            )


def _log_ticks(low: float, high: float, count: int = LOG_TICKS) -> list[float]:
    """``count`` ticks evenly spaced in log between low and high, at two significant digits."""
    if high <= low * 1.0001:
        return [low]
    step = (math.log10(high) - math.log10(low)) / (count - 1)
    return sorted({float(f"{10 ** (math.log10(low) + i * step):.2g}") for i in range(count)})


def _integer_x(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _varied_params(run: RunData) -> list[str]:
    """Params whose value changed at least once, most-changed first."""
    trials = run.search_trials()
    changes: dict[str, int] = {}
    for prev, cur in itertools.pairwise(trials):
        for name, value in cur.config.items():
            if prev.config.get(name) != value:
                changes[name] = changes.get(name, 0) + 1
    ordered = sorted(changes, key=lambda n: (-changes[n], n))
    return ordered[:MAX_PARAM_PANELS]


def parameters(run: RunData) -> bytes | None:
    """Each varied hyperparameter over the trials: tried values and the incumbent's value."""
    names = _varied_params(run)
    if not names:
        return None
    space = _space(run)
    trials = run.search_trials()
    rows = math.ceil(len(names) / PARAM_COLUMNS)
    with style.figure(height=1.9 * rows + 0.4, nrows=rows, ncols=PARAM_COLUMNS, squeeze=False) as (
        fig,
        axes,
    ):
        for slot, ax in enumerate(axes.flat):
            if slot >= len(names):
                ax.set_visible(False)
                continue
            _param_panel(ax, names[slot], trials, space.get(names[slot]))
            if slot + PARAM_COLUMNS >= len(names):  # lowest panel of its column
                ax.set_xlabel("trial index")
        handles = [
            _dot(style.KEPT, "kept"),
            _dot(style.DISCARDED, "discarded"),
            _line(style.BEST, "incumbent"),
        ]
        fig.legend(handles=handles, loc="upper center", ncol=3, bbox_to_anchor=(0.5, 1.0))
        fig.suptitle("Hyperparameter trajectories", y=1.04, fontweight="bold", fontsize=10)
        fig.tight_layout()
        return style.png(fig)


def _param_panel(ax: Any, name: str, trials: list[ReportTrialRow], param: Any) -> None:
    choices = list(param.choices) if param is not None and param.kind == "choice" else None
    if choices is None:
        seen = [t.config.get(name) for t in trials if t.config.get(name) is not None]
        if any(not isinstance(v, int | float) or isinstance(v, bool) for v in seen):
            choices = sorted({str(v) for v in seen})

    def y(value: Any) -> float | None:
        if value is None:
            return None
        if choices is not None:
            return float(choices.index(value)) if value in choices else None
        return float(value)

    incumbent: list[tuple[int, float | None]] = []
    current: Any = trials[0].config.get(name) if trials else None
    for trial in trials:
        if trial.kept or trial.source == BASELINE_SOURCE:
            current = trial.config.get(name)
        incumbent.append((trial.index, y(current)))
    for kept, colour, size in ((False, style.DISCARDED, 10), (True, style.KEPT, 14)):
        picked = [t for t in trials if t.kept == kept and y(t.config.get(name)) is not None]
        ax.scatter(
            [t.index for t in picked],
            [y(t.config.get(name)) for t in picked],
            s=size,
            color=colour,
            zorder=3 if kept else 2,
        )
    ax.step(
        [i for i, _ in incumbent],
        [v if v is not None else math.nan for _, v in incumbent],
        where="post",
        color=style.BEST,
        linewidth=1.0,
        zorder=4,
    )
    if choices is not None:
        ax.set_yticks(range(len(choices)), [str(c) for c in choices])
    elif param is not None and param.log and all((y(t.config.get(name)) or 0) > 0 for t in trials):
        from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

        ax.set_yscale("log", base=2 if param.kind == "pow2" else 10)
        if param.kind == "pow2":  # powers of two read as powers of two
            ax.yaxis.set_major_locator(LogLocator(base=2))
        else:  # a few round values across the range tried: decades are often too wide
            shown = [v for t in trials if (v := y(t.config.get(name))) is not None]
            ax.yaxis.set_major_locator(FixedLocator(_log_ticks(min(shown), max(shown))))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
        ax.yaxis.set_minor_locator(NullLocator())
    _integer_x(ax)
    ax.set_title(name, fontsize=8.5)
    ax.tick_params(labelsize=7)


def _space(run: RunData) -> dict[str, Any]:
    """The study's parameters: from its journaled config (any objective), else the preset."""
    from trainer.presets import PRESETS

    try:
        from orchestrator.config import StudyConfig

        space = StudyConfig.model_validate(run.config).search_space()
        return {p.name: p for p in space.params}
    except Exception:  # an old or partial journal: the preset's space is the best guess
        preset = PRESETS.get(run.preset or "")
        return {p.name: p for p in preset.space.params} if preset else {}


def _dot(colour: str, label: str) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], marker="o", linestyle="", color=colour, label=label, markersize=5)


def _line(colour: str, label: str) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], color=colour, label=label)


def mechanisms(run: RunData) -> bytes | None:
    """How many trials each mechanism fired on ('active' means observed firing)."""
    counts = run.firing_counts()
    if not counts:
        return None
    names = sorted(counts, key=lambda n: (counts[n], n))
    reverted = {m.label for m in run.markers if m.kind == "reverted"}
    with style.figure(height=1.2 + 0.3 * len(names)) as (fig, ax):
        from matplotlib.patches import Patch
        from matplotlib.ticker import MaxNLocator

        colours = [style.REVERTED if n in reverted else style.PROMOTED for n in names]
        bars = ax.barh(names, [counts[n] for n in names], color=colours, height=0.5)
        ax.bar_label(bars, padding=3, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("trials on which the mechanism fired")
        ax.set_title("Mechanism firing counts")
        ax.grid(axis="y", visible=False)
        ax.legend(
            handles=[
                Patch(color=style.PROMOTED, label="active at the end"),
                Patch(color=style.REVERTED, label="reverted"),
            ],
            loc="lower right",
        )
        return style.png(fig)


def statuses(run: RunData) -> bytes | None:
    """Trials by outcome status."""
    counts = run.status_counts()
    if not counts:
        return None
    order = [s for s in style.STATUS_COLOURS if s in counts] + sorted(
        s for s in counts if s not in style.STATUS_COLOURS
    )
    with style.figure(width=4.6, height=2.6) as (fig, ax):
        bars = ax.bar(
            order,
            [counts[s] for s in order],
            color=[style.STATUS_COLOURS.get(s, style.OKABE_ITO["grey"]) for s in order],
            width=0.6,
        )
        ax.bar_label(bars, padding=2, fontsize=8)
        ax.set_ylabel("trials")
        ax.set_title("Trial outcomes")
        ax.grid(axis="x", visible=False)
        ax.margins(y=0.15)
        return style.png(fig)


def llm_usage(run: RunData) -> bytes | None:
    """Cumulative LLM calls per role and cumulative cost over the study's wall-clock time."""
    calls = [c for c in run.llm_calls if c.at is not None]
    if not calls:
        return None
    start = run.started_at or min(c.at for c in calls if c.at is not None)

    def minutes(at: datetime | None) -> float:
        return (at - start).total_seconds() / 60.0 if at is not None and start else 0.0

    calls.sort(key=lambda c: minutes(c.at))
    roles = sorted(
        {c.role for c in calls}, key=lambda r: (ROLE_ORDER.index(r) if r in ROLE_ORDER else 99, r)
    )
    with style.figure(
        height=2.6 + 0.25 * len(roles), nrows=2, sharex=True, height_ratios=[len(roles) + 1, 6]
    ) as (fig, (top, bottom)):
        for row, role in enumerate(roles):
            times = [minutes(c.at) for c in calls if c.role == role and c.ok]
            top.eventplot(
                [times],
                lineoffsets=row,
                linelengths=0.7,
                colors=style.ROLE_COLOURS.get(role, style.BEST),
            )
            failed = [minutes(c.at) for c in calls if c.role == role and not c.ok]
            if failed:
                top.plot(failed, [row] * len(failed), "x", color=style.FAILED, markersize=5)
        top.set_yticks(
            range(len(roles)), [f"{r} ({sum(c.role == r for c in calls)})" for r in roles]
        )
        top.set_ylim(-0.7, len(roles) - 0.3)
        top.invert_yaxis()
        top.grid(axis="y", visible=False)
        failures = sum(not c.ok for c in calls)
        top.set_title(
            f"LLM calls over time ({len(calls)} calls, {failures} failed: ×) and total cost"
        )
        total = 0.0
        cost: list[float] = []
        for call in calls:
            total += call.cost_usd
            cost.append(total)
        bottom.step([minutes(c.at) for c in calls], cost, where="post", color=style.BEST)
        bottom.set_ylabel("total cost (USD)")
        bottom.set_xlabel("minutes since study start")
        fig.tight_layout()
        return style.png(fig)
