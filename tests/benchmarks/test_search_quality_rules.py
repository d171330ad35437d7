"""The acceptance-rule tables of the search-quality benchmark, on hand-made runs: the
incumbent a study reports (not its best draw) sets the regret, paired seeds give the
p-value, and the bias is the true value minus the reported one."""

from __future__ import annotations

import math

import pytest

from benchmarks.search_quality.acceptance import bias_rows, markdown_lines, rule_rows
from benchmarks.search_quality.measures import best_so_far
from benchmarks.search_quality.methods import Run
from benchmarks.search_quality.problems import CHEAP_PROBLEMS

BRANIN_NOISY = next(p for p in CHEAP_PROBLEMS if p.name == "branin-noisy")
OPTIMUM = {"x1": math.pi, "x2": 2.275}
DEFAULTS = {"x1": 0.0, "x2": 0.0}
F_OPT = 0.39788735772973816


def study_run(method: str, seed: int, final: dict[str, float], reported: float) -> Run:
    return Run(
        "branin-noisy",
        method,
        seed,
        scores=[50.0, 1.0],
        configs=[DEFAULTS, OPTIMUM],
        seconds=0.0,
        incumbents=[DEFAULTS, final],
        reported=reported,
        reported_config=final,
    )


def test_the_incumbent_not_the_best_draw_sets_a_studys_regret() -> None:
    # Trial 1 (the optimum) was drawn at 1.0 but its race dropped it: the study reports the
    # defaults, and that is what its regret measures.
    run = study_run("builtin", 0, DEFAULTS, 50.0)
    assert best_so_far(run, BRANIN_NOISY)[-1] == pytest.approx(
        BRANIN_NOISY.noiseless_score(DEFAULTS, 0.0)
    )


def test_rule_and_bias_tables() -> None:
    runs = []
    for seed in range(6):
        runs.append(study_run("builtin", seed, OPTIMUM, F_OPT + 0.5))  # paired: found it
        runs.append(study_run("builtin-strict", seed, DEFAULTS, 40.0))  # strict: stuck
        runs.append(study_run("builtin-floor", seed, DEFAULTS, 45.0))
    rules = rule_rows([BRANIN_NOISY], runs, {"branin-noisy": F_OPT})
    (row,) = rules
    assert row.seeds == 6 and row.medians["builtin"] == pytest.approx(0.0)
    assert row.medians["builtin-strict"] == pytest.approx(1.0)
    assert row.paired_vs_strict == pytest.approx(-1.0) and row.p_value == pytest.approx(2 / 64)
    bias = {b.method: b for b in bias_rows([BRANIN_NOISY], runs)}
    assert bias["builtin"].mean == pytest.approx(-0.5)  # reported worse than it is
    true_defaults = BRANIN_NOISY.noiseless_score(DEFAULTS, 0.0)
    assert bias["builtin-strict"].mean == pytest.approx(true_defaults - 40.0)
    text = "\n".join(markdown_lines(rules, list(bias.values())))
    assert "| branin-noisy | 2.5 | 1.000 | 1.000 | 0.000 | 6 | -1.000 | 0.031 | yes |" in text
