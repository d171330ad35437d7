"""Signed rq jobs: a role's Redis credentials cannot forge or rewrite another role's work.

The orchestrator signs every job it enqueues (a trial for a trainer, a ladder or hook call
for a sandbox runner) with an HMAC-SHA256 key: the signature binds the job id, the
function, the study, the trial index and a hash of the whole payload, and travels in the
job's ``meta``. The workers (:func:`contract.rq_guard.guarded_worker`) check it before
anything of the job runs and refuse a job that is unsigned or altered; the refusal is the
job's failure, so it reaches the study's journal (a trial ends ``crashed`` with the reason).

One key per verifying role, in its own variable (or a file named by ``<variable>_FILE``):

- :data:`TRIAL_KEY_ENV`: held by the orchestrator and the trainer workers;
- :data:`SANDBOX_KEY_ENV`: held by the orchestrator and the sandbox runners.

HMAC is symmetric: a verifier that holds a key could sign with it too. So the keys are
split by role (a trainer cannot forge sandbox work, which reaches the Docker socket, and a
runner cannot forge trials), and what a trainer's Redis user alone can do (rewrite a queued
job) no longer runs anything; but a fully compromised trainer *process*, which reads its
own key, can still sign trial jobs for the other trainers. An asymmetric signature would
close that too; none of the pinned locks ships one (see docs/security.md, "Signed jobs").

Without a key (a laptop, the test suite) nothing is signed and a worker without a key
verifies nothing, with a warning at start; a worker *with* a key refuses every unsigned job.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from pathlib import Path
from typing import Any

# The orchestrator and the trainer workers hold this one (trial jobs).
TRIAL_KEY_ENV = "BILEVEL_TRIAL_JOB_KEY"
# The orchestrator and the sandbox runners hold this one (ladder and hook-call jobs).
SANDBOX_KEY_ENV = "BILEVEL_SANDBOX_JOB_KEY"
# ``<variable>_FILE`` names a file holding the key instead (a mounted secret).
FILE_SUFFIX = "_FILE"
# 32 characters of a random hex or base64 key carry 128 bits or more; shorter keys are
# typos or placeholders and are refused.
MIN_KEY_CHARS = 32
# The job's meta field that carries the signature.
META_FIELD = "bilevel_signature"
# Bumped when what the signature binds changes: an old signature is then "unsigned".
SIGNATURE_VERSION = 1
# The index of a job that plans no trial (a gate ladder).
NO_INDEX = -1

log = logging.getLogger(__name__)


class JobKeyError(ValueError):
    """A configured key cannot be used (empty, too short, unreadable file)."""


def load_key(env: str, environ: dict[str, str] | None = None) -> bytes | None:
    """The key named by ``env`` (or ``env + "_FILE"``), or None when neither is set."""
    environ = dict(os.environ) if environ is None else environ
    text = environ.get(env, "")
    source = f"${env}"
    if not text and (path := environ.get(env + FILE_SUFFIX, "")):
        source = f"${env}{FILE_SUFFIX} ({path})"
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise JobKeyError(
                f"cannot read the job key file {path}: {exc.strerror}; fix {env}{FILE_SUFFIX}"
            ) from None
    text = text.strip()
    if not text:
        return None
    if len(text) < MIN_KEY_CHARS:
        raise JobKeyError(
            f"the job key in {source} is {len(text)} characters; use at least {MIN_KEY_CHARS} "
            "random ones (e.g. `openssl rand -hex 32`)"
        )
    return text.encode()


def worker_key(env: str) -> bytes | None:
    """The key a worker verifies with: :class:`JobKeyError` (one line, for its CLI) when the
    configured key is unusable; None when there is none (see :func:`warn_if_unsigned`)."""
    return load_key(env)


def warn_if_unsigned(env: str, key: bytes | None) -> None:
    """A worker without a key runs jobs from anyone who can write to its queue: say so once
    it is serving (after Redis answered, so a start-up error stays one line)."""
    if key is None:
        log.warning(
            "no job key ($%s): this worker runs jobs without checking who sent them; the "
            "compose stack sets one (docs/security.md, Signed jobs)",
            env,
        )


def _canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode()


def _claims(
    job_id: str, func: str, args: Any, kwargs: Any, study: str, index: int
) -> dict[str, Any]:
    payload = hashlib.sha256(_canonical({"args": list(args), "kwargs": dict(kwargs)})).hexdigest()
    return {
        "v": SIGNATURE_VERSION,
        "job": job_id,
        "func": func,
        "study": study,
        "index": index,
        "payload": payload,
    }


def _mac(key: bytes, claims: dict[str, Any]) -> str:
    return hmac.new(key, _canonical(claims), hashlib.sha256).hexdigest()


def signed_meta(
    key: bytes | None,
    *,
    job_id: str,
    func: str,
    args: Any = (),
    kwargs: Any = None,
    study: str = "",
    index: int = NO_INDEX,
) -> dict[str, Any]:
    """The ``meta`` to enqueue a job with: its signature, or nothing without a key."""
    if key is None:
        return {}
    claims = _claims(job_id, func, args, kwargs or {}, study, index)
    return {META_FIELD: {**claims, "mac": _mac(key, claims)}}


def refusal(key: bytes, job: Any) -> str | None:
    """Why ``job`` (as the worker loaded it) is not the orchestrator's, or None."""
    meta = getattr(job, "meta", None)
    signature = meta.get(META_FIELD) if isinstance(meta, dict) else None
    if not isinstance(signature, dict):
        return "bad signature: the job is unsigned (is the orchestrator given the job key?)"
    try:
        claims = _claims(
            job.id,
            job.func_name,
            job.args or (),
            job.kwargs or {},
            str(signature.get("study", "")),
            int(signature.get("index", NO_INDEX)),
        )
    except (TypeError, ValueError) as exc:  # undecodable or unserialisable payload
        return f"bad signature: the payload cannot be checked ({type(exc).__name__})"
    mac = signature.get("mac")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(key, claims)):
        return "bad signature: the job was altered or signed with another key"
    return None
