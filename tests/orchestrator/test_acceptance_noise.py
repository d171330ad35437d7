"""The noise model: pooling, the single-outlier case, paired evidence, local noise and
deterministic objectives (orchestrator/acceptance/noise.py)."""

from __future__ import annotations

import math
import random

import pytest
from scipy import stats

from orchestrator.acceptance.noise import Evaluation, estimate, f_test_p, pool
from orchestrator.acceptance.tdist import t_quantile


def evals(config: str, values: dict[int, float]) -> list[Evaluation]:
    return [Evaluation(config, seed, value) for seed, value in values.items()]


def test_t_quantiles_match_scipy() -> None:
    for dof in (1, 2, 3, 7, 30, 400):
        for p in (0.6, 0.95, 0.975, 0.9995):
            assert t_quantile(p, dof) == pytest.approx(stats.t.ppf(p, dof), rel=1e-7)
    assert f_test_p(1.0, 3, 2.0, 5) == pytest.approx(
        2 * min(stats.f.cdf(0.5, 3, 5), stats.f.sf(0.5, 3, 5)), rel=1e-7
    )


def test_repeats_of_every_config_pool_into_one_estimate() -> None:
    est = estimate(evals("a", {0: 1.0, 1: 2.0, 2: 3.0}) + evals("b", {0: 10.0, 5: 12.0}))
    # SS 2 + 2 over 1 + 2 dof; with nothing paired, a paired difference has twice the variance.
    assert est.observation_dof == 3 and est.observation_sd == pytest.approx(math.sqrt(4 / 3))
    assert est.dof == 3 and est.paired_sd == pytest.approx(math.sqrt(8 / 3))
    assert est.margin(0.95) == pytest.approx(stats.t.ppf(0.95, 3) * math.sqrt(8 / 3))
    assert not est.deterministic


def test_the_single_outlier_is_left_out_once_other_repeats_exist() -> None:
    """The GPT study of the report: baseline seeds 0-2 gave 4.065, 4.183, 4.048 (a 2-sd
    floor of 0.146); the final re-runs showed a spread of 0.005 (baseline) and 0.018 (best)."""
    first = evals("base", {0: 4.065, 1: 4.183, 2: 4.048})
    alone = estimate(first)
    assert alone.dropped == ()  # three draws cannot tell an outlier from noise
    later = evals("base", {1000: 4.060, 1001: 4.055, 1002: 4.051}) + evals(
        "best", {0: 3.466, 1000: 3.470, 1001: 3.488, 1002: 3.452}
    )
    est = estimate(first + later)
    assert est.dropped == (4.183,)
    assert est.observation_sd is not None and est.observation_sd < 0.02
    old_floor = 2 * 0.0735  # what one outlier made the old floor
    margin = est.margin(0.95)
    assert margin is not None and margin < old_floor / 2
    # ...but the outlier is not dropped when nothing else says it is unusual
    spread = evals("base", {1000: 4.02, 1001: 4.14, 1002: 4.09}) + evals(
        "best", {0: 3.40, 1000: 3.52, 1001: 3.47, 1002: 3.55}
    )
    assert estimate(first + spread).dropped == ()


def test_pooling_rarely_drops_honest_gaussian_draws() -> None:
    rng = random.Random(7)
    studies = [[[rng.gauss(0, 1) for _ in range(3)] for _ in range(5)] for _ in range(200)]
    dropped = sum(len(pool(groups).dropped) for groups in studies)
    assert dropped <= 10  # about 1% of studies, as the Bonferroni level intends


def test_paired_differences_measure_what_a_same_seed_comparison_needs() -> None:
    """Common random numbers: most of the seed-to-seed spread is shared by both configs, so
    the paired noise is far below twice the repeat variance; the model measures it."""
    rng = random.Random(3)
    shared = {s: rng.gauss(0, 1.0) for s in range(6)}
    a = {s: 5.0 + shared[s] + rng.gauss(0, 0.01) for s in shared}
    b = {s: 4.9 + shared[s] + rng.gauss(0, 0.01) for s in shared}
    est = estimate(evals("a", a) + evals("b", b))
    assert est.paired_dof == 5 and est.dof == 5
    assert est.observation_sd is not None and est.observation_sd > 0.5
    assert est.paired_sd is not None and est.paired_sd < 0.05


def test_the_incumbents_own_noise_counts_where_noise_varies() -> None:
    rng = random.Random(5)
    quiet = [evals(f"q{i}", {s: rng.gauss(0, 0.01) for s in range(4)}) for i in range(4)]
    loud = evals("loud", {s: rng.gauss(0, 1.0) for s in range(10, 15)})
    pooled = [e for group in quiet for e in group] + loud
    everywhere = estimate(pooled)
    at_loud = estimate(pooled, focus="loud")
    at_quiet = estimate(pooled, focus="q0")
    assert everywhere.paired_sd is not None and everywhere.paired_sd < 0.05
    assert at_loud.paired_sd is not None and at_loud.paired_sd > 10 * everywhere.paired_sd
    assert "own" in at_loud.how
    assert at_quiet.paired_sd == pytest.approx(everywhere.paired_sd)  # one level: pool it all


def test_identical_repeats_and_declared_determinism_skip_the_noise() -> None:
    measured = estimate(evals("a", {0: 0.5, 1: 0.5}) + evals("b", {0: 1.25}))
    assert measured.deterministic and measured.margin(0.95) == 0.0
    declared = estimate([], deterministic=True)
    assert declared.deterministic and declared.margin(0.95) == 0.0
    unknown = estimate(evals("a", {0: 0.5}))
    assert not unknown.deterministic and unknown.margin(0.95) is None and unknown.dof == 0
