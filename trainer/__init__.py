"""The fixed training harness: model, optimiser, data, budget, val_bpb, and the rq job.

The contract with the rest of the system is :mod:`trainer.spec` (no torch import there);
the objective kinds (GPT pretraining, a user's function or command, benchmark functions)
are :mod:`trainer.objective`. The trainer receives validated hyperparameters and an
objective's definition, never code: a function or command objective is the user's own
code, installed on the trainer by the user. Entry points (none of them imports torch in
the caller's process):

- :func:`trainer.supervise.run_supervised` — run one trial locally in a supervised child.
- :func:`trainer.jobs.run_trial` — the same as an rq job (JSON in, JSON out).
- :class:`trainer.results.RedisResultStore` / :class:`trainer.results.FileResultStore` —
  first-writer-wins result storage keyed by ``trial_id``.
"""

from contract.jobs import TRIAL_QUEUE
from trainer.jobs import enqueue_trial, job_timeout, run_trial
from trainer.results import FileResultStore, RedisResultStore, ResultStore
from trainer.supervise import default_deadline, run_supervised

__all__ = [
    "TRIAL_QUEUE",
    "FileResultStore",
    "RedisResultStore",
    "ResultStore",
    "default_deadline",
    "enqueue_trial",
    "job_timeout",
    "run_supervised",
    "run_trial",
]
