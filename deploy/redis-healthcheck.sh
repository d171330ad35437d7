#!/bin/sh
# Healthy when Redis answers an authenticated PING (REDISCLI_AUTH keeps the password off argv).
REDISCLI_AUTH="$REDIS_PASSWORD" exec sh -c \
  'redis-cli -p "${REDIS_PORT:-6379}" ping | grep -q PONG'
