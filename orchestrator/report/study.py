"""The report of one study: ``report.md`` and a self-contained ``report.html`` beside its journal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.events import StudyFinished
from orchestrator.patches import SHORT_SHA
from orchestrator.report import plots
from orchestrator.report.data import ReportTrialRow, RunData, load_run
from orchestrator.report.document import Document

# The top of the leaderboard; the full trial table is in the journal.
TOP_TRIALS = 10
# Hypotheses can be paragraphs; a table cell shows the start.
HYPOTHESIS_CHARS = 90
# A code trial's hypothesis and error, shown above its diff (the journal keeps them whole).
MAX_CODE_HYPOTHESIS_CHARS = 600
MAX_CODE_ERROR_CHARS = 600


@dataclass(frozen=True)
class ReportPaths:
    markdown: Path
    html: Path


def write_report(run_dir: Path) -> ReportPaths:
    """Derive the report of the study in ``run_dir`` from its journal and write it there.

    Safe to call on a running or killed study: it reports what the journal holds so far.
    """
    run = load_run(Path(run_dir))
    markdown, page = build_document(run).write(run.run_dir)
    return ReportPaths(markdown=markdown, html=page)


def report_line(run_dir: Path) -> str:
    """Write the report and return the line ``bilevel study`` prints at its end.

    Never raises: a study that finished must not fail because its report could not be
    drawn; the line then says why and how to retry.
    """
    try:
        return f"report: {write_report(run_dir).html}"
    except Exception as exc:  # the study's result is safe in its journal either way
        return f"report: not written ({type(exc).__name__}: {exc}); retry with `bilevel report {run_dir}`"


def fmt(value: float | None, digits: int = 4, *, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def build_document(run: RunData) -> Document:
    doc = Document(title=f"Study report: {run.study or run.run_dir.name}")
    state = "finished" if run.finished else "not finished (report of the journal so far)"
    doc.paragraph(
        f"Agent `{run.agent or '?'}` · {_objective_label(run)} · {len(run.trials)} trials · "
        f"{state} · hardware: {run.hardware or 'unknown'}",
        note=True,
    )
    _summary(doc, run)
    for name, png, caption in (
        (
            "progress",
            plots.progress(run),
            f"{run.metric.name} of every trial ({run.metric.word}); the black step is the best "
            "so far under the study's "
            "acceptance rule; vertical lines mark research sessions, promotions and reverts; "
            "trials far worse than the baseline sit as triangles on the top edge.",
        ),
        (
            "parameters",
            plots.parameters(run),
            "Values tried for each hyperparameter that changed, and the incumbent's value.",
        ),
        ("statuses", plots.statuses(run), "Trials by outcome."),
        (
            "mechanisms",
            plots.mechanisms(run),
            "Trials on which each mechanism fired (changed guidance, added the chosen "
            "candidate, or rejected one).",
        ),
        ("llm", plots.llm_usage(run), "LLM calls per role and cumulative cost."),
    ):
        if png is not None:
            doc.figure(name, png, caption)
    _noise(doc, run)
    _credits(doc, run)
    _leaderboard(doc, run)
    _code_trials(doc, run)
    _research(doc, run)
    if not run.llm_calls:
        doc.paragraph("No LLM calls were journaled (built-in agent or no calls yet).", note=True)
    return doc


def _objective_label(run: RunData) -> str:
    objective = run.config.get("objective") or {}
    kind = objective.get("kind") or "gpt"
    if kind == "gpt":
        return f"preset `{run.preset or '?'}`"
    detail = (
        objective.get("benchmark")
        or objective.get("target")
        or " ".join(objective.get("command") or [])
    )
    return f"objective `{kind}: {detail}`"


def _summary(doc: Document, run: RunData) -> None:
    doc.heading("Summary")
    metric = run.metric
    gap = "best − baseline" if metric.maximize else "baseline − best"
    rows = [
        ["metric", f"{metric.name} ({metric.direction})"],
        [f"baseline {metric.name}", fmt(run.baseline_value)],
        [f"best {metric.name}", fmt(run.best_value)],
        [f"improvement ({gap})", fmt(run.improvement, signed=True)],
        ["trials by status", ", ".join(f"{k} {v}" for k, v in run.status_counts().items())],
        ["research sessions", str(len(run.research))],
        ["mechanisms promoted", str(sum(1 for m in run.markers if m.kind == "promoted"))],
        ["mechanisms reverted", str(sum(1 for m in run.markers if m.kind == "reverted"))],
        ["policy changes", str(len(run.policy_changes))],
        ["Level-1 context resets", str(sum(1 for m in run.markers if m.kind == "restart"))],
        ["LLM calls / cost", f"{len(run.llm_calls)} / ${run.llm_cost_usd:.4f}"],
    ]
    summary = run.summary or StudyFinished()
    if summary.best and summary.best.get("mean") is not None:
        from orchestrator.acceptance.judge import estimate_text

        rows.insert(
            3, [f"best {metric.name}, mean of its evaluations", estimate_text(summary.best)]
        )
    reruns = summary.final_reruns
    if reruns:
        rows.append(["best re-run on other seeds", ", ".join(fmt(float(v)) for v in reruns)])
    base_reruns = summary.baseline_reruns
    if base_reruns:
        rows.append(
            ["baseline re-run on the same seeds", ", ".join(fmt(float(v)) for v in base_reruns)]
        )
        delta = run.rerun_delta
        gain = None if delta is None else (delta if metric.maximize else -delta)
        rows.append(
            [f"improvement on fresh seeds ({gap} of the re-run means)", fmt(gain, signed=True)]
        )
    if summary.test_best is not None or summary.test_baseline is not None:
        rows.append(
            [
                f"held-out test split: best / baseline / improvement ({gap})",
                f"{fmt(summary.test_best)} / {fmt(summary.test_baseline)} / "
                f"{fmt(summary.test_improvement, signed=True)}",
            ]
        )
    doc.table(["", "value"], rows)


def _noise(doc: Document, run: RunData) -> None:
    if not run.noise_values and run.noise_floor is None:
        return
    values = ", ".join(fmt(v) for v in run.noise_values)
    if (run.config.get("acceptance") or {}).get("rule") == "paired":  # older: a fixed floor
        doc.heading("Noise estimate")
        doc.paragraph(
            f"The baseline's evaluations: {values or 'none'}. Last estimate: a single paired "
            f"draw must beat the incumbent by {fmt(run.noise_floor)} to be kept without a race "
            f"({run.noise_method or 'method not recorded'}). A trial that looks better by less "
            "is re-evaluated on fresh seeds, paired with the incumbent, before it is kept."
        )
        return
    doc.heading("Noise floor")
    doc.paragraph(
        f"The baseline was run {len(run.noise_values)} times ({values}); noise floor "
        f"{fmt(run.noise_floor)} ({run.noise_method or 'method not recorded'}). A change is "
        "kept only when it beats the incumbent by more than this."
    )


def _credits(doc: Document, run: RunData) -> None:
    """Who ran the search trials and why: the arbitration's credit table, which
    shares search trials between Level 1 and mechanisms by the credit each earned."""
    from orchestrator.summary import summary_from_journal

    try:
        rows = summary_from_journal(run.run_dir).credits
    except (ValueError, KeyError):  # no study_started yet, or a journal from before credits
        return
    if not any(r["trials"] or r["chosen_by"] for r in rows):
        return
    doc.heading("Trial sources and credit")
    doc.paragraph(
        "Each search trial runs one source's candidate: Level 1 or a live mechanism, chosen "
        "by earned credit (discounted mean of kept improvements over the incumbent, "
        "normalised to the study's largest), with Level 1 guaranteed one trial in four and a "
        "new mechanism its first trials. Pre-empted: its candidate survived but another ran."
    )
    doc.table(
        ["source", "trials", "improvements", "credit", "chosen by", "pre-empted"],
        [
            [
                r["source"],
                str(r["trials"]),
                str(r["improvements"]),
                f"{r['credit']:.3f}",
                ", ".join(f"{k} {v}" for k, v in sorted(r["chosen_by"].items())) or "–",
                str(r["preempted"]),
            ]
            for r in rows
        ],
        numeric=[False, True, True, True, False, True],
    )


def _leaderboard(doc: Document, run: RunData) -> None:
    ok = sorted(
        (t for t in run.trials if t.value is not None),
        key=lambda t: run.metric.sort_key(t.value or 0.0),
    )
    if not ok:
        return
    doc.heading(f"Best {min(TOP_TRIALS, len(ok))} trials")
    rows = []
    for t in ok[:TOP_TRIALS]:
        changes = ", ".join(f"{k}={_short(v)}" for k, v in t.changes.items())
        if t.patch_sha256:
            changes = ", ".join(
                c for c in (changes, f"recipe diff {t.patch_sha256[:SHORT_SHA]}") if c
            )
        changes = changes or "(defaults)"
        hypothesis = t.hypothesis[:HYPOTHESIS_CHARS] + (
            "…" if len(t.hypothesis) > HYPOTHESIS_CHARS else ""
        )
        rows.append(
            [str(t.index), fmt(t.value), "yes" if t.kept else "", t.source, changes, hypothesis]
        )
    doc.table(
        ["trial", run.metric.name, "kept", "source", "changes", "hypothesis"],
        rows,
        numeric=[True, True, False, False, False, False],
    )


def _code_trials(doc: Document, run: RunData) -> None:
    """Every recipe diff the study ran, with the trials that ran it: the diff is proposed
    text, shown verbatim but inert (cleaned, fenced, escaped)."""
    by_sha: dict[str, list[ReportTrialRow]] = {}
    for t in run.trials:
        if t.patch_sha256:
            by_sha.setdefault(t.patch_sha256, []).append(t)
    if not by_sha:
        return
    doc.heading("Code trials: recipe diffs")
    doc.paragraph(
        f"{len(by_sha)} distinct diff(s) of `trainer/recipe.py`, trained and scored in a jail "
        "by the trusted harness (docs/code-trials.md); the diffs are proposed text.",
        note=True,
    )
    for sha, trials in by_sha.items():
        first = trials[0]
        doc.heading(f"diff {sha[:SHORT_SHA]}", level=3)
        runs = "; ".join(
            f"#{t.index} {t.source} {t.status} {fmt(t.value)}{' kept' if t.kept else ''}"
            for t in trials
        )
        doc.paragraph(f"sha256 `{sha}` · trials: {runs}", note=True)
        if first.hypothesis:
            doc.paragraph(f"hypothesis: {first.hypothesis[:MAX_CODE_HYPOTHESIS_CHARS]}")
        errors = [t.error for t in trials if t.error and t.status != "ok"]
        if errors:
            doc.paragraph(f"error: {errors[0][:MAX_CODE_ERROR_CHARS]}", note=True)
        doc.code(first.patch or "", "diff")


def _short(value: object) -> str:
    # Mechanisms propose full-precision floats; four significant digits tell them apart.
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _research(doc: Document, run: RunData) -> None:
    if not run.research:
        return
    doc.heading("Research sessions")
    counts = run.firing_counts()
    rows = [
        [
            str(s.session),
            str(s.iteration),
            s.trigger,
            s.outcome or "running",
            s.mechanism or "–",
            str(counts.get(s.mechanism, 0)) if s.mechanism else "–",
            s.reason,
        ]
        for s in run.research
    ]
    doc.table(
        ["session", "at trial", "trigger", "outcome", "mechanism", "fired", "reason"],
        rows,
        numeric=[True, True, False, False, False, True, False],
    )
