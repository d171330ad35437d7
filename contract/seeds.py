"""The seed of a mechanism's context: one formula for live and contract-tested calls.

A mechanism cannot tell a contract test from a live call by its seed: the ladder's contract
contexts (:mod:`sandbox.contexts`) and the study's live ones (:mod:`orchestrator.state`)
draw their seeds from this one function.
"""

from __future__ import annotations

# The live host's context seed for planning trial ``iteration`` of a study whose config seed
# is ``study_seed``: a prime stride keeps studies apart, and seeds stay below 2**32, the
# most numpy's legacy seeding and scikit-learn's ``random_state`` accept (a mechanism
# passes ctx.seed straight to them).
SEED_STRIDE = 1_000_003
SEED_MODULUS = 2**32


def context_seed(study_seed: int, iteration: int) -> int:
    """The seed of the context for planning trial ``iteration`` (live and contract alike)."""
    return (study_seed * SEED_STRIDE + iteration) % SEED_MODULUS
