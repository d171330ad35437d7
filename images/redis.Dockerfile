# The stack's Redis (Debian's redis-server): password from the environment at start,
# append-only file on the /data volume, non-root. No registry image needed.
#   docker build --network host --build-arg BASE=python:3.11-slim \
#     -f images/redis.Dockerfile -t bilevel/redis .                    (or: make images)
ARG BASE=python:3.11-slim
FROM ${BASE}
# A fixed uid (the stack's one service uid), made a system user before the package's own
# `adduser --system` would pick one, so compose can hand it its tmpfs (compose.yaml).
RUN groupadd --system --gid 10001 redis \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/redis --shell /usr/sbin/nologin redis \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && mkdir -p /data /run/redis && chown redis:redis /data /run/redis
COPY deploy/redis-entrypoint.sh /usr/local/bin/redis-entrypoint
COPY deploy/redis-healthcheck.sh /usr/local/bin/redis-healthcheck
USER 10001:10001
WORKDIR /data
ENTRYPOINT ["redis-entrypoint"]
