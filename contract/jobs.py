"""The rq queues, job functions and job ids the services share (names only, no rq import).

The orchestrator enqueues by these names; the trainer worker and the sandbox runner accept
only these functions (:mod:`contract.rq_guard`); the stack's Redis ACL
(``deploy/redis-entrypoint.sh``) lets each role touch only keys with its job-id prefix.
"""

from __future__ import annotations

# The trainer's one job: a trial spec as JSON in, a trial result as JSON out.
TRIAL_QUEUE = "bilevel:trials"
TRIAL_JOB = "trainer.jobs.run_trial"
TRIAL_JOB_ID_PREFIX = "trial-"
TRIAL_JOB_FUNCTIONS = frozenset({TRIAL_JOB})
# Code trials (a spec with a recipe patch) go to a queue of their own, served by the
# stack's opt-in `code-trainer` (the one trainer that may start jail containers through the
# Docker socket), with a job-id prefix of their own, so the plain trainers' Redis user can
# neither take nor touch them and the code trainer's can touch nothing else. The same job
# function serves both.
CODE_TRIAL_QUEUE = "bilevel:code-trials"
CODE_TRIAL_JOB_ID_PREFIX = "codetrial-"

# The sandbox runner's jobs: the gate ladder on one module, and one hook stage.
SANDBOX_QUEUE = "bilevel-sandbox"
SANDBOX_LADDER_JOB = "sandbox.runner.ladder_job"
SANDBOX_CALL_JOB = "sandbox.runner.call_job"
SANDBOX_JOB_ID_PREFIX = "sandbox-"
SANDBOX_JOB_FUNCTIONS = frozenset({SANDBOX_LADDER_JOB, SANDBOX_CALL_JOB})

# Worker liveness (orchestrator/worker_watch.py reads it): `bilevel worker` heartbeats every
# TRAINER_HEARTBEAT_S, idle or busy (rq's job_monitoring_interval; its idle heartbeat comes
# every worker_ttl - 15 s, hence TRAINER_WORKER_TTL_S), and writes that interval into its
# worker record under HEARTBEAT_FIELD, so the orchestrator can tell a dead worker in seconds.
TRAINER_HEARTBEAT_S = 5
TRAINER_WORKER_TTL_S = TRAINER_HEARTBEAT_S + 15
HEARTBEAT_FIELD = "bilevel_heartbeat_s"
