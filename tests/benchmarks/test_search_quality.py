"""The search-quality benchmark: its statistics against hand-computed cases, and a --quick
run end to end (every method through the real study loop and the real samplers)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.search_quality.measures import (
    Comparison,
    GoalRow,
    average_ranks,
    best_so_far,
    compare,
    goal_met,
    median_or_none,
    normalised,
    quartiles,
    regret_curve,
    trials_to_target,
)
from benchmarks.search_quality.methods import METHODS, Run
from benchmarks.search_quality.problems import CHEAP_PROBLEMS

REPO = Path(__file__).resolve().parents[2]
BRANIN_NOISY = next(p for p in CHEAP_PROBLEMS if p.name == "branin-noisy")
OPTIMUM = {"x1": math.pi, "x2": 2.275}
DEFAULTS = {"x1": 0.0, "x2": 0.0}
# Branin at (0, 0) by hand: (0 - 0 + 0 - 6)^2 + 10 (1 - 1/(8 pi)) cos 0 + 10.
BRANIN_AT_ORIGIN = 36 + 10 * (1 - 1 / (8 * math.pi)) + 10
BRANIN_MIN = 0.39788735772973816


def test_normalised_regret_by_hand() -> None:
    assert normalised(3.0, 1.0, 5.0) == 0.5
    assert normalised(1.0, 1.0, 5.0) == 0.0
    assert normalised(None, 1.0, 5.0) == 1.0  # nothing measured yet: still at the defaults
    assert normalised(2.0, 2.0, 2.0) == 0.0  # the defaults were optimal


def test_regret_is_the_noiseless_value_of_the_best_observation() -> None:
    # Trial 1 looks best only because of a lucky draw; trial 2 is the optimum but was observed
    # worse than trial 1: the method reports trial 1, whose true value is what counts.
    lucky = {"x1": 10.0, "x2": 15.0}
    run = Run(
        "branin-noisy",
        "m",
        0,
        scores=[BRANIN_AT_ORIGIN, -5.0, 0.5, None],
        configs=[DEFAULTS, lucky, OPTIMUM, OPTIMUM],
        seconds=0.0,
    )
    true_lucky = (
        (15 - 5.1 / (4 * math.pi**2) * 100 + 50 / math.pi - 6) ** 2
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(10)
        + 10
    )
    values = best_so_far(run, BRANIN_NOISY)
    assert values[0] == pytest.approx(BRANIN_AT_ORIGIN)
    assert values[1] == values[2] == values[3] == pytest.approx(true_lucky)
    curve = regret_curve(run, BRANIN_NOISY, BRANIN_MIN)
    assert curve[0] == 1.0
    assert curve[3] == pytest.approx((true_lucky - BRANIN_MIN) / (BRANIN_AT_ORIGIN - BRANIN_MIN))


def test_trials_to_target_counts_the_defaults_as_trial_one() -> None:
    assert trials_to_target([1.0, 0.5, 0.04, 0.0]) == 3
    assert trials_to_target([1.0, 0.5, 0.2]) is None
    assert trials_to_target([0.05]) == 1  # the target itself counts as reached


def test_average_ranks_share_ties() -> None:
    assert average_ranks({"a": 0.1, "b": 0.1, "c": 0.5, "d": 0.0}) == {
        "d": 1.0,
        "a": 2.5,
        "b": 2.5,
        "c": 4.0,
    }


def test_quartiles_and_median_trials_by_hand() -> None:
    assert quartiles([5, 1, 3, 2, 4]) == (2, 3, 4)
    assert quartiles([1, 2, 3, 4]) == (1.75, 2.5, 3.25)
    assert median_or_none([3, None, 5]) == 5  # lower median of 3, 5, never
    assert median_or_none([None, None, 4]) is None  # the median seed never got there


def test_paired_sign_flip_by_hand() -> None:
    # Differences 1, 2, 3: of the 8 sign patterns only +++ and --- reach |sum| = 6.
    result = compare({0: 1.0, 1: 2.0, 2: 3.0}, {0: 0.0, 1: 0.0, 2: 0.0})
    assert result == Comparison(n=3, mean_difference=2.0, p_value=0.25, outcome="tie")
    # Six seeds, the method worse on every one: p = 2 / 2**6, the reference wins.
    worse = compare({s: 1.0 + s for s in range(6)}, {s: 0.5 for s in range(6)})
    assert worse.p_value == pytest.approx(2 / 64) and worse.outcome == "win"
    better = compare({s: 0.0 for s in range(6)}, {s: 0.5 for s in range(6)})
    assert better.outcome == "loss"
    # Only the seeds both have are paired; identical results are a tie with p = 1.
    same = compare({0: 0.3, 1: 0.3, 7: 9.0}, {0: 0.3, 1: 0.3})
    assert same == Comparison(n=2, mean_difference=0.0, p_value=1.0, outcome="tie")


def _row(no_worse: bool, beats_random: bool) -> GoalRow:
    return GoalRow("p", 0.1, "tpe", 0.1, no_worse, 0.01, beats_random)


def test_goal_needs_seventy_percent_and_random_everywhere() -> None:
    seven_of_ten = [_row(True, True)] * 7 + [_row(False, True)] * 3
    assert goal_met(seven_of_ten)
    assert not goal_met([_row(True, True)] * 6 + [_row(False, True)] * 4)
    assert not goal_met([_row(True, True)] * 9 + [_row(True, False)])
    assert not goal_met([])


@pytest.mark.slow
def test_quick_run_prints_the_table_and_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/search_quality.py",
            "--quick",
            "--jobs",
            "2",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    markdown = (out / "search_quality.md").read_text()
    assert "failed" not in done.stdout
    for method in ("builtin", "builtin-l2", "random", "tpe", "cmaes", "gp"):
        assert f"| {method} |" in markdown, method
    assert "## The goal on the cheap problems" in markdown and "Goal: no worse" in done.stdout
    page = (out / "search_quality.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3  # one curve per quick problem
    assert not re.search(r'(src|href)="(?!data:)', page) and "<script" not in page


def test_a_bad_method_is_a_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/search_quality.py",
            "--methods",
            "annealing",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "annealing" in done.stderr and all(m in done.stderr for m in METHODS)
