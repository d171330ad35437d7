"""No weak sandbox for LLM-written code unless the user opts in (DESIGN §2, issue 10 item 6).

The weak sandbox is made real, not simulated: the CLI runs with no Docker engine reachable
(DOCKER_HOST points at a socket that does not exist) and a PATH without bubblewrap, so the
process backend falls back to `unshare` (the host's files open) or `bare` (files, network
and environment open). `mechanism check --json` prints exactly one JSON object whatever
happens.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import UserError
from orchestrator.level2.mechanisms.isolation import check_isolation
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "mechanisms" / "trust_region.py"
LIBRARY = REPO / "orchestrator" / "level2" / "research" / "library" / "tabu_screen.py"

STUDY = """
name = "weak"
iterations = 1

[objective]
preset = "cpu-tiny"
budget_mode = "tokens"
budget = 2048

[levels]
research = true
{allow}

[llm]
provider = "{provider}"
base_url = "http://127.0.0.1:9/v1"
model = "fake-model"
api_key_env = "BILEVEL_TEST_LLM_KEY"
"""


def weak_env(tmp_path: Path, mode: str) -> dict[str, str]:
    """An environment where only a weak sandbox exists: no engine, no bubblewrap."""
    bin_dir = tmp_path / f"bin-{mode}"
    bin_dir.mkdir(exist_ok=True)
    if mode == "unshare":
        unshare = shutil.which("unshare")
        if unshare is None:
            pytest.skip("unshare is not installed here")
        for tool in ("unshare", "true"):  # the backend probes `unshare ... true`
            (bin_dir / tool).symlink_to(shutil.which(tool) or unshare)
    return {
        **os.environ,
        "PATH": str(bin_dir),
        "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
        "BILEVEL_TEST_LLM_KEY": "test-key",
    }


def run(cli: list[str], args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli, *args], capture_output=True, text=True, timeout=300, cwd=REPO, env=env
    )


def one_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data = json.loads(proc.stdout)  # exactly one object: json.loads rejects trailing data
    assert isinstance(data, dict)
    assert "\n" not in data["reason"] and "\x1b" not in data["reason"]
    return data


@pytest.mark.parametrize("mode", ["unshare", "bare"])
def test_mechanism_check_refuses_a_weak_sandbox(
    bilevel_cli: list[str], tmp_path: Path, mode: str
) -> None:
    env = weak_env(tmp_path, mode)
    args = ["mechanism", "check", str(EXAMPLE), "--backend", "auto"]
    proc = run(bilevel_cli, [*args, "--json"], env)
    assert proc.returncode == 2, proc.stderr
    data = one_json(proc)
    assert data["accepted"] is False
    for fix in ("make images", "bubblewrap", "--allow-weak-sandbox", mode):
        assert fix in data["reason"]

    text = run(bilevel_cli, args, env)
    assert text.returncode == 2 and text.stdout == ""
    (line,) = [x for x in text.stderr.splitlines() if x.startswith("error:")]  # one line
    assert line.startswith("error:") and "--allow-weak-sandbox" in line


def test_opt_in_and_the_builtin_library_run_with_a_warning(
    bilevel_cli: list[str], tmp_path: Path
) -> None:
    env = weak_env(tmp_path, "bare")
    opted = run(
        bilevel_cli,
        ["mechanism", "check", str(EXAMPLE), "--allow-weak-sandbox", "--backend", "process"],
        env,
    )
    assert opted.returncode == 0, opted.stderr
    assert opted.stdout.startswith("accepted: trust_region")
    assert "weak sandbox (bare" in opted.stderr

    library = run(bilevel_cli, ["mechanism", "check", str(LIBRARY), "--json"], env)
    assert library.returncode == 0, library.stderr
    assert one_json(library)["accepted"] is True
    assert "built-in mechanism library" in library.stderr


def test_mechanism_check_json_is_one_object_whatever_happens(
    bilevel_cli: list[str], tmp_path: Path
) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    binary = tmp_path / "binary.py"
    binary.write_bytes(b"\xff\xfe\x00bad")
    hostile = tmp_path / "hostile\x1b[2J.py"
    cases = [
        (["--backend", "docker", str(EXAMPLE)], "Docker"),  # sandbox missing
        ([str(tmp_path / "missing.py")], "cannot read"),
        ([str(binary)], "cannot read"),
        ([str(hostile)], "cannot read"),  # a hostile file name is cleaned too
        (["--backend", "nope", str(EXAMPLE)], "unknown --backend"),
        (["--preset", "nope", str(EXAMPLE)], "--preset"),
        ([], "Missing argument"),  # the command line itself is wrong: still one object
        (["--bogus", str(EXAMPLE)], "No such option"),
    ]
    for args, expected in cases:
        proc = run(bilevel_cli, ["mechanism", "check", "--json", *args], env)
        assert proc.returncode == 2, (args, proc.stderr)
        data = one_json(proc)
        assert data["accepted"] is False and expected in data["reason"], (args, data)


def test_study_with_an_llm_refuses_a_weak_sandbox(bilevel_cli: list[str], tmp_path: Path) -> None:
    env = weak_env(tmp_path, "bare")
    study = tmp_path / "study.toml"
    study.write_text(STUDY.format(provider="openai", allow=""))
    proc = run(bilevel_cli, ["study", str(study), "--out", str(tmp_path / "run"), "--plain"], env)
    assert proc.returncode == 2, proc.stderr
    (line,) = [x for x in proc.stderr.strip().splitlines() if x.startswith("error:")]
    for fix in ("make images", "bubblewrap", "--allow-weak-sandbox", "allow_weak_sandbox"):
        assert fix in line
    assert not (tmp_path / "run" / "events.jsonl").exists()  # nothing ran

    # Opted in (flag or study file): the sandbox is accepted with a warning, and the study
    # gets as far as the next check (this LLM address answers nothing).
    for args, allow in (
        (["--allow-weak-sandbox"], ""),
        ([], "allow_weak_sandbox = true"),
    ):
        study.write_text(STUDY.format(provider="openai", allow=allow))
        out = str(tmp_path / f"run-{len(allow)}")
        opted = run(bilevel_cli, ["study", str(study), "--out", out, "--plain", *args], env)
        assert "weak sandbox (bare" in opted.stderr and "opted in" in opted.stderr
        assert "would run LLM-written code" not in opted.stderr


def test_isolation_policy() -> None:
    for strong in ("docker", "bwrap"):
        assert check_isolation(strong, untrusted=True, allow_weak=False, what="x") is None
    with pytest.raises(UserError, match="weak sandbox"):
        check_isolation("unshare", untrusted=True, allow_weak=False, what="x")
    assert "opted in" in str(check_isolation("bare", untrusted=True, allow_weak=True, what="x"))
    warning = check_isolation("bare", untrusted=False, allow_weak=False, what="x")
    assert warning is not None and "built-in mechanism library" in warning
