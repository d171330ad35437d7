"""How a study's metric is ordered, how a trial ended, and where a trial came from."""

from __future__ import annotations

from typing import Literal, get_args

# Whether the study's metric is better lower (val_bpb, a loss) or higher (an accuracy).
Direction = Literal["minimize", "maximize"]
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)
# GPT pretraining's val_bpb is minimised: a study that names no direction minimises.
DEFAULT_DIRECTION: Direction = "minimize"

# How a trial ended. ``pruned``: stopped early by the study because its loss curve was
# clearly worse than the incumbent's at the same fraction of the budget; like every status
# but ``ok``, it has no value.
TrialStatus = Literal["ok", "oom", "diverged", "timeout", "invalid", "crashed", "pruned"]
TRIAL_STATUSES: tuple[TrialStatus, ...] = get_args(TrialStatus)

# Trial sources (``Trial.source``) that are not proposals of the search, in one place.
# The study's first trial is its ``baseline``. ``noise`` repeats the baseline and ``reseed``
# the best config with other seeds: they measure the noise floor around the search.
# ``reseed-baseline`` repeats the baseline for the final comparison and ``test-*`` measure
# the best and the baseline on the test split. ``intensify`` re-evaluates a challenger or the
# incumbent on a fresh seed, paired on that seed, while a keep decision races; it counts
# against the study's iterations. None of these is a proposal of the search or can become
# the incumbent by itself.
BASELINE_SOURCE = "baseline"
NOISE_SOURCE = "noise"
RESEED_SOURCE = "reseed"
RESEED_BASELINE_SOURCE = "reseed-baseline"
TEST_BEST_SOURCE = "test-best"
TEST_BASELINE_SOURCE = "test-baseline"
INTENSIFY_SOURCE = "intensify"
NOISE_SOURCES = (NOISE_SOURCE, RESEED_SOURCE)
NON_SEARCH_SOURCES = (
    *NOISE_SOURCES,
    INTENSIFY_SOURCE,
    RESEED_BASELINE_SOURCE,
    TEST_BEST_SOURCE,
    TEST_BASELINE_SOURCE,
)
# Trials that report the result after the search (the best and the baseline on fresh seeds
# and on the test split): the only ones that do not count against a study's ``iterations``.
REPORT_SOURCES = frozenset(
    {RESEED_SOURCE, RESEED_BASELINE_SOURCE, TEST_BEST_SOURCE, TEST_BASELINE_SOURCE}
)
