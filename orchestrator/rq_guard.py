"""rq takes only its own jobs: the guard lives in the leaf package (:mod:`contract.rq_guard`),
where the trainer worker and the sandbox runner both reach it; re-exported here for callers
of the old name."""

from contract.jobs import SANDBOX_JOB_FUNCTIONS, TRIAL_JOB_FUNCTIONS  # noqa: F401
from contract.rq_guard import (  # noqa: F401
    MAX_NAME_CHARS,
    guarded_worker,
    refusal,
)
