#!/bin/sh
# Start Redis with the password from the environment, never from the command line (where
# `ps` and `docker inspect` would show it) and never baked into the image: the directive
# goes to a 0600 file on the container's tmpfs, which Redis includes.
#   REDIS_PASSWORD (required), REDIS_BIND (default 0.0.0.0), REDIS_PORT (default 6379)
set -eu
: "${REDIS_PASSWORD:?REDIS_PASSWORD is not set; set it in .env}"
AUTH_CONF=/run/redis/auth.conf
umask 077
printf 'requirepass "%s"\n' "$REDIS_PASSWORD" >"$AUTH_CONF"
# appendonly + everysec: a crash loses at most a second of queue state; the journal on the
# orchestrator's volume is the source of truth for finished trials anyway.
exec redis-server --include "$AUTH_CONF" \
  --bind "${REDIS_BIND:-0.0.0.0}" --port "${REDIS_PORT:-6379}" --protected-mode yes \
  --dir /data --appendonly yes --appendfsync everysec --save "" "$@"
