"""Level 2 in the summary and in `bilevel status`: mechanisms, verdicts, firing, effect.

Everything is derived from journal events (docs/journal.md), so the same table comes out
of a live study, a finished one and a killed one. "Active" here means *observed firing*:
a mechanism that was promoted but never fired is listed as silent.

Names, reasons and verdicts in the journal came from mechanisms and LLMs: every line is
cleaned (:func:`sandbox.text.clean_text`) before it is printed, whatever wrote the journal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.events import (
    Event,
    GateVerdict,
    MechanismPromoted,
    MechanismReverted,
    ResearchStarted,
)
from orchestrator.levels.proposals import MECHANISM_PREFIX
from orchestrator.state import MechanismRecord, StudyLog
from sandbox.text import clean_text

# Longest line of the Level 2 block: a summary, not the full ladder output.
MAX_LINE_CHARS = 400

LEVEL2_EVENTS = (ResearchStarted, GateVerdict, MechanismPromoted, MechanismReverted)


@dataclass
class MechanismRow:
    name: str
    sha: str = ""
    state: str = "proposed"  # live | reverted | superseded | rejected | proposed
    session: int | None = None
    active_from: int | None = None
    verdicts: list[str] = field(default_factory=list)  # "attempt 0: static rejected (...)"
    missing_packages: list[str] = field(default_factory=list)
    revert_reason: str = ""
    fired: int = 0  # trials whose planning it fired in
    chosen: int = 0  # trials that ran its own candidate
    kept: int = 0  # trials it fired in that became the new best
    shaped: list[int] = field(default_factory=list)  # indices of the trials it fired in


def fold(events: Iterable[Event]) -> StudyLog:
    """The study's one fold of ``events``; what it cannot use is skipped, as in the report."""
    log = StudyLog()
    for event in events:
        log.apply_lenient(event)
    return log


def _row(record: MechanismRecord) -> MechanismRow:
    return MechanismRow(
        name=record.name,
        sha=record.sha,
        state=record.state,
        session=record.session,
        active_from=record.active_from,
        verdicts=[
            f"attempt {v.attempt} {v.stage or '?'} "
            + ("accepted" if v.accepted else f"rejected: {v.reason}")
            for v in record.verdicts
        ],
        missing_packages=list(record.missing_packages),
        revert_reason=record.revert_reason,
    )


def mechanism_rows(study: StudyLog | Iterable[Event]) -> list[MechanismRow]:
    """One row per mechanism the study's research sessions wrote, in order of appearance
    (then any other name a finished trial says fired), read from the study's fold."""
    log = study if isinstance(study, StudyLog) else fold(study)
    rows = {name: _row(record) for name, record in log.mechanisms.items()}

    def row(name: str) -> MechanismRow:
        return rows.setdefault(name, MechanismRow(name=name))

    for t in log.finished_trials():
        for name in t.fired:
            r = row(name)
            r.fired += 1
            r.shaped.append(t.index)
            r.kept += t.kept
        if t.source.startswith(MECHANISM_PREFIX):
            row(t.source.removeprefix(MECHANISM_PREFIX)).chosen += 1
    return list(rows.values())


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _status(r: MechanismRow) -> str:
    if r.state == "live":
        return "live, firing" if r.fired else "live, silent (never fired)"
    if r.state == "rejected" and r.missing_packages:
        return f"rejected: needs {', '.join(r.missing_packages)}, not shipped in the sandbox"
    if r.state == "reverted":
        return f"reverted ({r.revert_reason})"
    return r.state


def render_mechanisms(study: StudyLog | Iterable[Event]) -> str:
    """The Level 2 section of the study summary and `bilevel status`, as plain text."""
    log = study if isinstance(study, StudyLog) else fold(study)
    rows = mechanism_rows(log)
    sessions = [s for s in log.research.values() if s.ended]
    if not rows and not sessions:
        return "Level 2: no research sessions."
    outcomes: dict[str, int] = {}
    for s in sessions:
        outcome = s.outcome or "?"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    lines = [
        f"Level 2: {_n(len(sessions), 'research session')} ("
        + ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))
        + ")"
    ]
    for r in rows:
        since = f" from trial {r.active_from}" if r.active_from is not None else ""
        lines.append(f"  {r.name} [{r.sha or '-'}]{since}: {_status(r)}")
        if r.active_from is not None or r.fired:
            shaped = ", ".join(map(str, r.shaped[:12])) + ("..." if len(r.shaped) > 12 else "")
            lines.append(
                f"    fired in {_n(r.fired, 'trial')} ({shaped or 'none'}); its own candidate "
                f"ran {_n(r.chosen, 'time')}; {r.kept} of the trials it shaped became the new best"
            )
        for verdict in r.verdicts[-3:]:
            lines.append(f"    ladder {verdict[:200]}")
    for s in sessions:
        if s.outcome == "failed":
            lines.append(f"  session {s.session} failed: {s.reason[:200]}")
    # Hostile text cannot reach the terminal: one clean line per entry (a newline inside a
    # reason cannot forge a line of its own either).
    return "\n".join(clean_text(line, MAX_LINE_CHARS) for line in lines)


def level2_summary_lines(run_dir: Path) -> list[str]:
    """The Level 2 block of `bilevel study`/`bilevel status`; empty when Level 2 never ran."""
    from orchestrator.journal import journal_path, read_events

    path = journal_path(Path(run_dir))
    if not path.exists():
        return []
    events = read_events(path)
    if not any(isinstance(e, LEVEL2_EVENTS) for e in events):
        return []
    return render_mechanisms(fold(events)).splitlines()
