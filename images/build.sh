#!/usr/bin/env bash
# Build the project's images, skipping any whose inputs have not changed.
#
# Each image carries a label `org.bilevel.content-hash` = sha256 of everything that goes
# into it (its Dockerfile, lock, copied sources and base image); an image whose label
# matches is up to date and is not rebuilt, so `make images` is quick when nothing changed.
# One function per image; builds use `--network host` (no bridge network on CI hosts).
#
# usage: images/build.sh [all|base|sandbox|lock|locks|redis|orchestrator|sandbox-runner|trainer]
#   TRAINER_VARIANTS="cpu cuda" images/build.sh trainer   both trainer builds (default: this host's)
#   BASE=python:3.11-slim images/build.sh   use a registry base image instead of bootstrapping
set -euo pipefail
cd "$(dirname "$0")/.."

BOOTSTRAP_BASE=bilevel/base:bookworm
BASE=${BASE:-$BOOTSTRAP_BASE}
SANDBOX_IMAGE=${SANDBOX_IMAGE:-bilevel/sandbox:latest}
HASH_LABEL=org.bilevel.content-hash

log() { echo "[images] $*"; }

# sha256 over the named files' contents and any extra strings.
content_hash() {
  { for f in "$@"; do
      if [ -f "$f" ]; then echo "file $f"; cat "$f"; else echo "str $f"; fi
    done; } | sha256sum | cut -c1-16
}

image_label() {
  docker image inspect -f "{{index .Config.Labels \"$HASH_LABEL\"}}" "$1" 2>/dev/null || true
}

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

build_base() {
  if [ "$BASE" != "$BOOTSTRAP_BASE" ]; then
    log "base: using $BASE (no bootstrap)"
    return
  fi
  local hash
  hash=$(content_hash images/base/bootstrap.sh "${DEBIAN_MIRROR:-}" /etc/ssl/certs/ca-certificates.crt)
  if [ "$(image_label "$BASE")" = "$hash" ]; then
    log "base: $BASE up to date ($hash)"
    return
  fi
  log "base: bootstrapping $BASE with debootstrap (about a minute)"
  bash images/base/bootstrap.sh "$BASE" "$hash"
}

build_sandbox() {
  local hash
  hash=$(content_hash images/sandbox.Dockerfile images/sandbox.lock contract/*.py \
    sandbox/__init__.py sandbox/api.py sandbox/channel.py sandbox/contexts.py sandbox/contract_stage.py sandbox/synthetic.py sandbox/harness.py sandbox/worker.py "$BASE" "$(image_id "$BASE")")
  if [ "$(image_label "$SANDBOX_IMAGE")" = "$hash" ]; then
    log "sandbox: $SANDBOX_IMAGE up to date ($hash)"
    return
  fi
  log "sandbox: building $SANDBOX_IMAGE"
  docker build --network host --quiet \
    --build-arg "BASE=$BASE" --label "$HASH_LABEL=$hash" \
    -f images/sandbox.Dockerfile -t "$SANDBOX_IMAGE" . >/dev/null
  log "sandbox: built $SANDBOX_IMAGE ($hash)"
}

# Re-pin images/sandbox.lock from images/sandbox.in (needs the package index).
compile_sandbox_lock() {
  local out
  out=$(mktemp)
  .venv/bin/pip-compile --quiet --generate-hashes --no-header --allow-unsafe --strip-extras \
    --index-url https://pypi.org/simple --no-emit-index-url --no-emit-find-links \
    --output-file "$out" images/sandbox.in
  { echo "# Pinned, hashed packages of the sandbox image; the static gate's import allowlist is read from here."
    echo "# Generated from images/sandbox.in by: bash images/build.sh lock"
    cat "$out"; } > images/sandbox.lock
  rm -f "$out"
  log "lock: wrote images/sandbox.lock"
}

# --- service images of the compose stack (compose.yaml) -----------------------------------
REDIS_IMAGE=${REDIS_IMAGE:-bilevel/redis:latest}
ORCHESTRATOR_IMAGE=${ORCHESTRATOR_IMAGE:-bilevel/orchestrator:latest}
SANDBOX_RUNNER_IMAGE=${SANDBOX_RUNNER_IMAGE:-bilevel/sandbox-runner:latest}
TRAINER_IMAGE=${TRAINER_IMAGE:-bilevel/trainer}  # tagged :cpu and :cuda
# Which trainer builds: cpu, cuda or "cpu cuda"; auto = cuda where the NVIDIA runtime is.
TRAINER_VARIANTS=${TRAINER_VARIANTS:-auto}
# The official CPU wheels of PyTorch, used for the cpu trainer when the host has no local one.
TORCH_CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
# Extra index for the cuda trainer; empty = PyPI's build (CUDA 13). A PyTorch CUDA 12 index
# (https://download.pytorch.org/whl/cu126) suits drivers older than 580.
TORCH_CUDA_INDEX=${TORCH_CUDA_INDEX:-}
# Wheels the trainer build may use (build/ is git-ignored; .dockerignore lets this in).
STAGED_WHEELS=build/wheels

# Every project file an image copies, so a source change rebuilds it.
project_sources() {
  find pyproject.toml README.md contract orchestrator trainer sandbox studies deploy -type f \
    \( -name '*.py' -o -name '*.toml' -o -name '*.sh' -o -name '*.md' \) \
    -not -path '*/__pycache__/*' | LC_ALL=C sort
}

# build_service NAME IMAGE DOCKERFILE "INPUTS" [--build-arg K=V ...]
# INPUTS: the files (or strings) the image is made of besides its Dockerfile and base.
build_service() {
  local name=$1 image=$2 dockerfile=$3 inputs=$4 hash logfile
  shift 4
  # shellcheck disable=SC2086
  hash=$(content_hash "$dockerfile" $inputs "$BASE" "$(image_id "$BASE")" "$@")
  if [ "$(image_label "$image")" = "$hash" ]; then
    log "$name: $image up to date ($hash)"
    return
  fi
  log "$name: building $image"
  logfile=$(mktemp)
  if ! docker build --network host --build-arg "BASE=$BASE" "$@" --label "$HASH_LABEL=$hash" \
      -f "$dockerfile" -t "$image" . >"$logfile" 2>&1; then
    tail -40 "$logfile" >&2
    rm -f "$logfile"
    log "$name: build FAILED"
    return 1
  fi
  rm -f "$logfile"
  log "$name: built $image ($hash)"
}

build_redis() {
  build_service redis "$REDIS_IMAGE" images/redis.Dockerfile \
    "deploy/redis-entrypoint.sh deploy/redis-healthcheck.sh"
}
build_orchestrator() {
  build_service orchestrator "$ORCHESTRATOR_IMAGE" images/orchestrator.Dockerfile \
    "images/orchestrator.lock images/sandbox.lock $(project_sources)"
}
build_sandbox_runner() {
  build_service sandbox-runner "$SANDBOX_RUNNER_IMAGE" images/sandbox-runner.Dockerfile \
    "images/sandbox-runner.lock images/sandbox.lock $(project_sources)"
}

# The host's local CPU build of the locked torch (pip's find-links, e.g. /opt/wheels), linked
# into the build context; prints the index to use instead when there is none.
stage_torch_cpu_wheel() {
  local pin dirs dir wheel
  pin=$(sed -n 's/^torch==\([^ ]*\).*/\1/p' images/trainer.lock)
  rm -rf "$STAGED_WHEELS" && mkdir -p "$STAGED_WHEELS"
  dirs=${TORCH_WHEELS_DIR:-${PIP_FIND_LINKS:-$(.venv/bin/pip config get global.find-links 2>/dev/null || true)}}
  for dir in $dirs; do
    for wheel in "${dir#file://}"/torch-"$pin"+cpu-*.whl; do
      [ -f "$wheel" ] || continue
      ln -f "$wheel" "$STAGED_WHEELS/" 2>/dev/null || cp "$wheel" "$STAGED_WHEELS/"
      log "trainer: using local wheel $wheel" >&2
      return
    done
  done
  echo "$TORCH_CPU_INDEX"
}

build_trainer() {
  local variants=$TRAINER_VARIANTS variant index
  if [ "$variants" = auto ]; then
    variants=cpu
    docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"nvidia"' && variants=cuda
  fi
  for variant in $variants; do
    rm -rf "$STAGED_WHEELS" && mkdir -p "$STAGED_WHEELS"
    index=$TORCH_CUDA_INDEX
    [ "$variant" = cpu ] && index=$(stage_torch_cpu_wheel)
    build_service "trainer ($variant)" "$TRAINER_IMAGE:$variant" images/trainer.Dockerfile \
      "images/trainer.lock $(project_sources) $(ls "$STAGED_WHEELS")" \
      --build-arg "TORCH_VARIANT=$variant" --build-arg "TORCH_INDEX_URL=$index"
  done
}

# Re-pin the service images' locks from pyproject.toml's extras, held to requirements/dev.lock
# so the images run the versions the tests ran. Compiled inside the base image, for the
# interpreter the images run (a marker such as `python_full_version < "3.11.3"` resolves as
# there). The trainer lock has no hashes: its torch pin is the CPU wheel here and the CUDA
# build on GPU hosts (whose CUDA libraries torch's own metadata pins exactly).
compile_service_locks() {
  local pip_tools out
  pip_tools=$(grep -i '^pip-tools==' requirements/dev.lock)
  stage_torch_cpu_wheel >/dev/null
  out=$(mktemp -d)
  docker run --rm --network host -v "$PWD:/repo:ro" -v "$out:/out" "$BASE" sh -euc '
    cp -r /repo/pyproject.toml /repo/README.md /repo/requirements /repo/build /tmp/
    cd /tmp && python3.11 -m venv /tmp/venv && /tmp/venv/bin/pip install -q "$0"
    for extra in orchestrator sandbox-runner trainer; do
      hashes=--generate-hashes; [ "$extra" = trainer ] && hashes=
      /tmp/venv/bin/pip-compile --quiet --no-header --allow-unsafe --strip-extras $hashes \
        --all-build-deps --extra "$extra" --constraint requirements/dev.lock \
        --find-links /tmp/build/wheels --no-emit-index-url --no-emit-find-links \
        --output-file "/out/$extra.lock" pyproject.toml 2>/out/$extra.err \
        || { cat /out/$extra.err >&2; exit 1; }
    done' "$pip_tools"
  for extra in orchestrator sandbox-runner trainer; do
    { echo "# Pinned packages of the $extra image (images/$extra.Dockerfile), for its Python 3.11."
      echo "# Generated from pyproject.toml's [$extra] extra by: bash images/build.sh locks"
      sed 's/^\(torch==[^+ ]*\)+cpu/\1/' "$out/$extra.lock"; } > "images/$extra.lock"
    log "lock: wrote images/$extra.lock"
  done
  rm -rf "$out"
}

case "${1:-all}" in
  all) build_base; build_sandbox; build_redis; build_orchestrator; build_sandbox_runner; build_trainer ;;
  base) build_base ;;
  sandbox) build_base; build_sandbox ;;
  lock) compile_sandbox_lock ;;
  locks) compile_service_locks ;;
  redis) build_base; build_redis ;;
  orchestrator) build_base; build_orchestrator ;;
  sandbox-runner) build_base; build_sandbox_runner ;;
  trainer) build_base; build_trainer ;;
  *) echo "usage: $0 [all|base|sandbox|lock|locks|redis|orchestrator|sandbox-runner|trainer]" >&2; exit 2 ;;
esac
