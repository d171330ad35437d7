"""The static gate: one fixture per forbidden construct, clean files that must pass, and a
gate that answers every input with a verdict, never a traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.gate import allowed_modules, check_source, lock_packages, lock_path
from sandbox.gate_modules import KEYED, MODULES, NAMES
from sandbox.gate_names import THIRD_PARTY_ALLOWED, table_versions
from tests.conftest import REPO

FIXTURES = Path(__file__).parent / "fixtures"
FORBIDDEN = sorted((FIXTURES / "gate" / "forbidden").glob("*.py"))
CLEAN = sorted((FIXTURES / "gate" / "clean").glob("*.py"))
EXAMPLES = sorted((REPO / "examples" / "mechanisms").glob("*.py"))
LIBRARY = sorted(
    p
    for p in (REPO / "orchestrator" / "level2" / "research" / "library").glob("*.py")
    if p.stem != "__init__"
)


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


def test_allowlist_is_explicit_and_needs_the_lock(tmp_path: Path) -> None:
    """numpy, scipy, scikit-learn and the stdlib list; never the lock's other packages."""
    modules = allowed_modules()
    assert {"numpy", "scipy", "sklearn", "math", "functools"} <= set(modules)
    assert "scikit-learn" in lock_packages()
    assert {"cloudpickle", "joblib", "threadpoolctl", "narwhals"} <= {
        p.lower() for p in lock_packages()
    }
    assert not {"cloudpickle", "joblib", "threadpoolctl", "narwhals"} & set(modules)
    lock = tmp_path / "sandbox.lock"
    lock.write_text("numpy==2.4.6 \\\n    --hash=sha256:00\nPyYAML==6.0 \\\n    --hash=sha256:11\n")
    assert "numpy" in allowed_modules(lock)
    assert not {"yaml", "sklearn"} & set(allowed_modules(lock))
    result = check_source("import numpy\nimport yaml\nimport sklearn\n", lock=lock)
    assert [i.line for i in result.issues] == [2, 3]


def test_rejection_lists_the_allowed_packages() -> None:
    reason = check_source("import requests\n").reason
    assert "`import requests` — package not in the sandbox; allowed:" in reason
    assert "numpy" in reason and "sklearn" in reason and "sandbox.api" in reason


@pytest.mark.parametrize(
    ("source", "expect"),
    [
        ("x = " + "1 + " * 30_000 + "1\n", "nests too deeply"),  # RecursionError inside
        ("x = y" + ".a" * 20_000 + "\n", "nests too deeply"),
        ("x = " + "-" * 100_000 + "1\n", "could not check the module (MemoryError)"),
        ("x = 1\0\n", "null bytes"),
        ("x = 1\n" * 40_000, "a mechanism fits in"),
    ],
    ids=["deep-sum", "deep-attribute", "deep-unary", "nul", "huge"],
)
def test_internal_errors_are_one_line_rejections(source: str, expect: str) -> None:
    result = check_source(source)
    assert not result.ok
    assert expect in result.reason
    assert "\n" not in result.reason and "Traceback" not in result.reason


def test_cli_json_prints_one_object_for_a_module_that_breaks_the_gate(
    bilevel_cli: list[str], tmp_path: Path
) -> None:
    deep = tmp_path / "deep.py"
    deep.write_text("from sandbox.api import Mechanism\nx = " + "1 + " * 30_000 + "1\n")
    proc = subprocess.run(
        [*bilevel_cli, "mechanism", "check", str(deep), "--json", "--allow-weak-sandbox"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["accepted"], data["stage"]) == (False, "static")
    assert "nests too deeply" in data["reason"] and "\n" not in data["reason"]


def test_every_shipped_mechanism_passes() -> None:
    """The built-in library and the examples are written against the same gate."""
    for path in [*LIBRARY, *EXAMPLES]:
        result = check_source(path.read_text(), path.name)
        assert result.ok, f"{path.name}: {result.reason}"


def test_module_table_matches_the_pinned_packages() -> None:
    """gate_modules.py was generated from exactly the packages images/sandbox.lock pins;
    regenerate with `python -m sandbox.gate_names --write` after changing the lock."""
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock_path().read_text(), re.M))
    expected = {mod: pinned[dist] for mod, dist in THIRD_PARTY_ALLOWED.items()}
    assert table_versions() == expected
    # A fresh interpreter: the inspection imports every public module of three packages.
    code = (
        "import json; from sandbox.gate_names import build_table; print(json.dumps(build_table()))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    live = json.loads(proc.stdout)
    assert live["versions"] == expected, "the dev venv must have the lock's versions installed"
    assert live["modules"] == MODULES, "stale: run `python -m sandbox.gate_names --write`"
    assert live["names"] == NAMES, "stale: run `python -m sandbox.gate_names --write`"
    assert live["keyed"] == KEYED, "stale: run `python -m sandbox.gate_names --write`"


def test_reasons_quote_module_text_escaped_on_one_line() -> None:
    source = 'x = """{0.a\u202e\x1b\nb}""".format(1)\n'
    reason = check_source(source).reason
    assert "walks attributes" in reason
    assert "\n" not in reason and "\x1b" not in reason and "\u202e" not in reason
