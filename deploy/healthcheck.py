"""Container health check of the stack's Python services (installed as `bilevel-healthcheck`).

Exit 0 when every requested dependency answers, 1 (with one line why) when one does not:
  --redis               an authenticated PING on BILEVEL_REDIS_URL
  --docker-image IMAGE  the Docker engine answers and has IMAGE (the sandbox runner can
                        start sandboxes)
Imports only what a check needs, so it runs in every image (no docker SDK in most).
"""

from __future__ import annotations

import argparse
import os
import sys

REDIS_URL_ENV = "BILEVEL_REDIS_URL"
# Under the compose healthcheck timeout, so a hung service reports itself instead of timing out.
PROBE_TIMEOUT_S = 5.0


def check_redis() -> str | None:
    import redis

    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        return f"{REDIS_URL_ENV} is not set"
    try:
        redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT_S).ping()
    except redis.RedisError as exc:
        return f"Redis does not answer: {exc}"
    return None


def check_docker_image(image: str) -> str | None:
    import docker

    try:
        client = docker.from_env(timeout=int(PROBE_TIMEOUT_S))
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return f"image {image} is missing; build it with `make images`"
    except docker.errors.DockerException as exc:
        return f"Docker engine does not answer: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bilevel-healthcheck")
    parser.add_argument("--redis", action="store_true")
    parser.add_argument("--docker-image")
    args = parser.parse_args(argv)
    problems = []
    if args.redis:
        problems.append(check_redis())
    if args.docker_image:
        problems.append(check_docker_image(args.docker_image))
    failed = [p for p in problems if p]
    for problem in failed:
        print(f"unhealthy: {problem}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
