"""Each objective kind run through the real supervisor: statuses, metrics, extras, errors."""

from __future__ import annotations

import math
import sys
import textwrap
from pathlib import Path

import pytest

from contract.hooks import Context
from contract.space import Param, SearchSpace
from orchestrator.metric import Metric, is_better
from trainer import benchmarks
from trainer.spec import Budget, ObjectiveSpec, TrialSpec
from trainer.supervise import run_supervised

SPACE = SearchSpace(
    params=(
        Param(name="x", kind="float", low=0.0, high=1.0, default=0.5),
        Param(name="layers", kind="int", low=1, high=4, default=2),
    )
)


def spec_for(objective: ObjectiveSpec, **config: object) -> TrialSpec:
    return TrialSpec(
        trial_id=f"t-{objective.kind}-{sorted(config.items())}",
        index=0,
        budget=Budget(mode="steps", amount=3),
        config={**SPACE.defaults(), **config},
        seed=7,
        objective=objective,
    )


def command_objective(tmp_path: Path, body: str, **fields: object) -> ObjectiveSpec:
    (tmp_path / "job.py").write_text(textwrap.dedent(body))
    return ObjectiveSpec(
        kind="command",
        metric="loss",
        space=SPACE,
        command=("python", "job.py"),
        workdir=str(tmp_path),
        **fields,  # type: ignore[arg-type]
    )


def test_a_command_gets_its_trial_in_the_environment_and_reports_its_metric(
    tmp_path: Path,
) -> None:
    objective = command_objective(
        tmp_path,
        """
        import json, os
        config = json.load(open(os.environ["BILEVEL_CONFIG"]))
        x = float(os.environ["BILEVEL_PARAM_X"])
        assert config == {"x": x, "layers": int(os.environ["BILEVEL_PARAM_LAYERS"])}
        assert (os.environ["BILEVEL_BUDGET_MODE"], os.environ["BILEVEL_BUDGET"]) == ("steps", "3")
        print("loss: 99")  # an earlier line: the last one counts
        print(f"loss: {(x - 0.2) ** 2 + int(os.environ['BILEVEL_SEED'])}")
        """,
    )
    result = run_supervised(spec_for(objective, x=0.7))
    assert result.status == "ok", result.error
    assert result.metric == "loss" and result.value == pytest.approx(0.25 + 7)
    assert result.val_bpb is None  # GPT's field stays empty for other metrics


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (
            "import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)",
            "crashed",
            "exited with code 3",
        ),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", "crashed", "SIGSEGV"),
        ("print('loss: nan')", "diverged", "loss is nan"),
        ("print('loss: lots')", "invalid", "is not a number"),
        ("print('accuracy: 0.5')", "invalid", "no 'loss: <number>' line"),
        ("raise MemoryError('too big')", "oom", "MemoryError"),
        ("import time\ntime.sleep(30)", "timeout", "deadline"),
    ],
)
def test_a_failing_command_is_a_trial_status_with_the_stderr_tail(
    tmp_path: Path, body: str, status: str, words: str
) -> None:
    objective = command_objective(tmp_path, body, timeout_s=1.0)
    result = run_supervised(spec_for(objective))
    assert result.status == status, result.error
    assert words in result.error and result.value is None


def test_a_command_may_write_a_json_result_with_extras(tmp_path: Path) -> None:
    objective = command_objective(
        tmp_path,
        """
        import json, os
        json.dump({"loss": 0.125, "accuracy": 0.9, "note": "text"}, open(os.environ["BILEVEL_RESULT"], "w"))
        """,
    )
    result = run_supervised(spec_for(objective))
    assert (result.status, result.value, result.extras) == ("ok", 0.125, {"accuracy": 0.9})


def test_a_missing_command_is_invalid_not_a_crash(tmp_path: Path) -> None:
    objective = ObjectiveSpec(
        kind="command", metric="loss", space=SPACE, command=("no-such-program-xyz",)
    )
    result = run_supervised(spec_for(objective))
    assert result.status == "invalid" and "cannot start" in result.error


def test_a_function_objective_runs_in_the_supervised_child(tmp_path: Path) -> None:
    (tmp_path / "userobj.py").write_text(
        textwrap.dedent(
            """
            import os

            def score(config, budget):
                return {"acc": 1 - (config["x"] - 0.3) ** 2, "pid": os.getpid(), "seed": budget["seed"]}

            def broken(config, budget):
                raise ValueError("bad config " + str(config["x"]))
            """
        )
    )
    objective = ObjectiveSpec(
        kind="function",
        metric="acc",
        direction="maximize",
        space=SPACE,
        target="userobj:score",
        pythonpath=(str(tmp_path),),
    )
    result = run_supervised(spec_for(objective, x=0.3))
    assert result.status == "ok" and result.value == 1.0
    assert result.extras["seed"] == 7 and result.extras["pid"] != __import__("os").getpid()

    crashed = run_supervised(spec_for(objective.model_copy(update={"target": "userobj:broken"})))
    assert crashed.status == "crashed" and "ValueError: bad config 0.5" in crashed.error

    missing = run_supervised(spec_for(objective.model_copy(update={"target": "nowhere:score"})))
    assert missing.status == "invalid" and "does not import" in missing.error


@pytest.mark.parametrize("name", sorted(benchmarks.BENCHMARKS))
def test_every_benchmark_attains_its_known_optimum_and_its_default_is_worse(name: str) -> None:
    for dim in (2, 5) if benchmarks.BENCHMARKS[name].fixed_dim is None else (None,):
        space = benchmarks.benchmark_space(name, dim)
        best = benchmarks.known_optimum(name, dim)
        assert benchmarks.evaluate(
            name, dim, benchmarks.optimum_config(name, dim)
        ) == pytest.approx(best, abs=1e-5)
        assert benchmarks.evaluate(name, dim, space.defaults()) > best + 0.1
        assert not space.check_config(benchmarks.optimum_config(name, dim))


def test_benchmark_trials_take_microseconds_and_noise_is_seeded() -> None:
    objective = ObjectiveSpec(
        kind="benchmark",
        metric="f",
        direction="maximize",
        benchmark="mixed",
        noise=0.1,
        space=benchmarks.benchmark_space("mixed"),
    )
    spec = TrialSpec(
        trial_id="b",
        index=0,
        budget=Budget(mode="steps", amount=1),
        config=objective.space.defaults(),  # type: ignore[union-attr]
        seed=1,
        objective=objective,
    )
    first, again = run_supervised(spec), run_supervised(spec)
    other_seed = run_supervised(spec.model_copy(update={"seed": 2}))
    assert first.status == "ok" and first.value == again.value != other_seed.value
    noiseless = -benchmarks.evaluate("mixed", None, spec.config)  # maximize: -f
    assert abs(first.value - noiseless) < 0.5 and first.train_seconds == 0.0


def test_one_better_than_rule_for_both_directions() -> None:
    up, down = Metric("acc", "maximize"), Metric()
    assert up.better(0.9, 0.8) and not up.better(0.8, 0.9) and down.better(0.8, 0.9)
    assert up.better(0.95, 0.9, margin=0.01) and not up.better(0.905, 0.9, margin=0.01)
    assert up.improvement(0.5, 0.7) == pytest.approx(0.2) == down.improvement(0.7, 0.5)
    assert up.best_of([0.1, None, 0.4, 0.2]) == 0.4 and down.best_of([0.3, 0.1]) == 0.1
    assert is_better(1.0, None) and not is_better(None, 1.0)


def test_mechanism_api_2_gives_value_and_a_minimise_normal_score() -> None:
    trial = {"index": 0, "config": {}, "changes": {}, "status": "ok"}
    ctx = Context.from_dict(
        {
            "space": [],
            "history": [{**trial, "value": 0.9}, {**trial, "index": 1, "value": 0.95}],
            "best": {**trial, "index": 1, "value": 0.95},
            "metric": "acc",
            "direction": "maximize",
        }
    )
    assert [t.value for t in ctx.history] == [0.9, 0.95]
    assert [t.score for t in ctx.history] == [-0.9, -0.95] == [t.val_bpb for t in ctx.history]
    assert min(ctx.ok_trials(), key=lambda t: t.score).index == 1 and ctx.better(0.95, 0.9)
    # An API-1 context (val_bpb only, no direction) still reads as before.
    legacy = Context.from_dict({"history": [{**trial, "val_bpb": 1.5}], "space": []})
    assert legacy.history[0].value == legacy.history[0].score == 1.5 and legacy.metric == "val_bpb"
    assert not math.isnan(legacy.history[0].value)


def test_the_python_of_a_command_is_the_trainers_own(tmp_path: Path) -> None:
    objective = command_objective(
        tmp_path, "import sys\nprint(f'loss: {len(sys.executable)}')\nprint(sys.executable)"
    )
    result = run_supervised(spec_for(objective))
    assert result.value == len(sys.executable)


def test_a_trial_does_not_inherit_the_workers_redis_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILEVEL_REDIS_URL", "redis://:secret@127.0.0.1:6379/0")
    monkeypatch.setenv("REDIS_PASSWORD", "secret")
    objective = command_objective(
        tmp_path,
        "import os\nleaked = [k for k in os.environ if 'REDIS' in k]\nprint(f'loss: {len(leaked)}')",
    )
    assert run_supervised(spec_for(objective)).value == 0
