"""The jails' command lines: the Docker flags a code trial relies on, and its own GPU only."""

from __future__ import annotations

from pathlib import Path

from trainer.jail import Mounts, docker_command, process_command


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
