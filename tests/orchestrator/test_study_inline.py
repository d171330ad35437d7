"""Whole studies through the real CLI with the inline executor (real training)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.orchestrator.helpers import (
    REPO,
    assert_each_index_once,
    events,
    run_cli,
    study_args,
    write_study,
)
from tests.support.fake_llm import FakeLLM, Reply

pytestmark = pytest.mark.slow


def test_builtin_study_runs_summarises_and_refuses_to_overwrite(tmp_path: Path) -> None:
    # The quickstart with strict acceptance: this is about the CLI's lifecycle, and the
    # shipped paired rule adds repeats, races, re-run and test trials around the search.
    quick = (REPO / "studies/quickstart.toml").read_text()
    strict = write_study(tmp_path / "quickstart.toml", quick.replace('"paired"', '"strict"'))
    out = tmp_path / "run"

    def args(out: Path, *extra: str) -> list[str]:
        return study_args(out, *extra, study=str(strict))

    done = run_cli(args(out, "--iterations", "3", "--executor", "inline"))
    assert done.returncode == 0, done.stderr
    assert_each_index_once(out, 3)
    assert "== bilevel summary ==" in done.stdout and "agent: builtin" in done.stdout
    assert events(out, "study_started")[0]["agent"] == "builtin"
    assert events(out, "trial_proposed")[0]["source"] == "baseline"
    finished = events(out, "study_finished")
    assert len(finished) == 1 and finished[0]["baseline_val_bpb"] is not None
    status = run_cli([*args(out)[:3], "status", str(out)])
    assert status.returncode == 0 and "best_val_bpb:" in status.stdout
    again = run_cli(args(out, "--iterations", "3"))
    assert again.returncode == 2 and "--resume" in again.stderr
    assert "Traceback" not in again.stderr
    more = run_cli(args(out, "--iterations", "4", "--resume"))  # extend a finished study
    assert more.returncode == 0, more.stderr
    assert_each_index_once(out, 4)


def test_openai_study_survives_llm_faults(tmp_path: Path) -> None:
    good = {"hypothesis": "lower LR", "changes": [{"name": "MATRIX_LR", "value": 0.03}]}
    with FakeLLM() as llm:
        llm.script(
            "level1",
            Reply.error(429, retry_after=0.1),
            Reply.hang(3.0),
            Reply.truncated(good),
            Reply.json(good),
            Reply.error(500),
            Reply.invalid(),
            Reply.fenced({**good, "changes": [{"name": "WEIGHT_DECAY", "value": 0.1}]}),
        )
        study = write_study(
            tmp_path / "s.toml",
            f'name = "faults"\niterations = 3\n[llm]\nprovider = "openai"\n'
            f'base_url = "{llm.base_url}"\nmodel = "fake-model"\ntimeout_s = 1.5\n'
            # The subject is LLM faults, not acceptance: one trial per index, no repeats.
            '[acceptance]\nrule = "strict"\n',
        )
        out = tmp_path / "run"
        done = run_cli(study_args(out, study=str(study)))
    assert done.returncode == 0, done.stderr
    assert_each_index_once(out, 3)
    proposed = events(out, "trial_proposed")
    assert [p["source"] for p in proposed] == ["baseline", "llm", "llm"]
    assert proposed[1]["changes"] == {"MATRIX_LR": 0.03}
    assert proposed[2]["changes"] == {"WEIGHT_DECAY": 0.1}
    calls = events(out, "llm_call")
    assert {c["error"] for c in calls if not c["ok"]} >= {"HTTP 429", "HTTP 500"}
    assert any(c["role"] == "repair" for c in calls)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[llm]\nprovider = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n', "unreachable"),
        ('[llm]\nprovider = "openai"\napi_key_env = "BILEVEL_TEST_UNSET_KEY"\n', "is not set"),
        ('executor = "rq"\n[rq]\nredis_url = "redis://127.0.0.1:9/0"\n', "Redis"),
    ],
    ids=["llm-unreachable", "key-unset", "redis-unreachable"],
)
def test_missing_service_is_one_line_before_any_trial(
    tmp_path: Path, toml: str, message: str
) -> None:
    head, _, rest = toml.partition("[")
    body = f'name = "pre"\niterations = 2\n{head}' + (f"[{rest}" if rest else "")
    study = write_study(tmp_path / "s.toml", body)
    done = run_cli(study_args(tmp_path / "run", study=str(study)), timeout=60)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert events(tmp_path / "run", "trial_proposed") == []
