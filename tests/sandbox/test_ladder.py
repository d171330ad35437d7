"""The ladder through each backend: clean modules accepted, broken ones rejected at the
right stage with a reason a person (or the LLM) can act on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sandbox.ladder import run_ladder
from tests.sandbox.helpers import FAST_DEADLINE_S, FAST_LIMITS

FIXTURES = Path(__file__).parent / "fixtures"
CONTRACT = sorted((FIXTURES / "contract").glob("*.py"))
CLEAN = sorted((FIXTURES / "gate" / "clean").glob("*.py"))
EXAMPLE = Path(__file__).parents[2] / "examples" / "mechanisms" / "trust_region.py"


def _header(text: str, key: str) -> str:
    match = re.search(rf"^# {key}: (.+)$", text, re.M)
    assert match
    return match.group(1).strip()


def _ladder(source: str, space: list[dict[str, Any]], backend: Any, name: str = "m.py") -> Any:
    return run_ladder(
        source,
        space,
        backend=backend,
        filename=name,
        limits=FAST_LIMITS,
        deadline_s=FAST_DEADLINE_S,
    )


@pytest.mark.parametrize("path", CONTRACT, ids=lambda p: p.stem)
def test_broken_module_rejected_at_its_stage(
    path: Path, backend: Any, space: list[dict[str, Any]]
) -> None:
    source = path.read_text()
    report = _ladder(source, space, backend, path.name)
    assert not report.accepted
    assert report.stage == _header(source, "expect-stage"), report.reason
    assert _header(source, "expect") in report.reason
    assert "\n" not in report.reason
    assert any(not c.ok for c in report.checks)


@pytest.mark.parametrize("path", [*CLEAN, EXAMPLE], ids=lambda p: p.stem)
def test_clean_module_accepted(
    path: Path, process_backend: Any, space: list[dict[str, Any]]
) -> None:
    report = _ladder(path.read_text(), space, process_backend, path.name)
    assert report.accepted, report.reason
    assert report.stage == "contract"
    assert all(c.ok for c in report.checks)
    # Every overridden hook ran on every synthetic context, and again in a fresh process.
    for case in ("empty-history", "long-history", "crashed-trials", "frozen-params"):
        for hook in report.hooks:
            assert f"{hook}:{case}" in {c.name for c in report.checks}
    assert "determinism:fresh-process" in {c.name for c in report.checks}


def test_example_accepted_in_each_backend(backend: Any, space: list[dict[str, Any]]) -> None:
    report = _ladder(EXAMPLE.read_text(), space, backend, EXAMPLE.name)
    assert report.accepted, report.reason
    assert (report.name, report.class_name) == ("trust_region", "TrustRegion")
    assert report.hooks == ["guide", "propose", "screen"]
    assert report.backend == backend.name


def test_static_rejection_never_reaches_the_sandbox(
    backend: Any, space: list[dict[str, Any]]
) -> None:
    report = _ladder("import os\n", space, backend)
    assert (report.accepted, report.stage) == (False, "static")
    assert "sandbox" not in report.timings


def test_replayed_contexts_are_tested(process_backend: Any, space: list[dict[str, Any]]) -> None:
    """A mechanism that breaks only on a real (replayed) context is caught there."""
    from contract.hooks import Context, Trial
    from contract.space import Param

    source = (
        "from sandbox.api import Context, Guidance, Mechanism\n\n\n"
        "class M(Mechanism):\n    name = 'm'\n\n"
        "    def guide(self, ctx: Context):\n"
        "        if ctx.iteration == 777:\n            raise RuntimeError('replay only')\n"
        "        return None\n"
    )
    params = [Param.from_dict(p) for p in space]
    base = {p.name: p.default for p in params}
    trial = Trial(
        index=0, config=base, changes={}, val_bpb=1.2, status="ok", kept=True, source="baseline"
    )
    replay = Context(iteration=777, seed=1, space=params, history=[trial], best=trial, base=base)
    ok = run_ladder(source, space, backend=process_backend, limits=FAST_LIMITS)
    assert ok.accepted
    bad = run_ladder(
        source, space, backend=process_backend, replays=[replay.to_dict()], limits=FAST_LIMITS
    )
    assert (bad.accepted, bad.stage) == (False, "contract")
    assert "replay 0" in bad.reason and "replay only" in bad.reason


# ---------------------------------------------------------------- hooks come from the source

MIXIN = """from sandbox.api import Guidance, Mechanism


class Hints:
    def guide(self, ctx):
        return Guidance(hint="from a mixin")


class M(Hints, Mechanism):
    name = "m"
"""


def test_hooks_are_read_from_the_source() -> None:
    from sandbox.source_hooks import source_hooks

    assert source_hooks(MIXIN).hooks == ("guide",)
    assert source_hooks(MIXIN).class_name == "M"
    aliased = "import sandbox.api as a\nclass X(a.Mechanism):\n    def screen(self, c, k): ...\n"
    assert source_hooks(aliased).hooks == ("screen",)
    assert "exactly one subclass" in source_hooks("import numpy\n").problem
    two = MIXIN + "\nclass N(M):\n    pass\n"
    assert "found 2" in source_hooks(two).problem
    assert "overrides no hook" in source_hooks(MIXIN.replace("def guide", "def other")).problem
    assert "does not parse" in source_hooks("class (:").problem
    assert source_hooks("x = " + "(" * 5000 + ")" * 5000).problem  # no crash on nesting


def test_module_with_hooks_only_in_a_mixin_is_tested_and_accepted(
    process_backend: Any, space: list[dict[str, Any]]
) -> None:
    report = _ladder(MIXIN, space, process_backend)
    assert report.accepted, report.reason
    assert report.hooks == ["guide"]
    assert any(c.name.startswith("guide:") for c in report.checks)


def test_an_internal_error_is_a_rejection_with_one_line(
    process_backend: Any, space: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sandbox.ladder

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("gate bug\nsecond line")

    monkeypatch.setattr(sandbox.ladder, "check_source", broken)
    report = _ladder(MIXIN, space, process_backend)
    assert not report.accepted and report.stage == "static"
    assert "\n" not in report.reason and "RuntimeError" in report.reason


# ---------------------------------------------------------------- the host decides, never raises

GARBAGE_REPORTS: list[Any] = [
    {"accepted": True, "stage": "contract", "checks": [], "name": "m", "class": "M", "hooks": []},
    {"accepted": True, "stage": "contract", "name": "m", "class": "M", "hooks": ["guide"],
     "checks": [{"name": "smoke:load", "ok": True}, {"name": "propose:x", "ok": True}]},
    {"accepted": True, "stage": "contract", "name": "M!", "class": "M", "hooks": ["guide"],
     "checks": [{"name": "smoke:load", "ok": True}, {"name": "guide:x", "ok": True}]},
    {"accepted": True, "stage": "contract", "name": "m", "class": "Other", "hooks": ["guide"],
     "checks": [{"name": "smoke:load", "ok": True}, {"name": "guide:x", "ok": True}]},
    {"accepted": True, "stage": "contract", "checks": [7, None, {"seconds": 2**1200}]},
    {"accepted": True, "stage": "contract", "checks": "all", "reason": float("nan")},
    {"accepted": "yes", "stage": ["contract"], "name": 2**1100, "hooks": {"a": 1}},
    {"error": {"nested": [[[]]]}},
]  # fmt: skip


@pytest.mark.parametrize("report", GARBAGE_REPORTS)
def test_a_report_that_does_not_show_every_test_passing_is_rejected(report: Any) -> None:
    from sandbox.ladder import _verdict
    from sandbox.source_hooks import source_hooks

    verdict = _verdict(report, "", source_hooks(MIXIN), [], 0.0)
    assert verdict["accepted"] is False
    assert isinstance(verdict["reason"], str) and "\n" not in verdict["reason"]


def test_the_well_formed_report_is_accepted() -> None:
    from sandbox.ladder import _verdict
    from sandbox.source_hooks import source_hooks

    report = {"accepted": True, "stage": "contract", "name": "m", "class": "M", "hooks": ["guide"],
              "reason": "passed 3 checks",
              "checks": [{"name": "smoke:load", "ok": True}, {"name": "guide:a", "ok": True},
                         {"name": "guide:b", "ok": True}]}  # fmt: skip
    assert _verdict(report, "", source_hooks(MIXIN), [], 0.0)["accepted"] is True


@pytest.mark.parametrize(
    "line",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"ok": false, "error": NaN}',
        b'{"ok": true, "seconds": 1e999}',
        b'{"ok": true, "value": ' + b"9" * 5000 + b"}",
        b"\xff\xfe not json",
        b"[1, 2]",
    ],
)
def test_a_worker_line_that_is_not_one_plain_answer_is_a_channel_error(line: bytes) -> None:
    from sandbox.channel import ChannelError, parse_answer

    with pytest.raises(ChannelError):
        parse_answer(line)


def test_state_kept_on_self_never_reaches_a_later_call(
    process_backend: Any, space: list[dict[str, Any]]
) -> None:
    """Every call, contract and live alike, starts from the module as it was right after
    loading (a fork per call, a fresh process per live call): a counter on ``self`` is
    always at its first value, so it cannot make a module behave differently later."""
    source = (
        "from sandbox.api import Context, Guidance, Mechanism\n\n\n"
        "class Counter(Mechanism):\n"
        "    name = 'counter'\n\n"
        "    def __init__(self) -> None:\n"
        "        super().__init__()\n"
        "        self.calls = 0\n\n"
        "    def guide(self, ctx: Context) -> Guidance:\n"
        "        self.calls += 1\n"
        "        return Guidance(hint=f'call {self.calls}')\n"
    )
    report = _ladder(source, space, process_backend)
    assert report.accepted, report.reason
