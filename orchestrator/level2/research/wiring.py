"""Wiring Level 2 into a study: the sandbox client, the ladder, the host and the driver.

One sandbox client serves both the ladder checks of background research sessions and the
live hook calls of the study loop. Every call is its own sandbox run (a fresh container or
jail), so the two never wait on each other here; the runner service queues them when the
client is the rq kind.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract.space import SearchSpace
from orchestrator.config import StudyConfig
from orchestrator.errors import UserError
from orchestrator.level2.mechanisms.audit import Auditor
from orchestrator.level2.mechanisms.host import DEFAULT_MAX_FAILURES, LiveMechanismHost
from orchestrator.level2.research.driver import Level2Driver
from orchestrator.level2.research.session import DEFAULT_MAX_REPAIRS, LadderVerdict

if TYPE_CHECKING:
    from orchestrator.level2.research.session import Asker
    from sandbox.client import SandboxClient, Signer

SANDBOX_QUEUE_ENV = "BILEVEL_SANDBOX_QUEUE"

log = logging.getLogger(__name__)


class SandboxLadder:
    """The gate ladder (static → smoke → contract) through a sandbox client."""

    def __init__(
        self, client: SandboxClient, space: SearchSpace, iterations: int | None = None
    ) -> None:
        self.client = client
        self.space = space
        self.iterations = iterations  # the study's length: contract histories get that long

    def check(self, source: str, *, replays: list[dict[str, Any]] | None = None) -> LadderVerdict:
        report = self.client.check(source, self.space, replays=replays, iterations=self.iterations)
        data = report.to_dict()
        return LadderVerdict(
            accepted=bool(data.get("accepted")),
            stage=str(data.get("stage") or "static"),
            reason=str(data.get("reason") or ""),
            name=str(data.get("name") or ""),
            hooks=tuple(data.get("hooks") or ()),
        )


def sandbox_kind(config: StudyConfig) -> str:
    """``runner`` (the rq sandbox-runner service holds the Docker socket) when the study's
    trials go through rq, else ``direct`` (this process drives a local backend)."""
    return "runner" if config.executor == "rq" else "direct"


def sandbox_signer(study: str) -> Signer | None:
    """Signs the study's sandbox jobs with the runners' key ($BILEVEL_SANDBOX_JOB_KEY), or
    None when none is set (jobs then go unsigned, for runners that verify nothing)."""
    from contract.job_signing import SANDBOX_KEY_ENV, JobKeyError, load_key, signed_meta

    try:
        key = load_key(SANDBOX_KEY_ENV)
    except JobKeyError as exc:
        raise UserError(str(exc)) from None
    return None if key is None else functools.partial(signed_meta, key, study=study)


def make_sandbox_client(config: StudyConfig) -> SandboxClient:
    """The study's sandbox client; the runner's queue is ``$BILEVEL_SANDBOX_QUEUE`` or the
    runner's default, so a deployment names it in one place (compose)."""
    from sandbox.client import DEFAULT_QUEUE, make_client

    kind = sandbox_kind(config)
    try:
        if kind == "runner":
            queue = os.environ.get(SANDBOX_QUEUE_ENV) or DEFAULT_QUEUE
            return make_client(
                kind="runner",
                redis_url=config.rq.redis_url,
                queue=queue,
                signer=sandbox_signer(config.name),
            )
        return make_client(kind="direct", backend="auto")
    except (ValueError, RuntimeError, OSError, ConnectionError) as exc:
        raise UserError(
            f"Level 2 needs a sandbox ({kind}): {exc}; run `make images` and start the "
            "sandbox runner, or set levels.research = false"
        ) from None


def make_level2(
    config: StudyConfig,
    run_dir: Path,
    *,
    client: SandboxClient | None = None,
    agent: Asker | None = None,
    max_failures: int = DEFAULT_MAX_FAILURES,
    max_repairs: int = DEFAULT_MAX_REPAIRS,
    discard_reason: str = "",
    synchronous: bool = False,
) -> tuple[LiveMechanismHost, Level2Driver]:
    """The live host and the research driver for ``run_study(mechanism_host=, research=)``;
    ``discard_reason`` and ``synchronous`` are :class:`Level2Driver`'s options."""
    from sandbox.gate import allowed_modules

    if client is None:  # the study's own sandbox: never a weak one for LLM-written code
        from orchestrator.level2.mechanisms.isolation import require_study_sandbox

        client = make_sandbox_client(config)
        try:
            warning = require_study_sandbox(config, client)
        except UserError:
            client.close()
            raise
        if warning:
            log.warning("%s", warning)
    # Live calls are replayed in a fresh sandbox (orchestrator/level2/mechanisms/audit.py).
    host = LiveMechanismHost(client, max_failures=max_failures, auditor=Auditor(client))
    driver = Level2Driver(
        config,
        run_dir,
        host,
        SandboxLadder(client, config.search_space(), config.iterations),
        allowed_modules(),
        agent=agent,
        max_repairs=max_repairs,
        discard_reason=discard_reason,
        synchronous=synchronous,
    )
    return host, driver


def level2_for_study(config: StudyConfig, run_dir: Path) -> dict[str, Any]:
    """``run_study`` keyword arguments that switch Level 2 on when the study asks for it."""
    from sandbox.backends import SandboxUnavailable

    if not config.levels.research:
        return {}
    try:
        host, driver = make_level2(config, run_dir)
    except SandboxUnavailable as exc:  # no sandbox lock, image or engine: fix before any trial
        raise UserError(f"Level 2 needs the sandbox: {exc}") from None
    return {"mechanism_host": host, "research": driver}
