"""The study's phases: what kind of trial the loop plans next, as one small state machine.

A study runs its baseline, then (noise-aware acceptance) repeats it to measure the noise,
then searches (races included), then re-runs the best and the baseline on fresh seeds, then
scores both on the held-out test split, and is done. :func:`next_phase` is the one
transition function; the loop journals every change (``phase_changed``) and a resume starts
from the journaled phase.

The transition reads only the facts the journal holds (:class:`PhaseFacts`), never the
phase it came from, and that is on purpose: a resume with more ``iterations`` must go back
from ``done`` (or ``reruns``) to ``search``, and a paired study whose larger budget asks
for another baseline draw goes back to ``noise``. Deciding from the facts gives exactly
those edges and no others, and a journal written before phases were journaled resumes in
the same phase as one written after.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from contract.trials import (
    BASELINE_SOURCE,
    INTENSIFY_SOURCE,
    NOISE_SOURCE,
    RESEED_BASELINE_SOURCE,
    RESEED_SOURCE,
    TEST_BASELINE_SOURCE,
    TEST_BEST_SOURCE,
)


class Phase(StrEnum):
    """The study's phases, in the order a study goes through them."""

    BASELINE = "baseline"  # the defaults, once
    NOISE = "noise"  # baseline repeats on other seeds, and waiting for their results
    SEARCH = "search"  # Level 1 / mechanisms propose; a paired race re-evaluates
    RERUNS = "reruns"  # the best and the baseline on fresh, paired seeds
    TEST = "test"  # the best and the baseline scored once on the held-out split
    DONE = "done"  # nothing left to plan


@dataclass(frozen=True)
class PhaseFacts:
    """What the transition decides from, each a yes/no the journal's trials answer."""

    baseline_planned: bool  # the baseline trial was proposed
    noise_due: bool  # a repeat is still to plan, or its evidence still to wait for
    search_due: bool  # search budget left, or a race still open
    reruns_due: bool  # final re-runs still to plan or wait for
    test_due: bool  # a held-out scoring still to plan or wait for


def next_phase(facts: PhaseFacts) -> Phase:
    """The phase whose work is due: the earliest one whose work is not done."""
    if not facts.baseline_planned:
        return Phase.BASELINE
    if facts.noise_due:
        return Phase.NOISE
    if facts.search_due:
        return Phase.SEARCH
    if facts.reruns_due:
        return Phase.RERUNS
    if facts.test_due:
        return Phase.TEST
    return Phase.DONE


# The phase a trial's source belongs to: how a journal written before ``phase_changed``
# existed says which phase its study was in (its last proposed trial's).
PHASE_OF_SOURCE: dict[str, Phase] = {
    BASELINE_SOURCE: Phase.BASELINE,
    NOISE_SOURCE: Phase.NOISE,
    INTENSIFY_SOURCE: Phase.SEARCH,
    RESEED_SOURCE: Phase.RERUNS,
    RESEED_BASELINE_SOURCE: Phase.RERUNS,
    TEST_BEST_SOURCE: Phase.TEST,
    TEST_BASELINE_SOURCE: Phase.TEST,
}


def phase_of_source(source: str) -> Phase:
    """The phase a trial of ``source`` runs in (any other source is a search trial)."""
    return PHASE_OF_SOURCE.get(source, Phase.SEARCH)
