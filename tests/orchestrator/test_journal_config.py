"""The journal survives torn writes; study files fail with one line naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.config import StudyConfig
from orchestrator.errors import UserError
from orchestrator.events import TrialFinished, TrialProposed
from orchestrator.journal import Journal, read_events


def test_torn_last_line_is_ignored_and_truncated_on_reopen(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        journal.append(TrialProposed(index=0))
        journal.append(TrialFinished(index=0))
    path = tmp_path / "events.jsonl"
    with open(path, "a") as fh:
        fh.write('{"seq": 2, "type": "trial_prop')  # kill -9 mid-write
    assert [e["seq"] for e in read_events(path)] == [0, 1]
    with Journal(tmp_path) as journal:
        event = journal.append(TrialProposed(index=1))
    assert event.seq == 2
    lines = path.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [0, 1, 2]


def test_unknown_key_names_the_closest_known_key(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('name = "x"\niteratons = 3\n')
    with pytest.raises(UserError, match=r"unknown key 'iteratons' \(did you mean 'iterations'\?\)"):
        StudyConfig.load(path)


def test_nested_bad_value_and_unknown_param_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('name = "x"\niterations = 3\n[llm]\nprovider = "gpt"\n')
    with pytest.raises(UserError, match=r"bad value for 'llm\.provider'"):
        StudyConfig.load(path)
    path.write_text('name = "x"\niterations = 3\n[space]\nNOPE = {frozen = true}\n')
    with pytest.raises(UserError, match="unknown parameter"):
        StudyConfig.load(path)


@pytest.mark.parametrize(
    "study",
    [
        # a preset's parameter narrowed with a typo: once silently ignored
        'name = "x"\niterations = 3\n[space.MATRIX_LR]\nlo = 0.01\n',
        'name = "x"\niterations = 3\n[objective]\nkind = "benchmark"\nbenchmark = "branin"\n[space.x1]\nlo = 2\n',
        # a function objective's own parameter
        'name = "x"\niterations = 3\n[objective]\nkind = "function"\ntarget = "m:f"\nmetric = "loss"\n'
        '[space.x]\nkind = "float"\nlo = 0.0\nhigh = 1.0\ndefault = 0.5\n',
    ],
)
def test_a_typo_in_a_space_table_names_the_key_it_meant(tmp_path: Path, study: str) -> None:
    path = tmp_path / "x.toml"
    path.write_text(study)
    with pytest.raises(UserError, match=r"space\.\w+: unknown key 'lo' \(did you mean 'low'\?\)"):
        StudyConfig.load(path)


def test_cli_overrides_revalidate() -> None:
    cfg = StudyConfig.from_dict({"name": "x", "iterations": 3})
    out = cfg.with_overrides(iterations=5, budget_tokens=4096, executor="rq", parallel=2)
    assert (out.iterations, out.executor, out.parallel) == (5, "rq", 2)
    assert out.budget().mode == "tokens" and out.budget().amount == 4096
    with pytest.raises(UserError, match="parallel"):
        cfg.with_overrides(parallel=0)


def test_shipped_study_files_load() -> None:
    repo = Path(__file__).resolve().parents[2]
    quick = StudyConfig.load(repo / "studies/quickstart.toml")
    paper = StudyConfig.load(repo / "studies/paper.toml")
    assert quick.llm.provider == "builtin" and quick.executor == "inline"
    assert paper.objective.preset == "paper-gpt50m" and paper.iterations == 30
    assert paper.budget().amount == 300 and paper.llm.model == "deepseek-chat"
    assert paper.llm.api_key_env == "DEEPSEEK_API_KEY"


def test_redis_password_never_reaches_the_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILEVEL_REDIS_URL", "redis://:s3cret@redis:6379/0")
    cfg = StudyConfig.from_dict({"name": "x", "iterations": 1})
    assert cfg.rq.redis_url == "redis://:s3cret@redis:6379/0"  # the deployment's Redis
    assert "s3cret" not in json.dumps(cfg.public_dict())
