"""The jails' command lines: the Docker flags a code trial relies on, and its own GPU only."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from trainer import jail
from trainer.jail import JailUnavailable, Mounts, docker_command, process_command


def test_the_docker_jail_is_locked_down_and_gets_only_its_own_gpu(tmp_path: Path) -> None:
    argv, name = docker_command(Mounts(tmp_path / "r", tmp_path / "s"), 1, gpu="3")
    joined = " ".join(argv)
    for flag in (
        "--network none",
        "--read-only",
        "--user 65534:65534",
        "--cap-drop ALL",
        "--security-opt no-new-privileges",
        "--pids-limit",
        "--memory",
        "--gpus device=3",
        f"--name {name}",
    ):
        assert flag in joined
    assert "all" not in argv[argv.index("--gpus") + 1]
    assert not any(arg.startswith(("REDIS", "BILEVEL_REDIS")) for arg in argv)
    cpu_argv, _ = docker_command(Mounts(tmp_path / "r", tmp_path / "s"), 1)
    assert "--gpus" not in cpu_argv


def test_the_process_jail_binds_the_recipe_read_only_and_only_the_scratch_writable(
    tmp_path: Path,
) -> None:
    argv = process_command(Mounts(tmp_path / "r", tmp_path / "s", tmp_path / "w"), 1)
    pairs = list(zip(argv, argv[1:], argv[2:], strict=False))
    assert ("--ro-bind", str(tmp_path / "r"), "/jail/recipe") in pairs
    assert ("--ro-bind", str(tmp_path / "w"), "/jail/weights") in pairs
    writable = [(a, b, c) for a, b, c in pairs if a == "--bind"]
    assert writable == [("--bind", str(tmp_path / "s"), "/jail/scratch")]
    assert "--unshare-all" in argv and "--clearenv" in argv and "--cap-drop" in argv


@pytest.mark.docker
def test_a_containerised_worker_binds_each_jail_directory_by_the_volumes_daemon_path(
    docker_engine: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compose stack's code-trainer: its work directories are on a Docker volume it has
    mounted; the daemon binds each one (never the whole volume) from the volume's own path."""
    volume = f"bilevel-jail-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "volume", "create", volume], check=True, capture_output=True)
    try:
        mountpoint = subprocess.run(
            ["docker", "volume", "inspect", "-f", "{{.Mountpoint}}", volume],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        monkeypatch.setenv(jail.BACKEND_ENV, "docker")
        monkeypatch.setenv(jail.VOLUME_ENV, f"{volume}:{tmp_path}")
        work = jail.work_dir()
        assert work == tmp_path / jail.VOLUME_WORK_FOLDER and work.is_dir()
        (work / "r").mkdir()
        (work / "s").mkdir()
        argv, _ = docker_command(Mounts(work / "r", work / "s", work / "w"), 1)
        mounts = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-v"]
        base = f"{mountpoint}/{jail.VOLUME_WORK_FOLDER}"
        assert mounts == [
            f"{base}/recipe_child.py:/jail/recipe_child.py:ro",
            f"{base}/r:/jail/recipe:ro",
            f"{base}/w:/jail/weights:ro",
            f"{base}/s:/jail/scratch:rw",
        ]
        assert (work / "recipe_child.py").read_bytes() == jail.CHILD_FILE.read_bytes()
        # A directory off the volume cannot be bound by the daemon: refused, not mis-bound.
        with pytest.raises(JailUnavailable, match="not under the jail volume"):
            docker_command(Mounts(tmp_path.parent / "elsewhere", work / "s"), 1)
    finally:
        jail._volume_mountpoint.cache_clear()
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True)
