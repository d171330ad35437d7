"""Level 2 in the summary and in `bilevel status`: mechanisms, verdicts, firing, effect.

Everything is derived from journal events (docs/journal.md), so the same table comes out
of a live study, a finished one and a killed one. "Active" here means *observed firing*:
a mechanism that was promoted but never fired is listed as silent.

Names, reasons and verdicts in the journal came from mechanisms and LLMs: every line is
cleaned (:func:`sandbox.text.clean_text`) before it is printed, whatever wrote the journal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.events import (
    Event,
    GateVerdict,
    MechanismPromoted,
    MechanismReverted,
    ResearchFinished,
    ResearchStarted,
    TrialFinished,
)
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


def mechanism_rows(events: list[Event]) -> list[MechanismRow]:
    """One row per mechanism the study's research sessions wrote, in order of appearance."""
    rows: dict[str, MechanismRow] = {}

    def row(name: str) -> MechanismRow:
        return rows.setdefault(name, MechanismRow(name=name))

    for e in events:
        if isinstance(e, GateVerdict):
            r = row(e.mechanism)
            r.session = e.session
            verdict = "accepted" if e.accepted else f"rejected: {e.reason}"
            r.verdicts.append(f"attempt {e.attempt} {e.stage or '?'} {verdict}")
            r.sha = e.sha if e.was_set("sha") else r.sha
            if not e.accepted and r.state != "live":
                r.state = "rejected"
                r.missing_packages = list(e.missing_packages or r.missing_packages)
        elif isinstance(e, MechanismPromoted):
            r = row(e.name)
            r.sha, r.state, r.active_from = e.sha, "live", e.active_from
            for old in e.supersedes:
                row(old).state = "superseded"
        elif isinstance(e, MechanismReverted):
            r = row(e.name)
            if r.state == "live":
                r.state = "reverted"
            r.revert_reason = e.reason
        elif isinstance(e, TrialFinished):
            for name in e.fired or []:
                r = row(name)
                r.fired += 1
                r.shaped.append(e.index)
                r.kept += bool(e.kept)
            if e.source.startswith("mechanism:"):
                row(e.source.removeprefix("mechanism:")).chosen += 1
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


def render_mechanisms(events: list[Event]) -> str:
    """The Level 2 section of the study summary and `bilevel status`, as plain text."""
    rows = mechanism_rows(events)
    sessions = [e for e in events if isinstance(e, ResearchFinished)]
    if not rows and not sessions:
        return "Level 2: no research sessions."
    outcomes: dict[str, int] = {}
    for e in sessions:
        outcome = e.outcome if e.was_set("outcome") else "?"
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
    for e in sessions:
        if e.outcome == "failed":
            lines.append(f"  session {e.session} failed: {e.reason[:200]}")
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
    return render_mechanisms(events).splitlines()
