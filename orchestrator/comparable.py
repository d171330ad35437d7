"""Comparable results only: a result measured on other data is refused, not mixed in.

Every :class:`~trainer.spec.TrialResult` carries the content hash of the data it trained
and was scored on (``data_fingerprint``) and the software that produced it (``software``).
The study's reference is its baseline's fingerprint: a worker whose corpus differs (another
Python's standard library, an edited text folder, a different package version) produces
numbers on another scale, often further apart than a real improvement. Such a result
becomes an ``invalid`` trial whose error names both fingerprints; its number is kept in the
journal for audit (``trial_finished.refused``) and never compared.
"""

from __future__ import annotations

from typing import TypedDict

from contract.trials import TrialStatus
from trainer.spec import TrialResult


class RefusedRecord(TypedDict):
    """The refused number, kept for audit: ``trial_finished.refused``."""

    status: TrialStatus
    value: float | None
    data_fingerprint: str


def refuse_other_data(
    result: TrialResult, reference: str, reference_index: int
) -> tuple[TrialResult, RefusedRecord | None]:
    """``(result, None)`` when comparable (or either side has no fingerprint); else an
    ``invalid`` result naming both fingerprints, and the refused numbers for the journal."""
    got = result.data_fingerprint
    if not reference or not got or got == reference:
        return result, None
    reason = (
        f"data fingerprint {got} differs from the study baseline's {reference} (trial "
        f"#{reference_index}): this worker trained on other data for data set "
        f"{result.spec.dataset!r} (software {result.software or 'unknown'}); the result is "
        "refused, not mixed in. Give every worker the same corpus (the same lock for 'pinned')"
    )
    refused = TrialResult.failed(
        result.spec,
        "invalid",
        reason,
        metric=result.metric,
        hardware=result.hardware,
        data_fingerprint=got,
        software=dict(result.software),
    )
    audit = RefusedRecord(status=result.status, value=result.value, data_fingerprint=got)
    return refused, audit
