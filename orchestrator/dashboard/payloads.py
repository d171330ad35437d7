"""The JSON the dashboard's pages poll: one function per page, from a :class:`StudyView`.

Plain dicts and lists only. Strings are cleaned (control characters, escape sequences, bidi
overrides removed: :func:`sandbox.text.clean_text`) and numbers made finite in one place,
:func:`safe`, just before a payload leaves the server.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

from orchestrator.dashboard.view import (
    MECHANISM_PREFIX,
    StudyView,
    TrialView,
    mechanism_status,
    round_row,
    verdict_row,
)
from orchestrator.patches import PATCH_KEY
from sandbox.text import clean_text

# A study whose journal has been silent this long, without a study_finished, is shown as
# stopped (killed or interrupted; `--resume` continues it) rather than running. Longer than
# one paper-sized trial (300 s budget plus start-up and evaluation) so a study that is
# training is never called stopped.
STALE_AFTER_S = 15 * 60
# The longest string one payload carries (LLM round text, error tracebacks): more is cut
# with an ellipsis. A hostile journal cannot make the browser render megabytes per cell.
MAX_STRING_CHARS = 20_000
# The status shown for a trial that was in flight when its study stopped (`--resume` re-runs it).
INTERRUPTED = "interrupted"
# How deep a payload (round outputs, diffs) may nest before it is summarised.
MAX_DEPTH = 24


def safe(value: Any, depth: int = 0) -> Any:
    """``value`` with every string cleaned and every non-finite number replaced by None."""
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, str):
        return clean_text(value, MAX_STRING_CHARS, multiline=True)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {clean_text(k, 200): safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe(v, depth + 1) for v in value]
    return clean_text(value, MAX_STRING_CHARS)


# What names each objective kind: its other keys hold defaults that do not apply to it
# (a function objective is not "cpu-tiny, pinned").
OBJECTIVE_KEYS = {
    "gpt": ("preset", "dataset"),
    "function": ("target",),
    "command": ("command",),
    "benchmark": ("benchmark",),
}


def objective_text(config: dict[str, Any]) -> str:
    """``function, userobj:score``; ``gpt, cpu-tiny, stdlib``; ``command, python train.py``."""
    objective = config.get("objective")
    if not isinstance(objective, dict):
        return ""
    kind = objective.get("kind") if isinstance(objective.get("kind"), str) else "gpt"
    parts = [str(kind)]
    for key in OBJECTIVE_KEYS.get(str(kind), ()):
        value = objective.get(key)
        if isinstance(value, list):
            value = " ".join(str(v) for v in value)
        if isinstance(value, str) and value:
            parts.append(value)
    return ", ".join(parts)


def state_of(view: StudyView, modified: float, now: float | None = None) -> str:
    if view.finished:
        return "finished"
    now = time.time() if now is None else now
    return "running" if modified and now - modified < STALE_AFTER_S else "stopped"


def study_row(view: StudyView, modified: float) -> dict[str, Any]:
    """One line of the studies index."""
    state = state_of(view, modified)
    return {
        "name": view.name,
        "study": view.study,
        "objective": objective_text(view.config),
        "agent": view.agent,
        "metric": view.metric.name,
        "direction": view.metric.direction,
        # every finished trial, as `bilevel status` counts them (noise repeats, re-runs and
        # test scorings included)
        "trials": sum(1 for t in view.ordered() if t.status != "running"),
        "running": sum(1 for t in view.ordered() if t.status == "running")
        if state == "running"
        else 0,
        "best": view.best,
        "improvement": view.improvement,
        "last_at": view.last_at,
        "state": state,
    }


def _trial(trial: TrialView, live: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "index": trial.index,
        "status": trial.status,
        "value": trial.value,
        "best": trial.best,
        "kept": trial.kept,
        "source": trial.source,
        "fired": trial.fired,
        "changes": trial.changes,
        "hypothesis": trial.hypothesis,
        "patch_sha256": trial.patch_sha256,  # a code trial's diff: the /patch page shows it
        "error": trial.error,
        "seconds": trial.seconds,
        "progress": trial.progress
        or ((live or {}).get(trial.index, {}) if trial.status == "running" else {}),
    }


def varied_params(view: StudyView) -> list[str]:
    """Parameters whose value differs between trials: the ones worth a trajectory."""
    seen: dict[str, set[str]] = {}
    for trial in view.ordered():
        for key, value in trial.config.items():
            if key == PATCH_KEY:  # a recipe diff's name, not a number to plot
                continue
            seen.setdefault(str(key), set()).add(repr(value))
    return sorted(k for k, values in seen.items() if len(values) > 1)


def overview(
    view: StudyView, modified: float, live: dict[int, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The study page: its header, trials (``live``: progress of those in flight, from
    progress.json), markers, parameters and policy changes."""
    params = varied_params(view)
    row = study_row(view, modified)
    trials = [_trial(t, live) for t in view.ordered()]
    if row["state"] != "running":  # a killed study's trials in flight will never finish
        for trial in trials:
            if trial["status"] == "running":
                trial["status"] = INTERRUPTED
    return {
        "seq": view.seq,
        "row": row,
        # baseline, noise, search, reruns, test or done (orchestrator/phases.py); None for a
        # journal that has planned nothing yet
        "phase": view.phase,
        "hardware": view.hardware,
        "started_at": view.started_at,
        "noise_floor": view.noise_floor,
        "best_estimate": view.best_estimate,
        "baseline": view.baseline,
        "trials": trials,
        "configs": {str(t.index): {k: t.config.get(k) for k in params} for t in view.ordered()},
        "params": params,
        "markers": view.markers,
        "policy": view.policy,
        "status_counts": dict(Counter(t.status for t in view.ordered())),
    }


def mechanisms(view: StudyView) -> dict[str, Any]:
    """The mechanisms page: status, firing and credit over time, ladder verdicts."""
    trials = view.ordered()
    names = list(view.mechanisms)
    for trial in trials:  # a mechanism can fire before its promotion event is read
        for name in [*trial.fired, _mechanism_source(trial.source)]:
            if name and name not in view.mechanisms and name not in names:
                names.append(name)
    rows: list[dict[str, Any]] = []
    firing: dict[str, list[int]] = {}
    credit: dict[str, list[float]] = {}
    for name in names:
        mechanism = view.mechanisms.get(name)
        fired_total, credit_total = 0, 0.0
        fired_series, credit_series = [], []
        ran = 0
        for trial in trials:
            if name in trial.fired:
                fired_total += 1
            if _mechanism_source(trial.source) == name:
                ran += 1
                credit_total += trial.credit
            fired_series.append(fired_total)
            credit_series.append(credit_total)
        firing[name], credit[name] = fired_series, credit_series
        rows.append(
            {
                "name": name,
                "status": mechanism_status(mechanism) if mechanism else "unknown",
                "sha": mechanism.sha if mechanism else "",
                "hooks": list(mechanism.hooks) if mechanism else [],
                "session": mechanism.session if mechanism else None,
                "active_from": mechanism.active_from if mechanism else None,
                "reverted_at": mechanism.reverted_at if mechanism else None,
                "reason": mechanism.reason if mechanism else "",
                "fired": fired_total,
                "ran": ran,
                "credit": credit_total,
                "has_source": bool(mechanism and mechanism.path),
            }
        )
    level1, level1_total = [], 0.0
    for trial in trials:
        if not _mechanism_source(trial.source):
            level1_total += trial.credit
        level1.append(level1_total)
    arbiter = _arbiter_credit(view)
    for row in rows:  # the arbiter's latest credit, where the journal has it
        series = arbiter["series"].get(MECHANISM_PREFIX + row["name"])
        row["arbiter_credit"] = series[-1] if series else None
    verdicts = [verdict_row(v) for m in view.mechanisms.values() for v in m.verdicts]
    return {
        "seq": view.seq,
        "metric": view.metric.name,
        "indices": [t.index for t in trials],
        "mechanisms": rows,
        "firing": firing,
        "credit": credit,
        "level1_credit": level1,
        "arbiter": arbiter,
        "verdicts": sorted(verdicts, key=lambda v: (v["session"], v["attempt"])),
    }


def _arbiter_credit(view: StudyView) -> dict[str, Any]:
    """The arbiter's credit per source at each choice: ``{indices, series: {source: [..]}}``
    (a source's value is None before it was offered). Empty for journals without it."""
    sources: list[str] = []
    for _, credits in view.credits:
        sources += [s for s in credits if s not in sources]
    return {
        "indices": [index for index, _ in view.credits],
        "series": {s: [credits.get(s) for _, credits in view.credits] for s in sources},
    }


def _mechanism_source(source: str) -> str:
    return source[len(MECHANISM_PREFIX) :] if source.startswith(MECHANISM_PREFIX) else ""


def research(view: StudyView) -> dict[str, Any]:
    """The research page: each session's rounds, gate verdicts, repairs and outcome."""
    return {
        "seq": view.seq,
        "sessions": [
            {
                "session": s.session,
                "trigger": s.trigger,
                "iteration": s.iteration,
                "rounds": [round_row(r) for r in s.rounds],
                "verdicts": [verdict_row(v) for v in s.verdicts],
                "repairs": s.repairs,
                "outcome": (s.outcome or "finished") if s.ended else "running",
                "mechanism": s.mechanism,
                "reason": s.reason,
            }
            for _, s in sorted(view.sessions.items())
        ],
    }


def llm_calls(view: StudyView) -> dict[str, Any]:
    """The LLM page: every call with tokens, cost and latency, and totals by role."""
    by_role: dict[str, dict[str, float]] = {}
    for call in view.llm:
        totals = by_role.setdefault(call["role"], {"calls": 0, "tokens": 0, "cost_usd": 0.0})
        totals["calls"] += 1
        totals["tokens"] += call["prompt_tokens"] + call["completion_tokens"]
        totals["cost_usd"] += call["cost_usd"]
    return {
        "seq": view.seq,
        "calls": view.llm,
        "by_role": by_role,
        "cost_usd": sum(c["cost_usd"] for c in view.llm),
    }
