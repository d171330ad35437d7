"""The production boundary: one hardened, throw-away container per sandbox run (DESIGN §2).

Profile: no network, read-only root, a small noexec tmpfs, a non-root uid, every capability
dropped, no-new-privileges, pids/memory/CPU/file-size/open-file limits, an empty
environment, a wall-clock deadline enforced from the host, and capped logs. Each container
is labelled with its deadline; :func:`reap_containers` removes any that outlived it (a host
process killed mid-call), and every call removes its own container in ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from typing import Any

from sandbox.backends.base import (
    MAX_OUTPUT_BYTES,
    STDERR_TAIL_BYTES,
    WARM_MAX_AGE_S,
    Backend,
    RawRun,
    SandboxUnavailable,
    WarmSlot,
)

DEFAULT_IMAGE = "bilevel/sandbox:latest"  # what images/build.sh builds
IMAGE_ENV = "BILEVEL_SANDBOX_IMAGE"  # another tag (a registry copy, a test's missing image)
SANDBOX_LABEL = "org.bilevel.sandbox"
DEADLINE_LABEL = "org.bilevel.sandbox.deadline"
SANDBOX_UID = "10001:10001"  # the image's unprivileged user; no entry in any host group
MEMORY_LIMIT = "1g"  # whole container: supervisor + one worker per mechanism of a batch
PIDS_LIMIT = 64  # processes + threads; a hook needs a handful, a fork bomb hits the wall
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


def _docker_client() -> Any:
    import docker

    return docker.from_env(timeout=API_TIMEOUT_S)


def engine_answers() -> bool:
    """True when a Docker engine answers a ping."""
    try:
        return bool(_docker_client().ping())
    except Exception:
        return False


def sandbox_image() -> str:
    return os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE


def image_exists(image: str | None = None) -> bool:
    try:
        _docker_client().images.get(image or sandbox_image())
        return True
    except Exception:
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
        """Create, attach stdin and start a container; its harness waits for the request."""
        api = self.client.api
        config = self.container_config(label_deadline)
        if self.warm:
            config["command"] = self.harness_args(key)
        cid = api.create_container(**config)["Id"]
        try:
            sock = api.attach_socket(cid, params={"stdin": 1, "stream": 1})
            api.start(cid)
        except Exception:
            self._remove(cid)
            raise
        return cid, sock

    def _alive(self, handle: tuple[str, Any]) -> bool:
        try:
            return bool(self.client.api.inspect_container(handle[0])["State"]["Running"])
        except Exception:
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
        import requests.exceptions

        api = self.client.api
        warm = slot.take() if slot and deadline_s <= WARM_MAX_DEADLINE_S else None
        if warm is None:
            reap_containers(self.client)
        start = time.monotonic()
        cid, sock = warm or self._prepare(time.time() + deadline_s)
        if slot:
            slot.refill()
        self.last_container_id = cid  # lets tests check that this very container is gone
        timed_out = False
        try:
            raw = _raw_socket(sock)
            with contextlib.suppress(OSError):  # the harness may already have exited
                raw.sendall(payload)
                raw.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                sock.close()
            left = max(deadline_s - (time.monotonic() - start), 0.1)
            try:
                exit_code: int | None = api.wait(cid, timeout=left)["StatusCode"]
            except requests.exceptions.RequestException:  # ReadTimeout: the deadline passed
                timed_out = True
                with contextlib.suppress(Exception):
                    api.kill(cid)
                exit_code = None
            seconds = time.monotonic() - start
            state = api.inspect_container(cid)["State"]
            stdout, overflow = self._read_logs(cid, stdout=True)
            stderr, _ = self._read_logs(cid, stdout=False)
            return RawRun(
                exit_code=exit_code,
                stdout=stdout,
                stderr=stderr[-STDERR_TAIL_BYTES:],
                timed_out=timed_out,
                oom_killed=bool(state.get("OOMKilled")),
                overflow=overflow,
                seconds=seconds,
            )
        finally:
            self._remove(cid)

    def _remove(self, cid: str) -> None:
        # An engine busy with an OOM-thrashing container can time out a removal; retry, and
        # leave anything still there to the reaper (the deadline label says when).
        for attempt in range(REMOVE_ATTEMPTS):
            try:
                self.client.api.remove_container(cid, force=True)
                return
            except Exception as exc:
                if "No such container" in str(exc) or "is already in progress" in str(exc):
                    return
                time.sleep(0.5 * (attempt + 1))

    def _read_logs(self, cid: str, *, stdout: bool) -> tuple[bytes, bool]:
        data = bytearray()
        stream = self.client.api.logs(
            cid, stdout=stdout, stderr=not stdout, stream=True, follow=False
        )
        try:
            for chunk in stream:
                data += chunk
                if len(data) > MAX_OUTPUT_BYTES:
                    return bytes(data[:MAX_OUTPUT_BYTES]), True
        finally:
            with contextlib.suppress(Exception):
                stream.close()
        return bytes(data), False
