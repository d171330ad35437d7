"""The mechanism API: one Param from the study file to the sandbox, JSON round trips, read-only context."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from sandbox.api import Candidate, Context, Guidance, Mechanism, Param, Trial, Verdict
from tests.conftest import REPO
from trainer.benchmarks import benchmark_space
from trainer.presets import get_preset
from trainer.spec import validate_param


def _context() -> Context:
    space = [Param.from_dict(p.to_dict()) for p in get_preset("cpu-tiny").space.params]
    base = {p.name: p.default for p in space}
    ok = Trial(
        index=0, config=base, changes={}, val_bpb=1.5, status="ok", kept=True, source="baseline"
    )
    crashed = Trial(index=1, config=base, changes={}, val_bpb=None, status="oom", source="llm")
    return Context(iteration=2, seed=7, space=space, history=[ok, crashed], best=ok, base=base)


def test_one_param_class_from_study_file_to_sandbox() -> None:
    """What the study file is validated into is what a mechanism reads: one class, and its
    JSON form round-trips field for field (doc included)."""
    for param in [*get_preset("cpu-tiny").space.params, *benchmark_space("mixed").params]:
        assert type(param) is Param
        assert Param.from_dict(json.loads(json.dumps(param.to_dict()))) == param
    assert any(p.doc for p in benchmark_space("mixed").params)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"kind": "float", "low": 2.0, "high": 1.0}, "needs low <= high"),
        ({"kind": "choice"}, "needs choices"),
        ({"kind": "int", "low": 1, "high": 8, "default": 9}, "default is invalid"),
        ({"kind": "pow2", "low": 1, "high": 64, "default": 3}, "power of two"),
        ({"kind": "integer", "low": 1, "high": 8}, "kind must be one of"),
    ],
)
def test_a_param_exists_only_in_a_valid_shape(fields: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Param(name="P", **fields)
    with pytest.raises(ValidationError):  # the edge (study files, JSON) refuses it too
        validate_param({"name": "P", **fields})


def test_the_edge_refuses_unknown_keys_and_wrong_types() -> None:
    with pytest.raises(ValidationError, match="lo"):
        validate_param({"name": "P", "kind": "float", "lo": 0.0, "high": 1.0})
    with pytest.raises(ValidationError, match="low"):
        validate_param({"name": "P", "kind": "float", "low": "small", "high": 1.0})
    param = validate_param({"name": "P", "kind": "choice", "choices": [1, 2], "default": 2})
    assert param.choices == (1, 2) and param.check(2) is None and param.check(3)


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
        "sys.modules['orchestrator'] = None; import sandbox.api, sandbox.contexts, sandbox.harness, sandbox.worker; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('docker', 'redis', 'RestrictedPython')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
