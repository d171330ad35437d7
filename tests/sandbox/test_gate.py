"""The static gate: one fixture per forbidden construct, clean files that must pass."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sandbox.gate import allowed_modules, check_source, lock_packages

FIXTURES = Path(__file__).parent / "fixtures"
FORBIDDEN = sorted((FIXTURES / "gate" / "forbidden").glob("*.py"))
CLEAN = sorted((FIXTURES / "gate" / "clean").glob("*.py"))
EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "mechanisms").glob("*.py"))


def _header(text: str, key: str) -> str:
    match = re.search(rf"^# {key}: (.+)$", text, re.M)
    assert match, f"fixture lacks '# {key}:'"
    return match.group(1).strip()


@pytest.mark.parametrize("path", FORBIDDEN, ids=lambda p: p.stem)
def test_forbidden_construct_is_rejected_naming_line_and_rule(path: Path) -> None:
    source = path.read_text()
    result = check_source(source, path.name)
    assert not result.ok
    first = result.issues[0]
    assert first.line == int(_header(source, "expect-line"))
    assert _header(source, "expect") in result.reason
    assert result.reason.startswith(f"line {first.line}: ")


@pytest.mark.parametrize("path", CLEAN + EXAMPLES, ids=lambda p: p.stem)
def test_ordinary_python_passes(path: Path) -> None:
    result = check_source(path.read_text(), path.name)
    assert result.ok, result.reason


def test_allowlist_follows_the_lock(tmp_path: Path) -> None:
    modules = allowed_modules()
    assert {"numpy", "scipy", "sklearn", "math", "functools"} <= set(modules)
    assert "scikit-learn" in lock_packages()
    lock = tmp_path / "sandbox.lock"
    lock.write_text("numpy==2.4.6 \\\n    --hash=sha256:00\nPyYAML==6.0 \\\n    --hash=sha256:11\n")
    assert {"numpy", "yaml"} <= set(allowed_modules(lock))
    assert "sklearn" not in allowed_modules(lock)
    source = "import yaml\nimport sklearn\n"
    result = check_source(source, lock=lock)
    assert [i.line for i in result.issues] == [2]


def test_rejection_lists_the_allowed_packages() -> None:
    reason = check_source("import requests\n").reason
    assert "`import requests` — package not in the sandbox; allowed:" in reason
    assert "numpy" in reason and "sklearn" in reason and "sandbox.api" in reason
