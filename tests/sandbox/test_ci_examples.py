"""The ready-made pipelines: the pre-commit hook runs through `pre-commit try-repo`, and the
example CI files parse, pin the sandbox image by digest, upload the JUnit report the check
writes, and call only `bilevel` commands and flags that exist."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

CI_EXAMPLES = REPO / "examples" / "ci"
HOOKS_FILE = REPO / ".pre-commit-hooks.yaml"
HOOK_ID = "bilevel-mechanism-static"
PASSING = REPO / "examples" / "mechanisms" / "trust_region.py"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}
# The programs the example pipelines may call besides `bilevel`.
KNOWN_PROGRAMS = {"bilevel", "docker", "pip", "git", "apt-get", "sudo", "echo", "true"}
PINNED_BY_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


# --------------------------------------------------------------------------- pre-commit
def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, **GIT_IDENTITY}
    )


@pytest.fixture
def hook_repos(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A hooks repository holding this checkout's .pre-commit-hooks.yaml, a user repository
    with mechanisms staged, and an environment with `bilevel` on PATH (language: system)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    shutil.copy(HOOKS_FILE, hooks / HOOKS_FILE.name)
    _git(hooks, "init", "-q")
    _git(hooks, "add", ".")
    _git(hooks, "commit", "-q", "-m", "hooks")
    user = tmp_path / "user"
    (user / "mechanisms").mkdir(parents=True)
    (user / "other").mkdir()
    _git(user, "init", "-q")
    shutil.copy(PASSING, user / "mechanisms" / "trust_region.py")
    # Outside mechanisms/: the hook's `files` pattern leaves it alone, bad as it is.
    (user / "other" / "script.py").write_text("import requests\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "bilevel"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m orchestrator.cli "$@"\n')
    shim.chmod(0o755)
    env = {
        **os.environ,
        **GIT_IDENTITY,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(REPO),
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),  # no network: language system
        "COLUMNS": "200",  # rich wraps the summary table at the width it is given
    }
    return hooks, user, env


def _try_repo(hooks: Path, user: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hooks), HOOK_ID],
        cwd=user,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_pre_commit_hook_lints_staged_mechanisms(
    hook_repos: tuple[Path, Path, dict[str, str]],
) -> None:
    pytest.importorskip("pre_commit", reason="pre-commit is not in this environment")
    hooks, user, env = hook_repos
    _git(user, "add", ".")
    passed = _try_repo(hooks, user, env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout and "other/script.py" not in passed.stdout
    (user / "mechanisms" / "bad.py").write_text(
        "from sandbox.api import Mechanism\nimport requests\n"
    )
    _git(user, "add", "mechanisms/bad.py")
    failed = _try_repo(hooks, user, env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Failed" in failed.stdout
    assert "mechanisms/bad.py" in failed.stdout and "import requests" in failed.stdout


def test_pre_commit_hook_is_the_static_stage_only() -> None:
    (hook,) = yaml.safe_load(HOOKS_FILE.read_text(encoding="utf-8"))
    assert hook["id"] == HOOK_ID and hook["language"] == "system"
    assert shlex.split(hook["entry"]) == ["bilevel", "mechanism", "check", "--static-only"]
    assert re.search(hook["files"], "src/mechanisms/trust_region.py")
    assert not re.search(hook["files"], "src/models/net.py")


# --------------------------------------------------------------------------- workflows
def _shell_commands(text: str) -> list[list[str]]:
    """Each command line of a shell snippet, split into words (`a && b` gives two)."""
    commands = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for part in re.split(r"&&|\|\||\|", line):
            words = shlex.split(part.strip())
            if words:
                commands.append(words)
    return commands


def _github_commands(workflow: dict[str, Any]) -> list[list[str]]:
    runs = [s["run"] for job in workflow["jobs"].values() for s in job["steps"] if "run" in s]
    return [c for run in runs for c in _shell_commands(run)]


def _gitlab_commands(pipeline: dict[str, Any]) -> list[list[str]]:
    job = pipeline["mechanisms"]
    lines = [*job.get("before_script", []), *job["script"]]
    return [c for line in lines for c in _shell_commands(line)]


def _bilevel_parses(words: list[str]) -> None:
    """The words name a real `bilevel` subcommand and parse with its real options."""
    import typer.main

    from orchestrator.cli import app

    command: Any = typer.main.get_command(app)
    args = words[1:]
    while hasattr(command, "commands") and args and args[0] in command.commands:
        command = command.commands[args.pop(0)]
    assert not hasattr(command, "commands"), f"{words}: not a bilevel command"
    command.make_context(" ".join(words[:1]), list(args))  # raises on an unknown flag or value


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_example_parses_pins_the_image_and_uploads_the_report(name: str) -> None:
    data = yaml.safe_load((CI_EXAMPLES / name).read_text(encoding="utf-8"))
    if name.startswith("github"):
        commands = _github_commands(data)
        image = data["env"]["BILEVEL_SANDBOX_IMAGE"]
        uploads = [
            s["with"]["path"]
            for s in data["jobs"]["check"]["steps"]
            if str(s.get("uses", "")).startswith("actions/upload-artifact")
        ]
    else:
        commands = _gitlab_commands(data)
        image = data["variables"]["BILEVEL_SANDBOX_IMAGE"]
        uploads = [data["mechanisms"]["artifacts"]["reports"]["junit"]]
    assert PINNED_BY_DIGEST.search(image), f"{name}: the sandbox image is not pinned by digest"
    programs = {c[0] for c in commands}
    assert programs <= KNOWN_PROGRAMS, programs - KNOWN_PROGRAMS
    assert ["docker", "pull", "$BILEVEL_SANDBOX_IMAGE"] in commands
    bilevel = [c for c in commands if c[0] == "bilevel"]
    for words in bilevel:
        _bilevel_parses(words)
    (check,) = [c for c in bilevel if c[1:3] == ["mechanism", "check"]]
    assert "--backend" in check and check[check.index("--backend") + 1] == "docker"
    assert check[check.index("--junit") + 1] in uploads
    assert ["bilevel", "mechanism", "image"] in bilevel


def test_an_unknown_flag_fails_the_command_check() -> None:
    """The check above can fail: a misspelt flag is caught."""
    # typer carries its own copy of click: match the message, not click's exception class.
    with pytest.raises(Exception, match="No such option: --junit-xml"):
        _bilevel_parses(["bilevel", "mechanism", "check", "mechanisms/", "--junit-xml", "x"])
