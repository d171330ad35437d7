"""The production boundary: one hardened, throw-away container per sandbox run (DESIGN §2).

A run serves one mechanism (the host starts one per mechanism of a hook stage), so no two
mechanisms ever share a container, pid namespace, ``/tmp`` or channel.
Profile: no network, read-only root, a small noexec tmpfs, a non-root uid, every capability
dropped, no-new-privileges, pids/memory/CPU/file-size/open-file limits, an empty
environment, an empty read-only working directory, a wall-clock deadline enforced from the
host, and capped logs. The answer is read off the attach socket as soon as the report line
arrives (:mod:`sandbox.backends.docker_stream`); the container is then removed in the
background. Each container is labelled with its deadline; :func:`reap_containers` removes
any that outlived it (a host process killed mid-call).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from contract.cgroup import MEMORY_LIMIT, PIDS_LIMIT
from sandbox.backends.base import (
    WARM_MAX_AGE_S,
    Backend,
    RawRun,
    SandboxUnavailable,
    WarmSlot,
)
from sandbox.backends.docker_stream import read_until_report

DEFAULT_IMAGE = "bilevel/sandbox:latest"  # what images/build.sh builds
IMAGE_ENV = "BILEVEL_SANDBOX_IMAGE"  # another tag (a registry copy, a test's missing image)
SANDBOX_LABEL = "org.bilevel.sandbox"
DEADLINE_LABEL = "org.bilevel.sandbox.deadline"
SANDBOX_UID = "10001:10001"  # the image's unprivileged user; no entry in any host group
# The whole container (the supervisor and its mechanism's worker): the limits the process
# backend's cgroup applies too (contract/cgroup.py), so both backends fence a hook alike.
NANO_CPUS = 1_000_000_000  # one CPU: hooks are small; a spin cannot starve the host
WORK_DIR = "/work"  # the image's empty read-only directory: nothing to import or plant there
TMPFS_OPTIONS = "rw,noexec,nosuid,nodev,size=16m,nr_inodes=2048,mode=1777"
FILE_SIZE_LIMIT = 8 << 20  # RLIMIT_FSIZE: no single file beyond 8 MiB, tmpfs or not
OPEN_FILES_LIMIT = 256
# Logs are what the host reads back; json-file with one capped file bounds disk use.
LOG_MAX_SIZE = "16m"
# Time to create/start/remove a container on top of the run's own deadline.
REAP_GRACE_S = 30.0
API_TIMEOUT_S = 60  # docker API calls themselves (create/start/remove)
REMOVE_ATTEMPTS = 3
# A warm container serves calls with deadlines up to this (the ladder's); its reaper label
# is set at creation, so a longer call starts a cold container with its own label.
WARM_MAX_DEADLINE_S = 60.0
# OOM events are looked for this far back: a warm container's whole life and its call.
OOM_LOOKBACK_S = WARM_MAX_AGE_S + WARM_MAX_DEADLINE_S + REAP_GRACE_S
# A container that closed its output without a report has exited or is about to: how long
# to wait for its exit code.
EXIT_WAIT_S = 5.0
# Containers are removed in the background once their call has its answer (removal takes
# 20-100 ms, more on a busy engine); these threads are joined at interpreter exit.
_REMOVER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-remove")


def _docker_client() -> Any:
    import docker

    return docker.from_env(timeout=API_TIMEOUT_S)


def engine_answers() -> bool:
    """True when a Docker engine answers a ping."""
    try:
        return bool(_docker_client().ping())
    except Exception:  # the Docker SDK raises its own, requests' and OS errors: all mean "no"
        return False


def sandbox_image() -> str:
    return os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE


def image_exists(image: str | None = None) -> bool:
    try:
        _docker_client().images.get(image or sandbox_image())
        return True
    except Exception:  # not found, or no engine to ask (SDK, requests or OS errors)
        return False


def reap_containers(client: Any | None = None, *, all_of_them: bool = False) -> int:
    """Remove sandbox containers past their deadline (or every one); how many were removed."""
    client = client or _docker_client()
    removed = 0
    now = time.time()
    for info in client.api.containers(all=True, filters={"label": SANDBOX_LABEL}):
        deadline = float(info.get("Labels", {}).get(DEADLINE_LABEL, 0) or 0)
        if all_of_them or deadline + REAP_GRACE_S < now:
            with contextlib.suppress(Exception):
                client.api.remove_container(info["Id"], force=True)
                removed += 1
    return removed


def _raw_socket(sock: Any) -> socket.socket:
    # docker-py wraps the hijacked connection differently per transport.
    return getattr(sock, "_sock", sock)


class DockerBackend(Backend):
    """Runs the harness in a fresh hardened container of the sandbox image."""

    name = "docker"
    isolation = "docker"

    def __init__(self, image: str | None = None, *, warm: bool = False) -> None:
        super().__init__(warm=warm)
        self.image = image or sandbox_image()
        self.last_container_id: str | None = None
        self.client = _docker_client()

    def container_config(self, deadline_at: float) -> dict[str, Any]:
        """``create_container`` arguments: the hardened profile (exposed for tests)."""
        from docker.types import LogConfig, Ulimit

        host_config = self.client.api.create_host_config(
            network_mode="none",
            read_only=True,
            tmpfs={"/tmp": TMPFS_OPTIONS},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            pids_limit=PIDS_LIMIT,
            mem_limit=MEMORY_LIMIT,
            memswap_limit=MEMORY_LIMIT,  # no swap: the limit is the limit
            nano_cpus=NANO_CPUS,
            shm_size="1m",
            ipc_mode="private",
            ulimits=[
                Ulimit(name="fsize", soft=FILE_SIZE_LIMIT, hard=FILE_SIZE_LIMIT),
                Ulimit(name="nofile", soft=OPEN_FILES_LIMIT, hard=OPEN_FILES_LIMIT),
                Ulimit(name="core", soft=0, hard=0),
            ],
            log_config=LogConfig(
                type="json-file", config={"max-size": LOG_MAX_SIZE, "max-file": "1"}
            ),
        )
        return {
            "image": self.image,
            "user": SANDBOX_UID,
            "stdin_open": True,
            "use_config_proxy": False,  # proxy settings are environment too: none
            "network_disabled": True,
            "hostname": "sandbox",
            "working_dir": WORK_DIR,
            "environment": {},
            "labels": {SANDBOX_LABEL: "1", DEADLINE_LABEL: f"{deadline_at:.0f}"},
            "host_config": host_config,
        }

    def _launch(self, payload: bytes, deadline_s: float, slot: WarmSlot[Any] | None) -> RawRun:
        import docker.errors
        import requests.exceptions

        try:
            return self._run_container(payload, deadline_s, slot)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise SandboxUnavailable(f"docker sandbox failed to run: {exc}") from exc

    def _prepare(self, label_deadline: float, key: str = "") -> tuple[str, Any]:
        """Create, attach (stdin, stdout, stderr) and start a container; its harness waits
        for the request. Attaching before the start means no output is ever missed."""
        api = self.client.api
        config = self.container_config(label_deadline)
        if self.warm:
            config["command"] = self.harness_args(key)
        cid = api.create_container(**config)["Id"]
        try:
            params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            sock = api.attach_socket(cid, params=params)
            api.start(cid)
        except Exception:  # whatever failed, the created container is removed; re-raised
            self._remove(cid)
            raise
        return cid, sock

    def _alive(self, handle: tuple[str, Any]) -> bool:
        try:
            return bool(self.client.api.inspect_container(handle[0])["State"]["Running"])
        except Exception:  # gone, or the engine cannot say: not alive, start a fresh one
            return False

    def _dispose(self, handle: tuple[str, Any]) -> None:
        with contextlib.suppress(Exception):
            handle[1].close()
        self._remove(handle[0])

    def _start_warm(self, key: str) -> tuple[str, Any]:
        return self._prepare(time.time() + WARM_MAX_AGE_S + WARM_MAX_DEADLINE_S, key)

    def _run_container(
        self, payload: bytes, deadline_s: float, slot: WarmSlot[Any] | None
    ) -> RawRun:
        api = self.client.api
        warm = slot.take() if slot and deadline_s <= WARM_MAX_DEADLINE_S else None
        if warm is None:
            reap_containers(self.client)
        start = time.monotonic()
        cid, sock = warm or self._prepare(time.time() + deadline_s)
        self.last_container_id = cid  # lets tests check that this very container is gone
        try:
            raw = _raw_socket(sock)
            with contextlib.suppress(OSError):  # the harness may already have exited
                raw.sendall(payload)
                raw.shutdown(socket.SHUT_WR)
            got = read_until_report(raw, start + deadline_s)
            seconds = time.monotonic() - start
            exit_code = None
            if got.timed_out or got.overflow:
                with contextlib.suppress(Exception):
                    api.kill(cid)
            elif got.eof and not got.report_seen:  # it exited without a report: how?
                with contextlib.suppress(Exception):
                    exit_code = api.wait(cid, timeout=EXIT_WAIT_S)["StatusCode"]
            return RawRun(
                exit_code=exit_code,
                stdout=got.stdout,
                stderr=got.stderr,
                timed_out=got.timed_out and not got.report_seen,
                oom_killed=self._oom_killed(cid),
                overflow=got.overflow,
                seconds=seconds,
            )
        finally:
            with contextlib.suppress(Exception):
                sock.close()
            _REMOVER.submit(self._remove, cid)  # off the call's latency; the reaper backs it
            if slot:  # after the report: starting the next container competes for the CPUs
                slot.refill()

    def _oom_killed(self, cid: str) -> bool:
        """Whether the kernel OOM-killed anything in the container so far. The engine logs
        an ``oom`` event as it happens (its ``OOMKilled`` state waits for the exit, which
        the call no longer waits for); the look-up is one quick, bounded API call."""
        api = self.client.api
        since = time.time() - OOM_LOOKBACK_S
        try:
            events = list(  # read to the end: the stream closes at ``until``
                api.events(
                    since=f"{since:.9f}",
                    until=f"{time.time():.9f}",
                    filters={"container": cid, "event": "oom"},
                    decode=True,
                )
            )
            return any(e.get("status") == "oom" for e in events)
        except Exception:  # the events API failed (SDK or connection error): ask the state
            with contextlib.suppress(Exception):
                return bool(api.inspect_container(cid)["State"].get("OOMKilled"))
        return False

    def _remove(self, cid: str) -> None:
        # An engine busy with an OOM-thrashing container can time out a removal; retry, and
        # leave anything still there to the reaper (the deadline label says when).
        for attempt in range(REMOVE_ATTEMPTS):
            try:
                self.client.api.remove_container(cid, force=True)
                return
            except Exception as exc:  # SDK or connection errors: retried, then the reaper's
                if "No such container" in str(exc) or "is already in progress" in str(exc):
                    return
                time.sleep(0.5 * (attempt + 1))
