"""The attack suite: hostile modules against both backends, judged host-side.

Every case runs a payload straight through a backend (the static gate would stop most of
them, but the gate is not the boundary) and asserts what the host observes: the run's
status, the OOM flag, the time it took, that nothing was written outside, that no process
or container outlived the call, and that no secret came back. ``run_attack`` checks the
leftovers for every case. Network cases never address anything beyond 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from contract.cgroup import cgroup_available
from sandbox.backends import STRONG_ISOLATION
from sandbox.ladder import sandbox_ladder
from tests.conftest import REPO, need
from tests.sandbox.helpers import quickstart_space
from tests.security.attack import (
    ATTACK_LIMITS,
    SLACK_S,
    findings_in,
    new_marker,
    payload_source,
    run_attack,
    run_batch,
)

CALL_S = ATTACK_LIMITS["call_seconds"]
LOAD_S = ATTACK_LIMITS["load_seconds"]
DOCKER_WRITABLE_BYTES = (16 + 1) << 20  # /tmp tmpfs (TMPFS_OPTIONS) + 1 MiB /dev/shm
DOCKER_TMPFS_INODES = 2048
OPEN_FILES_LIMIT = 256


def _failed_in_time(attack: Any, limit_s: float, *, error: str | None = None) -> None:
    """The harness reported (status ok), the mechanism failed, within its limit."""
    assert attack.run.status == "ok", attack.run.error
    assert attack.output is not None and attack.output["ok"] is False
    if error:
        assert error in attack.error.lower(), attack.error
    assert attack.elapsed < limit_s + SLACK_S


# ---------------------------------------------------------------- resources and time


def test_fork_bomb(backend: Any) -> None:
    _failed_in_time(run_attack(backend, "fork_bomb"), CALL_S, error="timed out")


def test_thread_bomb(backend: Any) -> None:
    _failed_in_time(run_attack(backend, "thread_bomb"), CALL_S)


def test_memory_bomb(backend: Any) -> None:
    # The bomb touches every page it gets, which takes a while on a busy machine: the
    # memory limit has to stop it, not the call's time limit.
    attack = run_attack(backend, "memory_bomb", limits={"call_seconds": 20.0})
    _failed_in_time(attack, 20.0, error="memory")


def test_memory_bomb_across_processes_trips_the_oom_killer(backend: Any) -> None:
    attack = run_attack(backend, "memory_bomb_forked", limits={"call_seconds": 6.0})
    _failed_in_time(attack, 6.0)
    if backend.name == "process" and not cgroup_available():
        return  # without a cgroup only the per-process limits apply (a warning says so)
    assert attack.run.oom_killed, "the run's memory limit did not stop 1.6 GB across 4 processes"


def test_cpu_spin(backend: Any) -> None:
    _failed_in_time(run_attack(backend, "cpu_spin"), CALL_S, error="timed out")


def test_ignoring_sigterm(backend: Any) -> None:
    _failed_in_time(run_attack(backend, "ignore_sigterm"), CALL_S, error="timed out")


def test_sleeping_forever(backend: Any) -> None:
    _failed_in_time(run_attack(backend, "sleep_forever"), CALL_S, error="timed out")


@pytest.mark.parametrize("payload", ["import_hang_cpu", "import_hang_sleep"])
def test_hang_at_import(backend: Any, payload: str) -> None:
    _failed_in_time(run_attack(backend, payload), LOAD_S, error="load failed: timed out")


def test_freezing_the_supervisor_fails_closed_in_time(backend: Any) -> None:
    attack = run_attack(backend, "freeze_supervisor", deadline_s=6.0)
    # The supervisor runs as PID 1 of its namespace, which ignores SIGSTOP from inside; were
    # it frozen anyway, the host's deadline ends the run without a report.
    if attack.run.status == "timeout":
        assert attack.run.report is None and attack.elapsed >= 6.0
    else:
        _failed_in_time(attack, CALL_S, error="timed out")
    assert attack.elapsed < 6.0 + SLACK_S


# ---------------------------------------------------------------- disk and output


def _host_files_with(marker: str) -> list[Path]:
    found = []
    for folder in (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), REPO):
        found += list(folder.glob(f"{marker}*"))
    return found


def test_disk_fill_is_capped_and_stays_inside(backend: Any) -> None:
    attack = run_attack(backend, "disk_fill")
    cap = DOCKER_WRITABLE_BYTES if backend.name == "docker" else 0
    assert attack.findings["written"] <= cap
    assert attack.findings["error"]
    assert not _host_files_with(attack.marker)


def test_inode_fill_is_capped_and_stays_inside(backend: Any) -> None:
    attack = run_attack(backend, "inode_fill")
    cap = DOCKER_TMPFS_INODES if backend.name == "docker" else 0
    assert attack.findings["created"] <= cap
    assert not _host_files_with(attack.marker)


def test_output_flood_is_capped(backend: Any) -> None:
    attack = run_attack(backend, "output_flood", limits={"call_seconds": 20.0})
    assert attack.run.status == "ok"
    assert attack.output is not None and attack.output["ok"] is True
    assert len(attack.output["output"]) < 4096 + 200
    assert "more bytes dropped" in attack.output["output"]
    assert len(attack.everything_returned) < 64 << 10


def test_binary_and_non_utf8_output(backend: Any) -> None:
    attack = run_attack(backend, "binary_output")
    assert attack.run.status == "ok"
    assert attack.output is not None and attack.output["ok"] is True
    # The probe's own findings line is past the 4 KiB of output kept; its answer is intact.
    assert attack.output["value"]["hint"] == "findings printed"


def test_file_descriptor_exhaustion(backend: Any) -> None:
    attack = run_attack(backend, "fd_exhaustion")
    assert attack.run.status == "ok"
    assert attack.findings["opened"] < OPEN_FILES_LIMIT
    assert "Too many open files" in attack.findings["error"]


def test_double_forked_orphan_does_not_survive(backend: Any) -> None:
    attack = run_attack(backend, "double_fork_orphan")  # run_attack checks the leftovers
    assert attack.findings == {"forked": True}


# ---------------------------------------------------------------- network


def test_only_loopback_and_no_route(backend: Any) -> None:
    found = run_attack(backend, "net_interfaces").findings
    assert found["interfaces"] == ["lo"]
    assert found["routes"] == []


def test_no_route_off_the_machine(backend: Any) -> None:
    route = run_attack(backend, "net_no_route").findings["udp_route"]
    assert route[0] == "error" and "unreachable" in route[1].lower()


def test_name_resolution_fails(backend: Any) -> None:
    found = run_attack(backend, "dns_fails").findings
    assert found["route"][0] == "error"
    assert found["resolved"][0] == "error"


def test_canary_server_on_host_loopback_is_unreachable(backend: Any) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(conn.recv(100))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        port = str(server.getsockname()[1])
        attack = run_attack(backend, "canary_tcp", subst={"@PORT@": port})
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()
    assert accepted == [], "the sandbox reached a server on the host's 127.0.0.1"
    assert attack.findings["tcp"][0] == "error"


@pytest.mark.redis
def test_host_redis_is_unreachable(backend: Any, redis_url: str) -> None:
    import redis

    key = f"bilevel-sandbox-canary-{new_marker()}"
    client = redis.Redis.from_url(redis_url)
    try:
        attack = run_attack(backend, "redis_reach", subst={"@REDIS_KEY@": key})
        assert client.get(key) is None, "the sandbox wrote to the host's Redis"
        assert attack.findings["redis"][0] == "error"
    finally:
        client.delete(key)


def test_no_docker_socket(backend: Any) -> None:
    for path, (exists, connect) in run_attack(backend, "docker_socket").findings["sockets"].items():
        assert not exists, path
        assert connect[0] == "error", path


# ---------------------------------------------------------------- file system


def test_root_file_system_is_read_only(backend: Any) -> None:
    hostname = socket.gethostname()
    attack = run_attack(backend, "write_root_fs")
    writes = attack.findings["writes"]
    # The sandbox has its own UTS namespace: what matters is that the host's name is intact.
    writes.pop("hostname")
    assert socket.gethostname() == hostname
    for folder, result in writes.items():
        assert result[0] == "error", f"wrote to {folder} inside the sandbox"
    for folder in ("/", "/etc", "/usr", "/usr/bin", "/opt", "/var", "/root", "/home"):
        assert not (Path(folder) / attack.marker).exists(), (
            f"a file appeared in the host's {folder}"
        )


def test_code_mount_is_read_only(backend: Any) -> None:
    api = REPO / "sandbox" / "api.py"
    before = hashlib.sha256(api.read_bytes()).hexdigest()
    attack = run_attack(backend, "write_code_mount")
    for what, result in attack.findings["results"].items():
        assert result[0] == "error", what
    assert hashlib.sha256(api.read_bytes()).hexdigest() == before
    assert not list((REPO / "sandbox").glob(f"{attack.marker}*"))


def test_cannot_execute_from_writable_places(backend: Any) -> None:
    for folder, result in run_attack(backend, "exec_from_tmp").findings["exec"].items():
        assert result[0] == "error", f"executed a file written to {folder}"


# ---------------------------------------------------------------- secrets


def test_host_environment_secret_does_not_leak(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"canary-secret-{new_marker()}"
    monkeypatch.setenv("BILEVEL_CANARY_SECRET", canary)
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    attack = run_attack(backend, "env_secret")
    assert attack.run.status == "ok"
    assert canary not in attack.everything_returned
    assert "BILEVEL_CANARY_SECRET" not in attack.findings["environ"]
    assert "OPENAI_API_KEY" not in attack.findings["environ"]


def test_no_secret_in_any_process_environment(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"canary-secret-{new_marker()}"
    monkeypatch.setenv("BILEVEL_CANARY_SECRET", canary)
    attack = run_attack(backend, "proc_environ_scan")
    assert attack.run.status == "ok"
    assert canary not in attack.everything_returned


def test_host_files_are_not_readable(backend: Any, tmp_path: Path) -> None:
    canary = f"canary-file-{new_marker()}"
    secret = tmp_path / "secret.txt"
    secret.write_text(canary)
    attack = run_attack(backend, "secret_files", subst={"@SECRET_PATH@": str(secret)})
    assert attack.run.status == "ok"
    assert canary not in attack.everything_returned
    assert (
        "An LLM tunes a GPT pretraining recipe" not in attack.everything_returned
    )  # pyproject.toml
    assert attack.findings["found"][str(secret)][0] == "error"


# ---------------------------------------------------------------- privileges


def test_unprivileged_without_capabilities(backend: Any) -> None:
    status = run_attack(backend, "privileges").findings["status"]
    assert "0" not in status["Uid"] and "0" not in status["Gid"]
    for caps in ("CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"):
        assert int(status[caps][0], 16) == 0, f"{caps} = {status[caps]}"
    assert status["NoNewPrivs"] == ["1"]


def test_no_effective_setuid_binaries(backend: Any) -> None:
    attack = run_attack(backend, "setuid_binaries", limits={"call_seconds": 15.0})
    assert attack.findings["effective_setuid"] == []


def test_unshare_mount_and_chroot_fail(backend: Any) -> None:
    found = run_attack(backend, "unshare_mount").findings
    assert found["user"] == found["mount"] == found["net"] == found["user+mount"] == "failed"
    assert found["mount_tmpfs"].startswith("failed")
    assert found["chroot"] == "failed"


def test_supervisor_cannot_be_traced_or_opened(backend: Any) -> None:
    attack = run_attack(backend, "ptrace_supervisor")
    assert attack.run.status == "ok", "the module corrupted the report channel"
    found = attack.findings
    assert found["attach"].startswith("failed")
    assert found["mem"][0] == "error"
    assert found["fd1"][0] == "error"
    assert found["pid1_fd1"][0] == "error"


# ---------------------------------------------------------------- the report channel


def _ladder(backend: Any, payload: str, mode: str = "") -> Any:
    source = payload_source(payload, new_marker(), {"@MODE@": mode})
    return sandbox_ladder(
        source, quickstart_space(), backend=backend, limits=ATTACK_LIMITS, deadline_s=25.0
    )


def test_forged_report_at_import_and_exit_0_is_rejected(backend: Any) -> None:
    report = _ladder(backend, "forged_report_import")
    assert not report.accepted
    assert report.stage == "smoke"


def test_forged_protocol_answer_in_a_hook_is_rejected(backend: Any) -> None:
    report = _ladder(backend, "forged_report_hook")
    assert not report.accepted
    assert report.stage == "contract"


def test_killing_the_supervisor_fails_closed(backend: Any) -> None:
    report = _ladder(backend, "kill_supervisor")
    assert not report.accepted
    attack = run_attack(backend, "kill_supervisor")
    if attack.run.status == "ok":  # PID 1 ignored the SIGKILL: the worker's call failed
        _failed_in_time(attack, CALL_S)
    else:
        assert attack.run.status == "no_report" and attack.run.report is None
    assert attack.elapsed < CALL_S + SLACK_S


def test_oversized_output_is_rejected(backend: Any) -> None:
    attack = run_attack(backend, "huge_return", hook="propose")
    _failed_in_time(attack, CALL_S, error="larger than")


def test_forged_load_answer_without_a_mechanism_is_not_a_verdict(backend: Any) -> None:
    # Issue 10's forged verdict: "load ok, hooks: []" written into the worker's channel
    # through /proc/self/fd/N with numpy's text writer, by a module with no Mechanism.
    report = _ladder(backend, "forged_channel")
    assert not report.accepted, report.reason
    assert report.stage == "smoke"


@pytest.mark.parametrize("mode", ["plain", "token_then_exit", "right_token"])
def test_forged_worker_answers_are_not_a_verdict(backend: Any, mode: str) -> None:
    report = _ladder(backend, "forged_channel_hooked", mode)
    assert not report.accepted, report.reason
    # Caught by the channel (no token, extra bytes, a dead worker) or by the hooks the
    # source defines being tested regardless of the claim: never a passed guide check.
    assert not any(c.name.startswith("guide:") and c.ok for c in report.checks)
    if mode != "right_token":
        assert report.stage == "smoke", report.reason


def test_forged_worker_answer_in_a_live_call_fails_that_call(backend: Any) -> None:
    outputs, _ = run_batch(backend, [("forger", "forged_channel_hooked:plain")])
    assert outputs["forger"].ok is False


# ---------------------------------------------------------------- mechanisms vs each other


@pytest.mark.parametrize("hook", ["guide", "propose"])
def test_a_sibling_cannot_be_killed_rewritten_or_planted(backend: Any, hook: str) -> None:
    # Only a strong sandbox promises this (and the payload writes wherever it can: never
    # run it where that includes the host's own files).
    need(backend.isolation in STRONG_ISOLATION, "no bubblewrap here: a weak sandbox")
    outputs, marker = run_batch(
        backend, [("attacker", "sibling_attack"), ("victim", "sibling_victim")], hook=hook
    )
    victim = outputs["victim"]
    assert victim.ok, f"the sibling was charged a failure: {victim.error}"
    text = victim.value["hint"] if hook == "guide" else victim.value[0]["rationale"]
    assert text == f"intact {marker}"
    if hook == "guide":
        assert outputs["attacker"].ok
        found = findings_in(outputs["attacker"].output)
        assert not any("victim" in w for w in found["written"])


def test_no_writable_directory_on_the_import_path(backend: Any) -> None:
    found = run_attack(backend, "import_path").findings
    assert found["flags"]["no_user_site"] and found["flags"]["safe_path"]
    assert found["dumpable"] == 0
    assert found["cwd"] not in found["path"]
    if backend.isolation in STRONG_ISOLATION:  # weak modes see the host's files (a warning says so)
        assert found["writable"] == [], found
        assert found["cwd_writable"] is False


# ---------------------------------------------------------------- per-mechanism failures


@pytest.mark.parametrize("mode", ["huge_priority", "deep_nesting", "nan_error"])
def test_a_bad_value_fails_only_its_own_mechanism(backend: Any, mode: str) -> None:
    outputs, marker = run_batch(
        backend, [("bad", f"bad_values:{mode}"), ("victim", "sibling_victim")], hook="propose"
    )
    assert outputs["bad"].ok is False and outputs["bad"].error
    victim = outputs["victim"]
    assert victim.ok, f"the sibling was charged a failure: {victim.error}"
    assert victim.value[0]["rationale"] == f"intact {marker}"
