#!/usr/bin/env bash
# Make sure every service the tests use answers: Redis on 127.0.0.1:6379 and a Docker engine.
# Idempotent: does nothing for a service that already answers. Needs root for installs.
set -euo pipefail

log() { echo "[services] $*"; }
die() { echo "[services] FATAL: $*" >&2; exit 1; }

APT_PACKAGES=(docker.io docker-compose debootstrap bubblewrap chromium redis-server)
missing=()
for cmd in dockerd docker-compose debootstrap bwrap chromium redis-server; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
fi

# --- Redis ---------------------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  log "starting redis-server on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 50); do redis-cli ping 2>/dev/null | grep -q PONG && break; sleep 0.2; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG || die "Redis does not answer on 127.0.0.1:6379"
log "redis: ok"

# --- Docker --------------------------------------------------------------------------
# No bridge: containers get either no network (sandboxes) or the host's loopback (tests).
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (--bridge=none)"
  mkdir -p /var/log
  nohup dockerd --bridge=none --iptables=false --ip6tables=false >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
fi
docker info >/dev/null 2>&1 || { tail -20 /var/log/dockerd.log >&2 || true; die "no Docker engine answers"; }
log "docker: ok ($(docker version --format '{{.Server.Version}}'))"
