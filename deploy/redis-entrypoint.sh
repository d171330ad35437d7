#!/bin/sh
# Start Redis with one ACL user per service role (DESIGN §2: "each service has its own Redis
# credentials"), passwords from the environment, never from the command line (where `ps` and
# `docker inspect` would show them) and never baked into the image: the directives go to a
# 0600 file on the container's tmpfs, which Redis includes. Only SHA-256 digests of the
# passwords are written there.
#
#   orchestrator  enqueues trials and sandbox work, reads results: every rq key
#   trainer       serves the trial queue: rq keys of that queue and of trial jobs only
#   codetrainer   serves the code-trial queue (the opt-in code-trainer service): rq keys of
#                 that queue and of code-trial jobs only; only when its password is set
#   runner        serves the sandbox queue: rq keys of that queue and of sandbox jobs only
#   default       PING only (the health check)
#
# Job keys are told apart by the job-id prefixes the clients use (orchestrator/executor.py
# `trial-` and `codetrial-`, sandbox/client.py `sandbox-`), queue keys by the queue names, so a trainer's
# credentials can neither enqueue sandbox work nor touch a sandbox job, and the reverse.
#
#   REDIS_PASSWORD (default user), REDIS_ORCHESTRATOR_PASSWORD, REDIS_TRAINER_PASSWORD,
#   REDIS_RUNNER_PASSWORD (all required); REDIS_CODETRAINER_PASSWORD (optional: no
#   codetrainer user without it); BILEVEL_TRIAL_QUEUE (default bilevel:trials),
#   BILEVEL_CODE_TRIAL_QUEUE (default bilevel:code-trials), BILEVEL_SANDBOX_QUEUE (default
#   bilevel-sandbox); REDIS_BIND (default 0.0.0.0),
#   REDIS_PORT (default 6379); REDIS_CONF_DIR (default /run/redis), REDIS_DATA_DIR
#   (default /data): tests start their own server with these.
set -eu
: "${REDIS_PASSWORD:?REDIS_PASSWORD is not set; set it in .env}"
: "${REDIS_ORCHESTRATOR_PASSWORD:?REDIS_ORCHESTRATOR_PASSWORD is not set; set it in .env (make up creates one)}"
: "${REDIS_TRAINER_PASSWORD:?REDIS_TRAINER_PASSWORD is not set; set it in .env (make up creates one)}"
: "${REDIS_RUNNER_PASSWORD:?REDIS_RUNNER_PASSWORD is not set; set it in .env (make up creates one)}"
TRIAL_QUEUE=${BILEVEL_TRIAL_QUEUE:-bilevel:trials}
SANDBOX_QUEUE=${BILEVEL_SANDBOX_QUEUE:-bilevel-sandbox}
CODE_TRIAL_QUEUE=${BILEVEL_CODE_TRIAL_QUEUE:-bilevel:code-trials}
# The queue names become ACL key patterns: glob characters or spaces would widen them.
for queue in "$TRIAL_QUEUE" "$SANDBOX_QUEUE" "$CODE_TRIAL_QUEUE"; do
  case "$queue" in
    *[!A-Za-z0-9:_.-]* | "")
      echo "queue name '$queue' may use only letters, digits and : _ . -" >&2
      exit 2
      ;;
  esac
done
if [ "$TRIAL_QUEUE" = "$SANDBOX_QUEUE" ] || [ "$CODE_TRIAL_QUEUE" = "$TRIAL_QUEUE" ] ||
  [ "$CODE_TRIAL_QUEUE" = "$SANDBOX_QUEUE" ]; then
  echo "BILEVEL_TRIAL_QUEUE, BILEVEL_CODE_TRIAL_QUEUE and BILEVEL_SANDBOX_QUEUE must differ" >&2
  exit 2
fi
CONF_DIR=${REDIS_CONF_DIR:-/run/redis}
AUTH_CONF=$CONF_DIR/auth.conf

digest() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# Commands a worker or client needs: everything but the dangerous and admin categories
# (CONFIG, DEBUG, FLUSHALL, KEYS, SHUTDOWN, ACL, MODULE, ...), plus INFO, which rq reads
# the server version from, and CLIENT SETNAME/GETNAME/ID, which rq names connections with.
COMMANDS="+@all -@dangerous -@admin +info +client|setname +client|getname +client|id"

# Keys of one role's queue (rq:queue:<q>, rq:wip:<q>, rq:failed:<q>, ...) and of its jobs
# (rq:job:<prefix>..., rq:results:<prefix>..., rq:execution(s):<prefix>...).
role_keys() {
  queue=$1
  prefix=$2
  printf '~rq:*:%s ~rq:*:%s:* ~rq:job:%s* ~rq:job::%s* ~rq:results:%s* ~rq:execution:%s* ~rq:executions:%s*' \
    "$queue" "$queue" "$prefix" "$prefix" "$prefix" "$prefix" "$prefix"
}
# What every rq worker touches whatever its queue: its own registration and the
# suspension flag (read only in effect: no role has a reason to write it).
WORKER_KEYS="~rq:workers ~rq:worker:* ~rq:queues ~rq:suspended ~rq:clean_registries:* ~rq:rl-keys ~rq:rl:* \
~rq:groups ~rq:group:* ~rq:clean_groups"

umask 077
mkdir -p "$CONF_DIR"
{
  printf 'user default on #%s resetkeys resetchannels -@all +ping +auth +hello\n' \
    "$(digest "$REDIS_PASSWORD")"
  printf 'user orchestrator on #%s resetkeys resetchannels ~rq:* ~bilevel:* &rq:* %s\n' \
    "$(digest "$REDIS_ORCHESTRATOR_PASSWORD")" "$COMMANDS"
  printf 'user trainer on #%s resetkeys resetchannels %s %s ~bilevel:trial-result:* &rq:pubsub:* %s\n' \
    "$(digest "$REDIS_TRAINER_PASSWORD")" "$(role_keys "$TRIAL_QUEUE" trial-)" "$WORKER_KEYS" \
    "$COMMANDS"
  printf 'user runner on #%s resetkeys resetchannels %s %s &rq:pubsub:* %s\n' \
    "$(digest "$REDIS_RUNNER_PASSWORD")" "$(role_keys "$SANDBOX_QUEUE" sandbox-)" "$WORKER_KEYS" \
    "$COMMANDS"
  # The code trainer holds the Docker socket (its jails): the same worker rights as a
  # trainer, on code-trial keys alone, so it can take no plain trial and no sandbox work.
  if [ -n "${REDIS_CODETRAINER_PASSWORD:-}" ]; then
    printf 'user codetrainer on #%s resetkeys resetchannels %s %s ~bilevel:trial-result:* &rq:pubsub:* %s\n' \
      "$(digest "$REDIS_CODETRAINER_PASSWORD")" "$(role_keys "$CODE_TRIAL_QUEUE" codetrial-)" \
      "$WORKER_KEYS" "$COMMANDS"
  fi
} >"$AUTH_CONF"
# appendonly + everysec: a crash loses at most a second of queue state; the journal on the
# orchestrator's volume is the source of truth for finished trials anyway.
exec redis-server --include "$AUTH_CONF" \
  --bind "${REDIS_BIND:-0.0.0.0}" --port "${REDIS_PORT:-6379}" --protected-mode yes \
  --dir "${REDIS_DATA_DIR:-/data}" --appendonly yes --appendfsync everysec --save "" "$@"
