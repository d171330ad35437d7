"""Statistics against examples worked out by hand."""

from __future__ import annotations

import math

import pytest

from orchestrator.stats import (
    PAPER_TABLE,
    bootstrap_ci,
    paper_row,
    sign_flip_p_value,
    summarize_groups,
    two_sample_p_value,
)


def test_sign_flip_enumerated_by_hand_for_three_pairs() -> None:
    # Differences (0.3, 0.1, -0.2); observed |sum| = 0.2. The 8 sign patterns give sums
    # 0.2, 0.6, 0.0, 0.4, -0.4, 0.0, -0.6, -0.2: six have |sum| >= 0.2, so p = 6/8.
    assert sign_flip_p_value([0.3, 0.1, -0.2]) == pytest.approx(0.75)


def test_sign_flip_all_same_sign_reaches_the_smallest_possible_p() -> None:
    # Only +++ and --- reach |sum| = 6 of 8 patterns: p = 2/8, the floor for n = 3.
    assert sign_flip_p_value([1.0, 2.0, 3.0]) == pytest.approx(0.25)
    assert sign_flip_p_value([-1.0, -2.0, -3.0]) == pytest.approx(0.25)


def test_sign_flip_large_n_uses_seeded_monte_carlo_and_is_reproducible() -> None:
    diffs = [0.01 * (i % 5 + 1) for i in range(20)]
    first = sign_flip_p_value(diffs)
    assert first == sign_flip_p_value(diffs)
    assert first < 0.001  # 20 positive differences: exact p = 2 / 2**20


def test_two_sample_enumerated_by_hand() -> None:
    # a = (1, 2), b = (3, 4): |mean gap| = 2. The C(4,2)=6 splits give first-group sums
    # 3, 4, 5, 5, 6, 7 -> gaps 2, 1, 0, 0, 1, 2: two of six reach 2, p = 1/3.
    assert two_sample_p_value([1.0, 2.0], [3.0, 4.0]) == pytest.approx(1 / 3)


def test_bootstrap_ci_contains_mean_and_is_reproducible() -> None:
    values = [-0.01, -0.03, -0.02, -0.05, 0.0]
    low, high = bootstrap_ci(values)
    assert low < sum(values) / len(values) < high
    assert (low, high) == bootstrap_ci(values)
    assert min(values) <= low and high <= max(values)
    # A wider confidence level gives a wider interval.
    wide = bootstrap_ci(values, confidence=0.99)
    assert wide[0] <= low and wide[1] >= high


def test_bootstrap_ci_degenerate_inputs() -> None:
    assert bootstrap_ci([0.5]) == (0.5, 0.5)
    assert all(math.isnan(x) for x in bootstrap_ci([]))


def test_summarize_groups_pairs_repeats_and_computes_ratio() -> None:
    deltas = {
        "A": {0: -0.01, 1: -0.02, 2: -0.00},
        "C": {0: -0.05, 1: -0.04, 2: -0.06},
        "R": {0: -0.02},
    }
    rows = {row.group: row for row in summarize_groups(deltas)}
    a, c, r = rows["A"], rows["C"], rows["R"]
    assert a.p_vs_reference is None and a.ratio_to_reference == pytest.approx(1.0)
    assert c.n == 3 and c.mean == pytest.approx(-0.05)
    assert c.sd == pytest.approx(0.01)
    assert c.ratio_to_reference == pytest.approx(5.0)
    # Paired differences (-0.04, -0.02, -0.06) all negative: p = 2/8.
    assert c.paired and c.p_vs_reference == pytest.approx(0.25)
    # One shared repeat cannot be paired: the unpaired test is used instead.
    assert not r.paired and r.p_vs_reference is not None
    assert math.isnan(r.sd)


def test_paper_table_states_the_published_figures() -> None:
    assert {row.group: row.mean_delta for row in PAPER_TABLE} == {"A": -0.009, "C": -0.045}
    assert paper_row("B") is None
