"""The mechanism API: JSON round trips, validation that matches trainer.spec, read-only context."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from sandbox.api import Candidate, Context, Guidance, Mechanism, Param, Trial, Verdict
from tests.conftest import REPO
from trainer.presets import get_preset


def _context() -> Context:
    space = [
        Param.from_dict(p.model_dump(mode="json")) for p in get_preset("cpu-tiny").space.params
    ]
    base = {p.name: p.default for p in space}
    ok = Trial(
        index=0, config=base, changes={}, val_bpb=1.5, status="ok", kept=True, source="baseline"
    )
    crashed = Trial(index=1, config=base, changes={}, val_bpb=None, status="oom", source="llm")
    return Context(iteration=2, seed=7, space=space, history=[ok, crashed], best=ok, base=base)


def test_param_fields_match_trainer_spec() -> None:
    api_fields = {f.name for f in dataclasses.fields(Param)}
    spec_fields = set(get_preset("cpu-tiny").space.params[0].model_dump()) - {"doc"}
    assert api_fields == spec_fields


def test_param_check_agrees_with_trainer_spec() -> None:
    for spec_param in get_preset("cpu-tiny").space.params:
        api_param = Param.from_dict(spec_param.model_dump(mode="json"))
        probes = [spec_param.default, -1, 0, 0.5, 3, 1e9, float("nan"), "x", True]
        probes += [*spec_param.choices, spec_param.low, spec_param.high]
        for value in probes:
            assert (api_param.check(value) is None) == (spec_param.check(value) is None), (
                spec_param.name,
                value,
            )


def test_context_json_round_trip() -> None:
    ctx = _context()
    again = Context.from_json(ctx.to_json())
    assert again == ctx
    assert Context.from_json(json.loads(ctx.to_json())) == ctx


def test_context_is_read_only_and_helpers_work() -> None:
    ctx = _context()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.iteration = 5  # type: ignore[misc]
    name = ctx.tunable()[0].name
    assert ctx.param(name).name == name
    with pytest.raises(KeyError, match="unknown parameter 'NOPE'; known:"):
        ctx.param("NOPE")
    assert ctx.apply(Candidate({name: ctx.base[name]}))[name] == ctx.base[name]
    assert ctx.check({}) is not None
    assert "is frozen" in (ctx.check({p.name: p.default for p in ctx.space if p.frozen}) or "")
    assert [t.index for t in ctx.ok_trials()] == [0]
    assert ctx.rng().random() == ctx.rng().random()


def test_hooks_have_no_op_defaults_and_overrides_are_listed() -> None:
    class Screen(Mechanism):
        name = "screen_only"

        def screen(self, ctx: Context, candidates: list[Candidate]) -> list[Verdict]:
            return [Verdict(False, "no") for _ in candidates]

    ctx = _context()
    base = Mechanism()
    assert base.guide(ctx) is None and base.propose(ctx) == []
    assert base.screen(ctx, [Candidate({"a": 1})]) == [Verdict(True)]
    assert Screen.hooks() == ["screen"]
    assert Guidance().focus == [] and Guidance().focus is not Guidance().focus


def test_api_imports_with_the_standard_library_only() -> None:
    """The sandbox image has no pydantic, no project: the API must not need them."""
    code = (
        "import sys; sys.modules['pydantic'] = None; sys.modules['trainer'] = None; "
        "sys.modules['orchestrator'] = None; import sandbox.api, sandbox.contexts, sandbox.harness, sandbox.limits, sandbox.worker; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('docker', 'redis', 'RestrictedPython')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
