"""The live host against the real (process) sandbox: one sandbox call per hook stage, and
the circuit breaker that stops calling a misbehaving mechanism and reverts it."""

from __future__ import annotations

from typing import Any

from orchestrator.config import StudyConfig
from orchestrator.events import Event
from orchestrator.level2.mechanisms import LiveMechanismHost, Promotion, store_mechanism
from orchestrator.level2.research import library
from orchestrator.state import rebuild_state
from tests.research.support import direct_client

# Names a parameter that does not exist: invalid output, every call.
BAD_FOCUS = """
from sandbox.api import Guidance, Mechanism


class Lost(Mechanism):
    name = "lost"

    def guide(self, ctx):
        return Guidance(hint="tune the flux capacitor", focus=["FLUX_CAPACITOR"])
"""


class CountingClient:
    """The real sandbox client, with a record of which stage was called with what."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, list[str]]] = []

    def call(
        self, stage: str, mechanisms: list[tuple[str, str, str]], *args: Any, **kw: Any
    ) -> Any:
        self.calls.append((stage, [name for name, _, _ in mechanisms]))
        return self.inner.call(stage, mechanisms, *args, **kw)


def _promote(
    host: LiveMechanismHost, tmp: Any, name: str, source: str, hooks: tuple[str, ...]
) -> None:
    host.queue_promotion(Promotion(stored=store_mechanism(tmp, name, source), hooks=hooks))


def test_one_sandbox_call_per_stage_and_the_breaker_reverts_at_the_boundary(tmp_path: Any) -> None:
    config = StudyConfig.from_dict({"name": "host", "iterations": 3})
    state = rebuild_state(config, [])
    client = CountingClient(direct_client("process"))
    host = LiveMechanismHost(client, max_failures=3)
    journaled: list[tuple[str, dict[str, Any]]] = []

    def emit(event: Event) -> None:
        journaled.append(as_pair(event))

    ucb, gp = library()["ucb_bandit"], library()["gp_expected_improvement"]
    _promote(host, tmp_path, ucb.name, ucb.source, ucb.hooks)
    _promote(host, tmp_path, gp.name, gp.source, gp.hooks)
    _promote(host, tmp_path, "lost", BAD_FOCUS, ("guide",))
    promoted, _ = host.boundary(0, emit)
    assert promoted == ["ucb_bandit", "gp_expected_improvement", "lost"]

    ctx = state.hook_context(0)
    out = host.guide(ctx)
    # One call for the whole stage, only with the mechanisms that implement `guide`.
    assert client.calls == [("guide", ["ucb_bandit", "lost"])]
    assert out.fired == ["ucb_bandit"] and out.guidance[0].mechanism == "ucb_bandit"
    assert len(out.errors) == 1 and "FLUX_CAPACITOR" in out.errors[0]

    host.guide(ctx)
    host.guide(ctx)
    assert host.active() == ["ucb_bandit", "gp_expected_improvement"]
    host.guide(ctx)  # tripped: no longer sent to the sandbox, even before the boundary
    assert client.calls[-1] == ("guide", ["ucb_bandit"])

    _, reverted = host.boundary(1, emit)
    assert reverted == ["lost"]
    kind, fields = journaled[-1]
    assert kind == "mechanism_reverted" and fields["failures"] == 3
    assert fields["reason"].startswith("circuit breaker:") and "FLUX_CAPACITOR" in fields["reason"]
    assert [m.name for m in host.live()] == ["ucb_bandit", "gp_expected_improvement"]


def test_a_promotion_that_supersedes_an_active_mechanism_reverts_it(tmp_path: Any) -> None:
    host = LiveMechanismHost(direct_client("process"))
    journaled: list[tuple[str, dict[str, Any]]] = []
    ucb, lhs = library()["ucb_bandit"], library()["latin_hypercube"]
    _promote(host, tmp_path, ucb.name, ucb.source, ucb.hooks)
    host.boundary(0, lambda event: journaled.append(as_pair(event)))
    host.queue_promotion(
        Promotion(
            stored=store_mechanism(tmp_path, lhs.name, lhs.source),
            hooks=lhs.hooks,
            supersedes=("ucb_bandit", "never_existed"),
        )
    )
    promoted, reverted = host.boundary(5, lambda event: journaled.append(as_pair(event)))
    assert (promoted, reverted) == (["latin_hypercube"], ["ucb_bandit"])
    assert host.active() == ["latin_hypercube"]
    kinds = [(kind, fields.get("name")) for kind, fields in journaled]
    assert kinds[-2:] == [
        ("mechanism_reverted", "ucb_bandit"),
        ("mechanism_promoted", "latin_hypercube"),
    ]
    assert journaled[-2][1]["reason"] == "superseded by latin_hypercube"
    assert journaled[-1][1]["supersedes"] == ["ucb_bandit"] and journaled[-1][1]["active_from"] == 5


def test_a_sandbox_outage_is_not_held_against_the_mechanisms(tmp_path: Any) -> None:
    from sandbox.client import RunnerClient

    # A real runner client whose Redis refuses connections: the sandbox is unreachable.
    host = LiveMechanismHost(RunnerClient("redis://127.0.0.1:1/0", "nowhere"), max_failures=3)
    ucb = library()["ucb_bandit"]
    _promote(host, tmp_path, ucb.name, ucb.source, ucb.hooks)
    host.boundary(0, lambda event: None)
    ctx = rebuild_state(
        StudyConfig.from_dict({"name": "outage", "iterations": 3}), []
    ).hook_context(0)
    for _ in range(4):
        out = host.guide(ctx)
        assert out.fired == [] and "sandbox unavailable" in out.errors[0]
    assert host.active() == ["ucb_bandit"] and host.live()[0].failures == 0
    assert host.boundary(1, lambda event: None) == ([], [])


def as_pair(event: Event) -> tuple[str, dict[str, Any]]:
    """An emitted event as (type, the fields its writer set)."""
    record = event.record()
    return record.pop("type"), {k: v for k, v in record.items() if k not in ("seq", "ts")}
