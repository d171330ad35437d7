"""The paired rule inside a study, on a noisy benchmark objective: races are journaled
trials that count against ``iterations``, each re-evaluation is paired on its seed, the
reported best is a mean with n and an interval, and ``--resume`` mid-race decides as the
uninterrupted study did. Deterministic objectives pay nothing for it."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from contract.trials import INTENSIFY_SOURCE, REPORT_SOURCES
from orchestrator.acceptance.judge import keep_rule_text
from orchestrator.acceptance.race import MAX_PAIRS
from orchestrator.config import StudyConfig
from orchestrator.journal import journal_path, read_events
from orchestrator.levels.rules import keep_rule
from orchestrator.state import rebuild_state
from orchestrator.study import run_study

ITERATIONS = 24


def noisy(name: str, iterations: int = ITERATIONS, **acceptance: Any) -> StudyConfig:
    return StudyConfig.from_dict(
        {
            "name": name,
            "iterations": iterations,
            "seed": 3,
            "objective": {"kind": "benchmark", "benchmark": "hartmann6", "noise": 0.3},
            "levels": {"policy": False, "research": False},
            "acceptance": {"final_reruns": 2, **acceptance},
        }
    )


def proposals(run: Path) -> list[tuple[str, str, int]]:
    return [
        (e["source"], json.dumps(e["config"], sort_keys=True), e["seed"])
        for e in read_events(journal_path(run))
        if e["type"] == "trial_proposed"
    ]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("paired") / "run"
    run_study(noisy("paired"), run)
    return run


def test_races_are_journaled_paired_trials_that_count_against_iterations(study: Path) -> None:
    events = read_events(journal_path(study))
    proposed = [e for e in events if e["type"] == "trial_proposed"]
    races = [e for e in proposed if e["source"] == INTENSIFY_SOURCE]
    assert races, "a noisy objective with sd 0.3 raced no challenger"
    counted = [e for e in proposed if e["source"] not in REPORT_SOURCES]
    assert len(counted) == ITERATIONS  # repeats and races spent the budget, nothing more
    by_seed: dict[int, set[str]] = {}
    for e in proposed:
        by_seed.setdefault(e["seed"], set()).add(json.dumps(e["config"], sort_keys=True))
    for e in races:  # each re-evaluation has its partner on the same fresh seed
        assert e["seed"] != 3 and len(by_seed[e["seed"]]) >= 2
    opened = [e for e in events if e["type"] == "trial_finished" and e.get("acceptance")]
    decided = [e for e in events if e["type"] == "challenge_decided"]
    assert {e["acceptance"]["verdict"] for e in opened} >= {"reject", "race"}
    assert len(decided) == sum(e["acceptance"]["verdict"] == "race" for e in opened)
    state = rebuild_state(noisy("paired"), events)
    for e in decided:
        assert state.trials[e["challenger"]].kept == (e["verdict"] == "accept")
    assert state.race is None


def test_the_reported_best_is_the_mean_of_its_evaluations(study: Path) -> None:
    events = read_events(journal_path(study))
    done = next(e for e in events if e["type"] == "study_finished")
    best = done["best"]
    config = json.dumps(best["config"], sort_keys=True)
    evaluations = [
        (e["index"], e["result"]["value"])
        for e in events
        if e["type"] == "trial_finished"
        and json.dumps(e["result"]["spec"]["config"], sort_keys=True) == config
    ]
    every = [v for _, v in evaluations]
    # Reported from the evaluations made after its selection (here the 2 final re-runs),
    # which carry none of the luck that selected it; every evaluation is shown beside.
    fresh = [v for i, v in evaluations if i > best["index"] and i >= ITERATIONS]
    assert best["n"] == len(fresh) == 2 and best["all_n"] == len(every) >= 3
    assert best["mean"] == pytest.approx(sum(fresh) / len(fresh))
    assert best["all_mean"] == pytest.approx(sum(every) / len(every))
    assert best["low"] < best["mean"] < best["high"]
    state = rebuild_state(noisy("paired"), events)
    text = keep_rule_text(noisy("paired"), state)
    assert "paired noise sd" in text and f"n={best['n']}" in text and f"up to {MAX_PAIRS}" in text
    assert keep_rule(noisy("paired"), state) == text  # the Keep rule section of both prompts


def test_resume_mid_race_decides_as_the_uninterrupted_study(study: Path, tmp_path: Path) -> None:
    lines = journal_path(study).read_text().splitlines()
    cut = next(
        i
        for i, line in enumerate(lines)
        if '"trial_finished"' in line and f'"source":"{INTENSIFY_SOURCE}"' in line
    )
    run = tmp_path / "run"
    run.mkdir()
    journal_path(run).write_text("\n".join(lines[: cut + 1]) + "\n")
    run_study(noisy("paired"), run, resume=True)
    assert proposals(run) == proposals(study)


def test_deterministic_objectives_spend_no_extra_trial(tmp_path: Path) -> None:
    config = StudyConfig.from_dict(
        {
            "name": "det",
            "iterations": 8,
            "objective": {"kind": "benchmark", "benchmark": "branin"},
            "levels": {"policy": False, "research": False},
        }
    )
    assert config.acceptance.rule == "paired"  # the default
    run_study(config, tmp_path / "run")
    sources = [s for s, _, _ in proposals(tmp_path / "run")]
    assert sources == ["baseline"] + ["builtin"] * 7  # no repeat, no race, no re-run
    state = rebuild_state(config, read_events(journal_path(tmp_path / "run")))
    assert "deterministic" in keep_rule_text(config, state)


def test_the_old_rule_name_still_loads_as_the_paired_rule() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = StudyConfig.from_dict(
            {"name": "x", "iterations": 2, "acceptance": {"rule": "noise-aware"}}
        )
    assert config.acceptance.rule == "paired"
    assert any('"paired"' in str(w.message) for w in caught)


def test_no_search_trial_reruns_a_config_on_its_own_seed(tmp_path: Path) -> None:
    # A 2-D noisy problem whose walk exhausts its neighbourhood (Level 1.5 freezes one of the
    # two params): a repeat of (config, seed) would buy back a value already known.
    config = StudyConfig.from_dict(
        {
            "name": "exhaust",
            "iterations": 40,
            "seed": 0,
            "objective": {"kind": "benchmark", "benchmark": "branin", "noise": 2.5},
        }
    )
    run_study(config, tmp_path / "run")
    ran = [(c, s) for src, c, s in proposals(tmp_path / "run") if src not in REPORT_SOURCES]
    assert len(ran) == 40
    assert len(ran) == len(set(ran)), "a trial re-ran a (config, seed) the study already had"


@pytest.mark.parametrize(("iterations", "baseline_draws"), [(2, 1), (12, 2), (ITERATIONS, 3)])
def test_a_short_study_keeps_its_trials_for_the_search(
    tmp_path: Path, iterations: int, baseline_draws: int
) -> None:
    # The baseline's repeats are charged to `iterations`: one per ten of them, so a
    # two-iteration study still searches instead of measuring the baseline twice.
    run_study(noisy("short", iterations=iterations), tmp_path / "run")
    sources = [src for src, _, _ in proposals(tmp_path / "run") if src not in REPORT_SOURCES]
    assert sources.count("baseline") + sources.count("noise") == baseline_draws
    assert "builtin" in sources


def test_an_explicit_baseline_repeats_is_honoured_in_a_short_study(tmp_path: Path) -> None:
    run_study(noisy("explicit", iterations=6, baseline_repeats=4), tmp_path / "run")
    sources = [src for src, _, _ in proposals(tmp_path / "run")]
    assert sources.count("baseline") + sources.count("noise") == 4


def test_with_a_side_of_a_race_pair_running_the_other_side_is_planned_at_once() -> None:
    # A race needs the challenger and the incumbent on one fresh seed; with a second worker
    # free, the second side starts while the first still runs, and neither runs twice.
    from orchestrator.acceptance.judge import race_step
    from orchestrator.acceptance.race import race_seed
    from orchestrator.state import StudyState, TrialRecord

    config = noisy("sides")
    a, b = {"x1": 0.1}, {"x1": 0.2}
    state = StudyState(config=config, best_index=1, race=(2, 1))
    state.trials = {
        0: TrialRecord(index=0, config={}, value=-1.0, status="ok", source="baseline", seed=3),
        1: TrialRecord(index=1, config=a, value=-2.0, status="ok", source="builtin", seed=3),
        2: TrialRecord(index=2, config=b, value=-2.1, status="ok", source="builtin", seed=3),
    }
    seed = race_seed(config.seed, 1)
    first = race_step(state)
    assert first.run is not None and first.run.index == 2 and first.seed == seed
    state.trials[3] = TrialRecord(index=3, config=b, source=INTENSIFY_SOURCE, seed=seed)
    second = race_step(state)  # the challenger's side is running: the incumbent's is next
    assert second.run is not None and second.run.index == 1 and second.seed == seed
    state.trials[4] = TrialRecord(index=4, config=a, source=INTENSIFY_SOURCE, seed=seed)
    assert race_step(state).run is None and race_step(state).decision is None  # wait


def test_a_close_call_when_the_budget_runs_out_keeps_the_incumbent() -> None:
    # The last search trial looks a little better on its one draw and no trial is left to
    # race it: the configuration with more evidence stays the study's best.
    from orchestrator.acceptance.judge import race_step
    from orchestrator.state import StudyState, TrialRecord

    config = noisy("last", iterations=3)
    state = StudyState(config=config, best_index=1, race=(2, 1))
    state.trials = {
        0: TrialRecord(index=0, config={}, value=-1.0, status="ok", source="baseline", seed=3),
        1: TrialRecord(index=1, config={"x1": 0.1}, value=-2.0, status="ok", source="builtin",
                       seed=3),
        2: TrialRecord(index=2, config={"x1": 0.2}, value=-2.01, status="ok", source="builtin",
                       seed=3),
    }  # fmt: skip
    decision = race_step(state).decision
    assert decision is not None and decision.verdict == "reject"
    assert "keeps the incumbent" in decision.reason
