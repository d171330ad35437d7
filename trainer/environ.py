"""The environment a trial's process gets: ours, less the worker's Redis credentials.

Its own module because both ways of starting a trial's process use it, the supervised child
(:mod:`trainer.supervise`) and a user's command (:mod:`trainer.command`), and the supervisor
calls the command runner: neither has to import the other for it.
"""

from __future__ import annotations

import os

# Variables a trial's process does not inherit: the worker's Redis URL (with its password).
WORKER_SECRETS = frozenset({"BILEVEL_REDIS_URL"})
WORKER_SECRET_PREFIXES = ("REDIS_",)


def child_env() -> dict[str, str]:
    """The environment a trial's process gets: ours, less the worker's Redis credentials.

    A trial (GPT, or a user's function or command) reports through its pipe or exit, never
    through Redis; objective code is trusted, but it has no use for the worker's password.
    """
    return {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith(WORKER_SECRET_PREFIXES) or k in WORKER_SECRETS)
    }
