#!/usr/bin/env bash
# The compose stack's front door, behind `make up`, `make down`, `make logs`, `make study`.
#
# Picks the compose command (`docker compose` v2.18+, else `docker-compose` v1.28+) and the files:
#   compose.yaml                always
#   compose.cpu.yaml            when the engine has no NVIDIA runtime (or BILEVEL_GPU=no)
#   compose.test.yaml           when the engine has no default bridge network, as with
#                               `dockerd --bridge=none` (or BILEVEL_HOST_NETWORK=yes): every
#                               service on the host's network, talking over 127.0.0.1 only
# and says which it picked. Overlays drop keys with `!reset`; for v1, which lacks it,
# deploy/compose_reset.py rewrites the files first (into a temporary directory).
#
# usage: deploy/stack.sh up [--code-trials]|down|logs|ps|config|running|study FILE|compose ARGS...
#   CODE_TRIALS            1: also run `code-trainer` (compose profile `code-trials`), the
#                          worker for studies with `[search] code_trials = true`; the same
#                          as `up --code-trials` (default off: it holds the Docker socket)
#   BILEVEL_DOCKER_CLI     the host's docker client the code-trainer mounts (default: the
#                          one on PATH)
#   COMPOSE_PROJECT_NAME   stack name (default bilevel); containers, volumes carry it
#   BILEVEL_GPU            auto|yes|no    GPU trainer image and reservation (default auto)
#   BILEVEL_HOST_NETWORK   auto|yes|no    host-networking overlay (default auto)
#   BILEVEL_UP_TIMEOUT     seconds `up` waits for every service to be healthy (default 240)
#   BILEVEL_SANDBOX_RUNNERS  sandbox runners to start (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

ENV_FILE=$REPO/.env

# A setting of this script: the environment first, then .env (as compose reads it), else
# the default. Only plain KEY=value lines of .env are read; it is never sourced.
setting() {
  local key=$1 default=$2 value
  value=${!key:-}
  if [ -z "$value" ] && [ -f "$ENV_FILE" ]; then
    value=$(sed -n "s/^$key=//p" "$ENV_FILE" | tail -1)
  fi
  echo "${value:-$default}"
}

PROJECT=$(setting COMPOSE_PROJECT_NAME bilevel)
# compose.yaml names the cache volume by it (the code-trainer's jail volume).
export COMPOSE_PROJECT_NAME=$PROJECT
if [ "${1:-}" = up ] && [ "${2:-}" = --code-trials ]; then CODE_TRIALS=1; fi
CODE_TRIALS=$(setting CODE_TRIALS "")
GPU=$(setting BILEVEL_GPU auto)
HOST_NETWORK=$(setting BILEVEL_HOST_NETWORK auto)
# Long enough for a cold start on a busy 2-core host (the runner checks the engine and the
# sandbox image before it reports healthy); a healthy stack is usually up in ~15 s.
UP_TIMEOUT=$(setting BILEVEL_UP_TIMEOUT 240)
# Two runners, so a research session's gate ladder (seconds) never queues ahead of the
# study's per-trial hook calls: with one, the trainers would wait for Level 2.
SANDBOX_RUNNERS=$(setting BILEVEL_SANDBOX_RUNNERS 2)
# Where the study file goes inside the orchestrator: its runs volume, which it can write.
STUDY_DROP_DIR=/app/runs/.submitted
# Files beside a study file larger than this (KiB) stay behind: code, not data sets.
SUBMIT_MAX_KB=1024

log() { echo "[stack] $*" >&2; }
die() { echo "error: $*" >&2; exit 2; }

command -v docker >/dev/null || die "docker is not installed; install Docker, then run \`make up\` again"
docker info >/dev/null 2>&1 || die "no Docker engine answers (\`docker info\` failed); start dockerd"

# --- which compose, which files ---------------------------------------------------------
COMPOSE=()
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
  COMPOSE_V1=0
elif command -v docker-compose >/dev/null; then
  COMPOSE=(docker-compose)
  COMPOSE_V1=1
else
  die "neither \`docker compose\` nor \`docker-compose\` is installed; install one (e.g. apt-get install docker-compose)"
fi

has_nvidia_runtime() { docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"nvidia"'; }
has_bridge_network() { docker network inspect bridge >/dev/null 2>&1; }

FILES=(compose.yaml)
case "$GPU" in
  yes) VARIANT="GPU" ;;
  no) VARIANT="CPU"; FILES+=(compose.cpu.yaml) ;;
  auto)
    if has_nvidia_runtime; then VARIANT="GPU (NVIDIA runtime found)"
    else VARIANT="CPU (no NVIDIA runtime in \`docker info\`)"; FILES+=(compose.cpu.yaml); fi ;;
  *) die "BILEVEL_GPU must be auto, yes or no (got '$GPU')" ;;
esac
case "$HOST_NETWORK" in
  yes) NETWORKING="host networking on 127.0.0.1"; FILES+=(compose.test.yaml) ;;
  no) NETWORKING="internal + egress networks" ;;
  auto)
    if has_bridge_network; then NETWORKING="internal + egress networks"
    else NETWORKING="host networking on 127.0.0.1 (engine has no bridge network)"; FILES+=(compose.test.yaml); fi ;;
  *) die "BILEVEL_HOST_NETWORK must be auto, yes or no (got '$HOST_NETWORK')" ;;
esac

case "$CODE_TRIALS" in
  "" | 0 | no) CODE_TRIALS="" ;;
  1 | yes) CODE_TRIALS=1 ;;
  *) die "CODE_TRIALS must be 1 or empty (got '$CODE_TRIALS')" ;;
esac
if [ -n "$CODE_TRIALS" ]; then
  # The code-trainer runs the host's own docker client (its image has none): a static binary
  # in Docker's packages, mounted read-only.
  BILEVEL_DOCKER_CLI=$(setting BILEVEL_DOCKER_CLI "$(command -v docker)")
  BILEVEL_DOCKER_CLI=$(readlink -f "$BILEVEL_DOCKER_CLI")
  [ -x "$BILEVEL_DOCKER_CLI" ] || die "BILEVEL_DOCKER_CLI '$BILEVEL_DOCKER_CLI' is not an executable docker client"
  export BILEVEL_DOCKER_CLI
fi

# The socket's group, so the non-root sandbox runner may use it (compose.yaml group_add).
DOCKER_SOCKET=/var/run/docker.sock
if [ -S "$DOCKER_SOCKET" ]; then
  DOCKER_GID=$(setting DOCKER_GID "$(stat -c %g "$DOCKER_SOCKET")")
  export DOCKER_GID
fi

# Redis credentials, one per role (deploy/redis-entrypoint.sh): the default user (health
# check), the orchestrator, the trainers and the sandbox runners.
# The job keys (orchestrator/job_signing.py) are made the same way: random, per stack.
REDIS_PASSWORD_VARS=(REDIS_PASSWORD REDIS_ORCHESTRATOR_PASSWORD REDIS_TRAINER_PASSWORD REDIS_RUNNER_PASSWORD
  REDIS_CODETRAINER_PASSWORD BILEVEL_TRIAL_JOB_KEY BILEVEL_SANDBOX_JOB_KEY)

random_password() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# A fresh clone has no .env: make one with random Redis passwords rather than run Redis
# with well-known ones. An existing .env is never overwritten; one from before per-role
# credentials gets the missing passwords appended.
ensure_env_file() {
  local var missing=0
  for var in "${REDIS_PASSWORD_VARS[@]}"; do [ -n "${!var:-}" ] || missing=1; done
  if [ "$missing" = 0 ]; then return; fi  # all given in the environment
  if [ ! -f "$ENV_FILE" ]; then
    (umask 077 && cp .env.example "$ENV_FILE")
    for var in "${REDIS_PASSWORD_VARS[@]}"; do
      sed -i "s/^$var=.*/$var=$(random_password)/" "$ENV_FILE"
    done
    log "created .env from .env.example with random Redis passwords (edit it for your LLM key)"
    return
  fi
  for var in "${REDIS_PASSWORD_VARS[@]}"; do
    if [ -z "${!var:-}" ] && ! grep -q "^$var=." "$ENV_FILE"; then
      echo "$var=$(random_password)" >>"$ENV_FILE"
      log "added a random $var to .env (per-role Redis credentials)"
    fi
  done
}

# The v1 rewrite of the files lives only as long as this script (it holds no secrets).
RENDER_DIR=""

compose() {
  local files=("${FILES[@]}")
  if [ "$COMPOSE_V1" = 1 ]; then
    # v1 is a Python program with PyYAML: run the rewrite under its own interpreter.
    local python
    python=$(head -1 "$(command -v docker-compose)" | sed -n 's/^#! *//p')
    python=${python:-python3}
    if [ -z "$RENDER_DIR" ]; then
      RENDER_DIR=$(mktemp -d)
      trap 'rm -rf "$RENDER_DIR"' EXIT
    fi
    mapfile -t files < <($python "$REPO/deploy/compose_reset.py" "$RENDER_DIR" "${FILES[@]}")
  fi
  local args=(--project-directory "$REPO" -p "$PROJECT")
  [ -z "$CODE_TRIALS" ] || args+=(--profile code-trials)
  for f in "${files[@]}"; do args+=(-f "$f"); done
  "${COMPOSE[@]}" "${args[@]}" "$@"
}

project_containers() {
  docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" "$@"
}

orchestrator_running() {
  [ -n "$(project_containers --filter label=com.docker.compose.service=orchestrator --filter status=running)" ]
}

# Health of every container of the stack: prints "ready", "waiting" or "failed NAME".
stack_health() {
  local ids state health name waiting=0
  ids=$(project_containers)
  [ -n "$ids" ] || { echo "failed (no containers)"; return; }
  while read -r name state health; do
    case "$state/$health" in
      running/healthy) ;;
      running/starting | created/*) waiting=1 ;;
      *) echo "failed $name ($state/$health)"; return ;;
    esac
  done < <(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}healthy{{end}}' $ids)
  if [ "$waiting" = 1 ]; then echo waiting; else echo ready; fi
}

wait_healthy() {
  local deadline=$((SECONDS + UP_TIMEOUT)) health
  while :; do
    health=$(stack_health)
    case "$health" in
      ready) return 0 ;;
      failed*) break ;;
    esac
    [ "$SECONDS" -lt "$deadline" ] || { health="failed: not healthy after ${UP_TIMEOUT}s"; break; }
    sleep 2
  done
  compose ps >&2 || true
  compose logs --tail 20 >&2 || true
  die "the stack did not come up: $health; see the logs above (\`make logs\`)"
}

cmd_up() {
  ensure_env_file
  local code="off (\`CODE_TRIALS=1 make up\` starts the code-trainer)"
  [ -z "$CODE_TRIALS" ] || code="on (code-trainer, jails through the Docker socket)"
  log "variant: $VARIANT; $NETWORKING; project '$PROJECT'; code trials $code; ${COMPOSE[*]}"
  compose up -d --remove-orphans --scale sandbox-runner="$SANDBOX_RUNNERS"
  wait_healthy
  log "stack '$PROJECT' is up: $(project_containers | wc -l) containers healthy; \`make study\` runs a study on it"
  log "dashboard: http://127.0.0.1:$(setting BILEVEL_DASHBOARD_PORT 8080)/ (read-only, this host only)"
}

cmd_down() {
  compose down --remove-orphans --timeout 10
  local left
  left=$(project_containers)
  [ -z "$left" ] || docker rm -f $left >/dev/null
  log "stack '$PROJECT' is down (volumes kept: \`deploy/stack.sh compose down -v\` removes them)"
}

# Copy the study file, with the files beside it (a `function` or `command` objective's code),
# into the runs volume and run it there, trials through Redis on the trainer workers, which
# see the same folder read-only. The output is the study's own progress, followed live.
cmd_study() {
  local study=${1:?usage: stack.sh study FILE}
  [ -f "$study" ] || die "study file '$study' not found; pass an existing file (STUDY=path)"
  orchestrator_running || die "the stack '$PROJECT' is not running; start it with \`make up\`"
  local name folder target files
  name=$(basename "$study")
  folder=$STUDY_DROP_DIR/${name%.toml}
  target=$folder/$name
  # Top-level regular files only: the study's folder, not everything under it.
  mapfile -t files < <(cd "$(dirname "$study")" && find . -maxdepth 1 -type f -size -"$SUBMIT_MAX_KB"k)
  (cd "$(dirname "$study")" && tar -cf - "${files[@]}") |
    compose exec -T orchestrator sh -c 'mkdir -p "$1" && tar -xf - -C "$1"' sh "$folder"
  log "running $study in the orchestrator container (trials on the trainer workers)"
  local tty=()
  [ -t 0 ] && [ -t 1 ] || tty=(-T)
  compose exec "${tty[@]}" orchestrator bilevel study "$target" --executor rq "${@:2}"
}

# Only `up` reads the passwords (into the containers); the other commands parse the same
# files, whose interpolation demands them, so they get a stand-in when one is not set.
if [ "${1:-}" != up ]; then
  for var in "${REDIS_PASSWORD_VARS[@]}"; do
    if [ -z "${!var:-}" ] && [ -z "$(setting "$var" '')" ]; then
      export "$var=unused-outside-up"
    fi
  done
fi

case "${1:-}" in
  up)
    [ "$#" -le 1 ] || [ "$*" = "up --code-trials" ] || die "usage: $0 up [--code-trials]"
    cmd_up ;;
  down) cmd_down ;;
  logs) compose logs --follow --tail "${BILEVEL_LOG_TAIL:-100}" ;;
  ps) compose ps ;;
  config) compose config ;;
  running) orchestrator_running ;;
  study) shift; cmd_study "$@" ;;
  compose) shift; compose "$@" ;;
  *) echo "usage: $0 up|down|logs|ps|config|running|study FILE|compose ARGS..." >&2; exit 2 ;;
esac
