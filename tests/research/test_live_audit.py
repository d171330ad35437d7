"""Live audits: a mechanism's live calls replayed in a fresh sandbox, on the real (process)
sandbox. A module that behaves only while it thinks it is tested, and draws on something
other than its context once it is live, is reverted with the audit's reason journaled; a
pure one is replayed and left alone."""

from __future__ import annotations

from typing import Any

import pytest

from contract.hooks import Context
from orchestrator.config import StudyConfig
from orchestrator.events import Event
from orchestrator.level2.mechanisms import LiveMechanismHost, Promotion, store_mechanism
from orchestrator.level2.mechanisms.audit import BREAKER_AUDIT, Auditor
from orchestrator.level2.research import library
from orchestrator.state import rebuild_state
from sandbox.contexts import contract_contexts
from tests.research.support import direct_client

# Steady while its history is short (as in a test); once it is live (trials in the history)
# its hint carries an object address: different in every process, and in every fresh
# sandbox a replay runs in.
SLEEPER = """
from sandbox.api import Guidance, Mechanism


class Sleeper(Mechanism):
    name = "sleeper"

    def guide(self, ctx):
        if len(ctx.history) >= 2:
            return Guidance(hint=f"live mode {id(object())}")
        return Guidance(hint="steady")
"""


@pytest.fixture
def contexts() -> tuple[Context, Context]:
    """A context before any trial, and one of the same study with a long history."""
    state = rebuild_state(StudyConfig.from_dict({"name": "audit", "iterations": 40}), [])
    empty = state.context_json(0)
    long = dict(contract_contexts(empty["space"], [], seed=5, iterations=40))["long-history"]
    return Context.from_dict(empty), Context.from_dict(long)


def _host(tmp_path: Any, name: str, source: str, hooks: tuple[str, ...]) -> LiveMechanismHost:
    client = direct_client("process")
    host = LiveMechanismHost(client, auditor=Auditor(client, background=False))
    host.queue_promotion(Promotion(stored=store_mechanism(tmp_path, name, source), hooks=hooks))
    host.boundary(0, lambda event: None)
    return host


def test_a_module_that_behaves_only_under_test_is_reverted(
    tmp_path: Any, contexts: tuple[Context, Context]
) -> None:
    empty, long = contexts
    host = _host(tmp_path, "sleeper", SLEEPER, ("guide",))
    journaled: list[Event] = []

    host.guide(empty)  # its first live call: steady, and the replay agrees
    assert host.active() == ["sleeper"] and host.auditor is not None
    assert host.auditor.replayed == 1
    out = host.guide(long)  # its second: it switches, and the replay catches it
    assert out.fired == ["sleeper"]  # the call itself was valid output
    host.guide(long)  # the finding stops it being called at once...
    assert host.active() == []
    _, reverted = host.boundary(1, journaled.append)  # ...and the boundary reverts it
    assert reverted == ["sleeper"]
    event = journaled[-1]
    assert event.type == "mechanism_reverted" and event.breaker == BREAKER_AUDIT
    assert "live audit" in event.reason and "fresh sandbox" in event.reason


def test_a_pure_mechanism_is_replayed_and_kept(
    tmp_path: Any, contexts: tuple[Context, Context]
) -> None:
    empty, long = contexts
    ucb = library()["ucb_bandit"]
    host = _host(tmp_path, ucb.name, ucb.source, ucb.hooks)
    for ctx in (empty, long, long):
        host.guide(ctx)
        host.propose(ctx)
    assert host.auditor is not None and host.auditor.replayed >= 3
    assert host.boundary(1, lambda event: None) == ([], [])
    assert host.active() == ["ucb_bandit"]


def test_after_the_first_calls_only_a_sample_is_replayed() -> None:
    auditor = Auditor(direct_client("process"), first_calls=3, sample_rate=0.1)
    assert all(auditor.wanted(n) for n in range(3))
    drawn = sum(auditor.wanted(3 + n) for n in range(2000))
    assert 100 < drawn < 320  # about one in ten, drawn afresh each time
