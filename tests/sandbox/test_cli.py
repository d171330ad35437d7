"""`bilevel mechanism check`: exit codes, one JSON object, actionable reasons."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.sandbox.helpers import ensure_sandbox_image

EXAMPLE = REPO / "examples" / "mechanisms" / "trust_region.py"
CONTRACT = Path(__file__).parent / "fixtures" / "contract"


def _check(
    cli: list[str], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli, "mechanism", "check", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def _json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data = json.loads(proc.stdout)  # exactly one JSON object: json.loads rejects trailing data
    assert isinstance(data, dict)
    return data


def test_accepted_example_exits_0(bilevel_cli: list[str]) -> None:
    proc = _check(bilevel_cli, str(EXAMPLE), "--backend", "process", "--json")
    assert proc.returncode == 0, proc.stderr
    data = _json(proc)
    assert data["accepted"] is True and data["stage"] == "contract"
    assert data["name"] == "trust_region" and data["backend"] == "process"
    assert {"static", "sandbox", "total"} <= set(data["timings"])
    assert all(c["ok"] for c in data["checks"]) and len(data["checks"]) >= 13


@pytest.mark.docker
def test_accepted_example_exits_0_with_docker(bilevel_cli: list[str]) -> None:
    ensure_sandbox_image()
    proc = _check(bilevel_cli, str(EXAMPLE), "--backend", "docker")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("accepted: trust_region") and "[docker]" in proc.stdout


def test_static_rejection_exits_1_with_line_and_rule(
    bilevel_cli: list[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from sandbox.api import Mechanism\nimport requests\n")
    data = _json(proc := _check(bilevel_cli, str(bad), "--json"))
    assert proc.returncode == 1
    assert (data["accepted"], data["stage"]) == (False, "static")
    assert data["reason"].startswith(
        "static gate: line 2: `import requests` — package not in the sandbox"
    )
    human = _check(bilevel_cli, str(bad))
    assert human.returncode == 1 and human.stdout.startswith("rejected at static: ")


def test_contract_rejection_exits_1(bilevel_cli: list[str]) -> None:
    proc = _check(bilevel_cli, str(CONTRACT / "out_of_range.py"), "--backend", "process", "--json")
    data = _json(proc)
    assert proc.returncode == 1
    assert (data["accepted"], data["stage"]) == (False, "contract")
    assert "is outside" in data["reason"] and "\n" not in data["reason"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/mechanism.py"], "cannot read /no/such/mechanism.py"),
        ([str(EXAMPLE), "--backend", "vm"], "unknown --backend 'vm'"),
        ([str(EXAMPLE), "--preset", "nope"], "unknown --preset 'nope'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    bilevel_cli: list[str], args: list[str], message: str
) -> None:
    proc = _check(bilevel_cli, *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {message}")
    assert "Traceback" not in proc.stderr


@pytest.mark.docker
def test_missing_sandbox_image_is_an_infrastructure_error(
    bilevel_cli: list[str], docker_engine: None
) -> None:
    env = {"BILEVEL_SANDBOX_IMAGE": "bilevel/sandbox:no-such-tag"}
    proc = _check(bilevel_cli, str(EXAMPLE), "--backend", "docker", "--json", env=env)
    assert proc.returncode == 2
    data = _json(proc)
    assert data["accepted"] is False and data["stage"] is None
    assert "bilevel/sandbox:no-such-tag is missing; build it with `make images`" in data["reason"]
