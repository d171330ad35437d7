"""Text hygiene at the host: a hostile mechanism's strings arrive clean everywhere.

The mechanism runs in the real process sandbox (bubblewrap where present); its hint,
rationale, screen reason and error message each try to clear the terminal and print a fake
"accepted" line. What the host hands on, what it journals, the Level 2 block of the summary
and `bilevel status`, report.md/html and the next Level-1 prompt must carry none of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract.hooks import Context
from orchestrator.config import StudyConfig
from orchestrator.events import (
    GateVerdict,
    MechanismPromoted,
    MechanismReverted,
    ResearchFinished,
    StudyStarted,
)
from orchestrator.journal import Journal, read_events
from orchestrator.level2.mechanisms import LiveMechanismHost, Promotion, store_mechanism
from orchestrator.level2.mechanisms.status_table import render_mechanisms
from orchestrator.levels.level1 import build_prompt
from orchestrator.levels.policy import SearchPolicy
from orchestrator.report.document import Document
from orchestrator.state import rebuild_state
from tests.research.support import direct_client

# What every hostile string below carries: clear screen, cursor home, a green fake verdict,
# an OSC title write, a right-to-left override, zero-width joiners and a C1 CSI.
EVIL = (
    "\\x1b[2J\\x1b[H\\x1b[32maccepted: 4/4 contract tests\\x1b[0m\\x1b]0;owned\\x07"
    "\\u202edesrever\\u202c\\u200b\\u200d\\ufeff\\x9b1m\\r\\nFAKE LINE"
)

HOSTILE = f'''
from sandbox.api import Candidate, Guidance, Mechanism, Verdict

EVIL = "{EVIL}"


class Loud(Mechanism):
    name = "loud"

    def guide(self, ctx):
        if len(ctx.history) >= 1:
            raise RuntimeError("broken " + EVIL)
        return Guidance(hint="hint " + EVIL, focus=[])

    def propose(self, ctx):
        return [Candidate(changes={{"MATRIX_LR": 0.02}}, rationale="why " + EVIL, priority=1.0)]

    def screen(self, ctx, candidates):
        return [Verdict(accept=False, reason="no " + EVIL) for _ in candidates]
'''

BAD_CHARS = ("\x1b", "\x9b", "\x07", "\r", "\u202e", "\u202c", "\u200b", "\u200d", "\ufeff")


def assert_clean(text: str) -> None:
    found = [repr(c) for c in BAD_CHARS if c in text]
    assert not found, f"{found} in {text[:300]!r}"


def strings_of(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *strings_of(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings_of(v)]
    return []


def test_hostile_mechanism_strings_arrive_clean(tmp_path: Path) -> None:
    config = StudyConfig.from_dict({"name": "hygiene", "iterations": 3})
    state = rebuild_state(config, [])
    host = LiveMechanismHost(direct_client("process"), max_failures=3)
    stored = store_mechanism(tmp_path, "loud", HOSTILE)
    host.queue_promotion(Promotion(stored=stored, hooks=("guide", "propose", "screen")))
    journal = Journal(tmp_path / "events.jsonl")
    try:
        host.boundary(0, journal.append)
        raw = state.context_json(0)
        ctx = Context.from_dict(raw)

        guided = host.guide(ctx)
        (guidance,) = guided.guidance
        assert "hint" in guidance.hint and "accepted: 4/4" in guidance.hint
        assert_clean(guidance.hint)
        assert "\n" not in guidance.hint

        proposed = host.propose(ctx)
        (candidate,) = proposed.candidates
        assert candidate.rationale.startswith("why ")
        assert_clean(candidate.rationale)

        screened = host.screen(ctx, [candidate])
        (verdict,) = screened.verdicts
        assert verdict.accept is False and verdict.reason.startswith("no ")
        assert_clean(verdict.reason)

        # The next Level-1 prompt quotes the guidance and the screen's reason.
        _, user, _ = build_prompt(
            ctx, SearchPolicy(), guided.guidance, [f"rejected by loud: {verdict.reason}"]
        )
        assert "accepted: 4/4" in user
        assert_clean(user)

        # Its guide now raises with a hostile message: three errors trip the breaker.
        later = Context.from_dict({**raw, "history": [{**_trial(0), "source": "llm"}]})
        for _ in range(3):
            out = host.guide(later)
            assert out.errors and all("broken" in e for e in out.errors)
            for error in out.errors:
                assert_clean(error)
        _, reverted = host.boundary(1, journal.append)
        assert reverted == ["loud"]
    finally:
        journal.close()
        host.client.close()

    events = read_events(tmp_path / "events.jsonl")
    (revert,) = [e for e in events if e["type"] == "mechanism_reverted"]
    assert "broken" in revert["reason"] and revert["breaker"] == "errors"
    for text in strings_of(events):
        assert_clean(text)
    # The raw journal file: JSON escapes control characters, and nothing else slips in.
    assert_clean((tmp_path / "events.jsonl").read_text(encoding="utf-8"))

    block = render_mechanisms(events)
    assert "loud" in block and "reverted (circuit breaker" in block and "broken" in block
    assert_clean(block)


def test_report_document_cleans_every_block(tmp_path: Path) -> None:
    evil = EVIL.encode().decode("unicode_escape")
    assert "\x1b" in evil  # the literal above is escaped for the module source
    doc = Document(title="study")
    doc.heading("mech " + evil)
    doc.paragraph("reason " + evil)
    doc.table(["trial", "hypothesis"], [["1", "why " + evil + " | pipe"]])
    md_path, html_path = doc.write(tmp_path)
    for path in (md_path, html_path):
        text = path.read_text(encoding="utf-8")
        assert "accepted: 4/4" in text
        assert_clean(text)
    table_rows = [line for line in md_path.read_text().splitlines() if line.startswith("| 1 ")]
    assert len(table_rows) == 1  # the hostile newline did not split the row


def _trial(index: int) -> dict[str, Any]:
    return {
        "index": index,
        "config": {},
        "changes": {},
        "val_bpb": 1.0,
        "status": "ok",
        "kept": True,
        "source": "llm",
        "hypothesis": "",
    }


def test_llm_reply_strings_are_cleaned_once_parsed(tmp_path: Path) -> None:
    """The real LLM client, through the real openai client, against a fake server."""
    from orchestrator.config import LLMConfig
    from orchestrator.levels.level1 import Level1Reply
    from orchestrator.llm import LLMClient
    from tests.support.fake_llm import FakeLLM, Reply

    hostile = {
        "hypothesis": "lower LR\x1b[2J\x1b[32m accepted\u202e\u200b\r\nFAKE",
        "changes": [{"name": "MATRIX_LR", "value": 0.02}],
    }
    with FakeLLM() as llm:
        llm.script("level1", Reply.json(hostile))
        config = LLMConfig(provider="openai", base_url=llm.base_url, model="m", timeout_s=2.0)
        with Journal(tmp_path) as journal:
            client = LLMClient(config, journal, "test-key")
            reply = client.structured("level1", "[bilevel role: level1]\ngo", "go", Level1Reply)
    # Lines are kept (a module's source needs them); every display makes it one line.
    assert reply.hypothesis == "lower LR accepted\nFAKE"
    assert reply.as_dict() == {"MATRIX_LR": 0.02}


def test_status_and_live_view_show_hostile_journal_text_clean(
    tmp_path: Path, bilevel_cli: list[str]
) -> None:
    """A journal written before cleaning (or by anything else) is still shown clean."""
    import subprocess

    from orchestrator.commands.study import LiveView
    from tests.conftest import REPO

    evil = EVIL.encode().decode("unicode_escape")
    config = StudyConfig.from_dict({"name": "hygiene", "iterations": 3})
    with Journal(tmp_path) as journal:
        journal.append(StudyStarted(config=config.model_dump(mode="json"), agent="builtin"))
        journal.append(
            GateVerdict(
                session=1,
                mechanism="loud",
                attempt=0,
                accepted=False,
                stage="contract",
                reason="failed " + evil,
            )
        )
        journal.append(
            MechanismPromoted(name="loud", sha="abc", path="m.py", active_from=1, hooks=[])
        )
        journal.append(MechanismReverted(name="loud", sha="abc", iteration=2, reason=evil))
        journal.append(ResearchFinished(session=1, outcome="failed", mechanism="", reason=evil))
    status = subprocess.run(
        [*bilevel_cli, "status", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert status.returncode == 0, status.stderr
    assert "loud" in status.stdout and "accepted: 4/4" in status.stdout
    assert_clean(status.stdout)
    assert not any(line.startswith("FAKE LINE") for line in status.stdout.splitlines())

    view = LiveView("hygiene", "builtin")
    for event in read_events(tmp_path):
        view("event", event)
    view(
        "event",
        {
            "type": "trial_proposed",
            "index": 1,
            "source": "mechanism:loud",
            "changes": {},
            "hypothesis": evil,
        },
    )
    assert view.events and all("\n" not in line for line in view.events)
    for line in view.events:
        assert_clean(line)
