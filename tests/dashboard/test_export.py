"""`bilevel export --optuna`: the values, parameters and attributes read back from the Optuna
storage equal the journal's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

from orchestrator.report.data import load_run
from tests.dashboard.journals import HOSTILE_DIFF, HOSTILE_DIFF_SHA, write_hostile_journal
from tests.report.journals import write_study_journal


def export(run: Path, storage: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "export", str(run), "--optuna", storage, *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_export_round_trips_values_params_and_attributes(tmp_path: Path) -> None:
    run = tmp_path / "study"
    write_study_journal(run, trials=16, pruned=(9,))
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    done = export(run, storage)
    assert done.returncode == 0, done.stderr
    assert "exported 16 search trials" in done.stdout

    journal = load_run(run)
    study = optuna.load_study(study_name="study", storage=storage)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.user_attrs["index"])
    assert [t.user_attrs["index"] for t in trials] == [t.index for t in journal.trials]
    assert [t.status for t in journal.trials].count("pruned") == 1
    for mine, theirs in zip(journal.trials, trials, strict=True):
        assert theirs.params == mine.config
        if mine.status == "ok":
            assert theirs.state == optuna.trial.TrialState.COMPLETE
            assert theirs.value == mine.val_bpb
        elif mine.status == "pruned":  # stopped early by the study: Optuna's own state
            assert theirs.state == optuna.trial.TrialState.PRUNED and theirs.value is None
        else:
            assert theirs.state == optuna.trial.TrialState.FAIL and theirs.value is None
        assert theirs.user_attrs["source"] == mine.source
        assert theirs.user_attrs["fired"] == list(mine.fired)
        assert theirs.user_attrs["status"] == mine.status
    best = min(t.val_bpb for t in journal.trials if t.val_bpb is not None)
    assert study.best_value == best
    # Optuna's own analysis runs on it (what optuna-dashboard shows).
    importances = optuna.importance.get_param_importances(study)
    assert set(importances) <= set(journal.trials[0].config)

    again = export(run, storage)
    assert again.returncode == 2 and "already holds a study named 'study'" in again.stderr


def test_export_refuses_a_path_for_a_url_and_handles_odd_journals(tmp_path: Path) -> None:
    run = tmp_path / "hostile"
    write_hostile_journal(run)
    bad = export(run, str(tmp_path / "x.db"))
    assert bad.returncode == 2 and "sqlite:///" in bad.stderr
    storage = f"sqlite:///{tmp_path / 'h.db'}"
    done = export(run, storage, "--study-name", "h")
    assert done.returncode == 0, done.stderr
    trials = optuna.load_study(study_name="h", storage=storage).get_trials()
    assert len(trials) == 3
    # The code trial's recipe diff is a user attribute, not a parameter.
    assert trials[2].user_attrs["patch_sha256"] == HOSTILE_DIFF_SHA
    assert trials[2].user_attrs["patch"] == HOSTILE_DIFF
    assert "recipe_patch" not in trials[2].params


@pytest.mark.parametrize("missing", ["nope"])
def test_export_of_a_folder_without_a_journal_is_a_usage_error(
    tmp_path: Path, missing: str
) -> None:
    done = export(tmp_path / missing, f"sqlite:///{tmp_path / 'o.db'}")
    assert done.returncode == 2 and "events.jsonl" in done.stderr


def test_a_maximised_metric_exports_as_a_maximised_study(tmp_path: Path) -> None:
    from orchestrator.export import export_to_optuna
    from tests.report.journals import JournalWriter

    run = tmp_path / "reward"
    writer = JournalWriter(run / "events.jsonl")
    writer.emit("study_started", study="reward", metric="reward", direction="maximize", config={})
    for index, value in enumerate((1.0, 3.0, 2.0)):
        result = {
            "status": "ok",
            "metric": "reward",
            "value": value,
            "spec": {"config": {"x": index}},
        }
        writer.emit("trial_finished", index=index, result=result, kept=value == 3.0, source="llm")
    storage = f"sqlite:///{tmp_path / 'r.db'}"
    assert export_to_optuna(run, storage).direction == "maximize"
    study = optuna.load_study(study_name="reward", storage=storage)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert study.best_value == 3.0 and study.best_params == {"x": 1}


def _append(run: Path, *events: dict[str, Any]) -> None:
    path = run / "events.jsonl"
    seq = len(path.read_text().splitlines())
    with path.open("a") as handle:
        for number, event in enumerate(events):
            handle.write(json.dumps({"seq": seq + number, "ts": "2026-11-27T00:00:00+00:00",
                                     **event}) + "\n")  # fmt: skip


def test_only_search_trials_are_optuna_trials_and_optunas_best_is_the_search_best(
    tmp_path: Path,
) -> None:
    run = tmp_path / "study"
    write_study_journal(run, trials=10, finished=False)
    search = load_run(run).trials
    best = min((t for t in search if t.val_bpb is not None), key=lambda t: t.val_bpb or 0.0)
    incumbent = [t for t in search if t.kept][-1]
    # A re-run of the best on a fresh seed and its held-out test score, both lower than any
    # search value (another seed, another split): as Optuna trials they would be its "best".
    low = best.val_bpb or 0.0
    extra = [("reseed", low - 0.2, "val"), ("test-best", low - 0.3, "test")]
    for offset, (source, value, split) in enumerate(extra):
        index = len(search) + offset
        result = {"status": "ok", "val_bpb": value, "spec": {"index": index, "config": incumbent.config,
                  "eval_split": split}}  # fmt: skip
        proposed = {"type": "trial_proposed", "index": index, "changes": {}, "fired": []}
        proposed |= {"config": incumbent.config, "source": source, "hypothesis": ""}
        finished = {"type": "trial_finished", "index": index, "result": result, "kept": False}
        finished |= {"source": source, "best_val_bpb": best.val_bpb}
        _append(run, proposed, finished)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    done = export(run, storage)
    assert done.returncode == 0, done.stderr
    assert f"exported {len(search)} search trials" in done.stdout
    study = optuna.load_study(study_name="study", storage=storage)
    assert len(study.trials) == len(search)
    assert study.best_trial.user_attrs["index"] == best.index
    assert study.best_value == best.val_bpb
    # This journal's noise-aware rule kept an earlier trial: the export says which, and why.
    assert study.user_attrs["search_best_index"] == incumbent.index != best.index
    assert f"kept trial #{incumbent.index}" in done.stdout
    kept = next(t for t in study.trials if t.user_attrs["index"] == incumbent.index)
    evaluations = kept.user_attrs["evaluations"]
    assert [(e["source"], e["value"]) for e in evaluations] == [(s, v) for s, v, _ in extra]


@pytest.mark.parametrize("url", ["sqlite://q3.db", "bogus://x", "sqlite:////proc/no/such/q.db"])
def test_a_storage_that_cannot_be_opened_is_one_line_and_exit_2(tmp_path: Path, url: str) -> None:
    run = tmp_path / "study"
    write_study_journal(run, trials=3)
    done = export(run, url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "cannot open the Optuna storage" in done.stderr and "Traceback" not in done.stderr
