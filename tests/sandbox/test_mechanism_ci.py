"""Mechanism CI: `bilevel mechanism check` on folders, with the reports CI systems read.

A folder of passing and failing modules gives the right exit code, a JUnit file a real JUnit
parser reads (counts, failure stages and messages, the module's own output, no control
characters), GitHub annotations and JSON lines; ``--study`` checks in the study's own space.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

CI = Path(__file__).parent / "fixtures" / "ci"
CONTRACT = Path(__file__).parent / "fixtures" / "contract"
PASSING = REPO / "examples" / "mechanisms" / "trust_region.py"
# A security payload the static gate stops (it imports os to read the environment).
STATIC_FAIL = REPO / "tests" / "security" / "payloads" / "env_secret.py"
DIGITS_STUDY = REPO / "examples" / "objectives" / "digits.toml"
# Control characters (C0 but tab/newline, DEL, C1) and ESC: none may reach a report.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def run_check(
    cli: list[str], *args: str, cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli, "mechanism", "check", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )


def json_lines(stdout: str) -> dict[str, dict[str, Any]]:
    """The JSON-lines output, by file name; every line must be one JSON object."""
    objects = [json.loads(line) for line in stdout.splitlines()]
    return {Path(o["file"]).name: o for o in objects}


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One module that passes and three that fail, each at another stage."""
    folder = tmp_path_factory.mktemp("mechanisms")
    shutil.copy(PASSING, folder / "trust_region.py")
    shutil.copy(STATIC_FAIL, folder / "env_secret.py")
    shutil.copy(CONTRACT / "out_of_range.py", folder / "out_of_range.py")
    (folder / "sub").mkdir()
    shutil.copy(CI / "noisy_crash.py", folder / "sub" / "noisy_crash.py")
    (folder / "__init__.py").write_text("")  # a package marker holds no mechanism: skipped
    return folder


def test_folder_with_failures_exits_1_with_a_junit_report(
    bilevel_cli: list[str], mixed_folder: Path, tmp_path: Path
) -> None:
    from junitparser import Error, Failure, JUnitXml

    report = tmp_path / "reports" / "mechanisms.xml"
    proc = run_check(
        bilevel_cli,
        str(mixed_folder),
        "--backend",
        "process",
        "--jobs",
        "2",
        "--junit",
        str(report),
        "--format",
        "github",
    )
    assert proc.returncode == 1, proc.stderr
    raw = report.read_text(encoding="utf-8")
    assert not CONTROL.search(raw.replace("\t", "").replace("\n", ""))
    xml = JUnitXml.fromfile(str(report))
    suites = list(xml)
    assert len(suites) == 1
    suite = suites[0]
    assert (suite.tests, suite.failures, suite.errors) == (4, 3, 0)
    cases = {Path(case.name).name: case for case in suite}
    assert set(cases) == {"trust_region.py", "env_secret.py", "out_of_range.py", "noisy_crash.py"}
    assert cases["trust_region.py"].is_passed
    stages = {}
    for name in ("env_secret.py", "out_of_range.py", "noisy_crash.py"):
        (failure,) = cases[name].result
        assert isinstance(failure, Failure) and not isinstance(failure, Error)
        stages[name] = failure.type
        assert failure.message and "\n" not in failure.message
        assert failure.text.startswith(f"stage: {failure.type}\nreason: ")
    assert stages == {
        "env_secret.py": "static",
        "out_of_range.py": "contract",
        "noisy_crash.py": "smoke",
    }
    static_message = cases["env_secret.py"].result[0].message
    static_line = re.match(r"static gate: line (\d+): ", static_message)
    assert static_line, static_message
    assert "is outside" in cases["out_of_range.py"].result[0].message
    noisy = cases["noisy_crash.py"].result[0]
    assert "ValueError: bad red value" in noisy.message
    # The module's own prints, cleaned, in the failure and in system-out.
    assert "module output:\nhello from the module" in noisy.text
    assert "hello from the module" in (cases["noisy_crash.py"].system_out or "")
    # GitHub annotations: the static rejection points at its line; data is escaped.
    annotations = [line for line in proc.stdout.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 3
    (static,) = [a for a in annotations if "env_secret.py" in a]
    assert static.startswith(
        f"::error file={mixed_folder / 'env_secret.py'},line={static_line.group(1)},"
        "title=mechanism rejected at static::static gate: line "
    )
    assert "4 modules: 1 accepted, 3 rejected" in proc.stdout


def test_folder_json_lines_one_object_per_module(
    bilevel_cli: list[str], mixed_folder: Path
) -> None:
    proc = run_check(bilevel_cli, str(mixed_folder), "--backend", "process", "--json", "-j", "2")
    assert proc.returncode == 1, proc.stderr
    objects = json_lines(proc.stdout)
    assert set(objects) == {"trust_region.py", "env_secret.py", "out_of_range.py", "noisy_crash.py"}
    accepted = objects["trust_region.py"]
    assert accepted["accepted"] is True and accepted["seconds"] > 0
    # The reason counts the very checks the object lists, the static gate's included.
    assert accepted["reason"] == f"passed {len(accepted['checks'])} checks"
    noisy = objects["noisy_crash.py"]
    assert noisy["stage"] == "smoke" and noisy["module_output"].startswith("hello from the module")
    assert not CONTROL.search(noisy["module_output"].replace("\n", "")) and not CONTROL.search(
        noisy["reason"]
    )


def test_static_only_needs_no_sandbox_and_exits_0_when_all_pass(
    bilevel_cli: list[str], tmp_path: Path
) -> None:
    for source in (PASSING, CI / "for_cpu_tiny.py"):
        shutil.copy(source, tmp_path / source.name)
    # An unknown backend would fail any sandboxed check: static-only never starts one.
    proc = run_check(bilevel_cli, str(tmp_path), "--static-only", "--json")
    assert proc.returncode == 0, proc.stderr
    objects = json_lines(proc.stdout)
    assert all(o["stage"] == "static" and o["static_only"] is True for o in objects.values())
    assert all(o["backend"] == "none" for o in objects.values())


@pytest.mark.parametrize(
    ("study", "accepted", "rejected", "why"),
    [
        (DIGITS_STUDY, "for_function_space.py", "for_cpu_tiny.py", "unknown parameter 'MATRIX_LR'"),
        (None, "for_cpu_tiny.py", "for_function_space.py", "unknown parameter 'C'"),
    ],
    ids=["function-study", "default-cpu-tiny"],
)
def test_study_checks_in_the_studys_own_space(
    bilevel_cli: list[str],
    tmp_path: Path,
    study: Path | None,
    accepted: str,
    rejected: str,
    why: str,
) -> None:
    folder = tmp_path / "mechanisms"
    folder.mkdir()
    for name in (accepted, rejected):
        shutil.copy(CI / name, folder / name)
    extra = ["--study", str(study)] if study else []
    # cwd: a folder without runs/, so no journal of an earlier run is replayed.
    proc = run_check(
        bilevel_cli, str(folder), "--backend", "process", "--json", *extra, cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stderr
    objects = json_lines(proc.stdout)
    assert objects[accepted]["accepted"] is True
    assert objects[rejected]["stage"] == "contract" and why in objects[rejected]["reason"]
    if study:  # the study's own context was replayed (its metric, direction, objective)
        assert any(c["name"].endswith(":replay-0") for c in objects[accepted]["checks"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--jobs", "0", str(PASSING)], "--jobs 0: give at least 1"),
        (
            ["--study", str(DIGITS_STUDY), "--preset", "cpu-tiny", str(PASSING)],
            "give --study or --preset",
        ),
        (["--format", "xml", str(PASSING)], "unknown --format 'xml'"),
        ([str(CI), "/no/such/folder"], "/no/such/folder: no such file or folder"),
        (
            ["--study", "/no/such/study.toml", str(PASSING)],
            "/no/such/study.toml: no such study file",
        ),
    ],
)
def test_usage_errors_exit_2(bilevel_cli: list[str], args: list[str], message: str) -> None:
    proc = run_check(bilevel_cli, *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {message}"), proc.stderr
    as_json = run_check(bilevel_cli, *args, "--json")
    assert as_json.returncode == 2
    (line,) = as_json.stdout.splitlines()  # one JSON line, readable as JSON lines too
    assert json.loads(line)["error"] == "usage" and message in json.loads(line)["reason"]


def test_empty_folder_is_a_usage_error(bilevel_cli: list[str], tmp_path: Path) -> None:
    proc = run_check(bilevel_cli, str(tmp_path))
    assert proc.returncode == 2 and "no .py files in this folder" in proc.stderr


@pytest.mark.docker
def test_folder_on_docker_pinned_by_image_id(
    bilevel_cli: list[str], mixed_folder: Path, tmp_path: Path
) -> None:
    """The CI path: the sandbox image pinned by its id, as `bilevel mechanism image` prints it."""
    from junitparser import JUnitXml

    from tests.sandbox.helpers import ensure_sandbox_image

    ensure_sandbox_image()
    image = subprocess.run(
        [*bilevel_cli, "mechanism", "image", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert image.returncode == 0, image.stderr
    image_id = json.loads(image.stdout)["id"]
    inspected = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", json.loads(image.stdout)["image"]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert image_id == inspected.stdout.strip() and image_id.startswith("sha256:")
    folder = tmp_path / "mechanisms"
    folder.mkdir()
    for name in ("trust_region.py", "env_secret.py", "sub/noisy_crash.py"):
        shutil.copy(mixed_folder / name, folder / Path(name).name)
    report = tmp_path / "mechanisms.xml"
    proc = run_check(
        bilevel_cli,
        str(folder),
        "--backend",
        "docker",
        "--jobs",
        "2",
        "--junit",
        str(report),
        env={"BILEVEL_SANDBOX_IMAGE": image_id},
    )
    assert proc.returncode == 1, proc.stderr
    assert "docker" in proc.stdout
    suite = next(iter(JUnitXml.fromfile(str(report))))
    assert (suite.tests, suite.failures, suite.errors) == (3, 2, 0)
    noisy = next(c for c in suite if c.name.endswith("noisy_crash.py"))
    assert "hello from the module" in noisy.result[0].text


def test_github_annotation_escapes_workflow_command_characters() -> None:
    """A hostile file name or reason cannot end the annotation early or inject another."""
    from orchestrator.level2.mechanism_ci.checks import FileResult
    from orchestrator.level2.mechanism_ci.formats import github_annotations
    from sandbox.answers import LadderReport

    report = LadderReport(
        accepted=False,
        stage="contract",
        reason="propose on the long history context: line 12: 100% wrong\r\n::error::forged",
        sha="0" * 16,
    )
    result = FileResult(file="mech,a:b%.py", status="rejected", report=report)
    (line,) = github_annotations([result])
    assert line == (
        "::error file=mech%2Ca%3Ab%25.py,line=12,title=mechanism rejected at contract::"
        "propose on the long history context: line 12: 100%25 wrong ::error::forged"
    )
    assert "\n" not in line and "\r" not in line


BENCHMARK_STUDY = (
    'name = "bench"\niterations = 6\n[objective]\nkind = "benchmark"\nbenchmark = "rosenbrock"\n'
    "dim = 3\n[levels]\nresearch = false\n"
)


@pytest.mark.parametrize(
    "study",
    [
        REPO / "studies" / "quickstart.toml",
        DIGITS_STUDY,
        REPO / "examples" / "objectives" / "train.toml",
        "benchmark",
    ],
    ids=["gpt", "function", "command", "benchmark"],
)
def test_every_objective_kind_gives_its_space_and_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, study: Path | str
) -> None:
    from orchestrator.config import StudyConfig
    from orchestrator.level2.mechanism_ci.targets import study_target

    if study == "benchmark":
        study = tmp_path / "bench.toml"
        study.write_text(BENCHMARK_STUDY)
    assert isinstance(study, Path)
    monkeypatch.chdir(tmp_path)  # no runs/ here: the study has not run
    config = StudyConfig.load(study)
    target = study_target(study)
    assert target.space.names() == config.search_space().names()
    (context,) = target.replays
    metric = config.metric()
    assert (context["metric"], context["direction"]) == (metric.name, metric.direction)
    assert context["history"] == [] and config.objective.kind in target.label


def test_a_journaled_study_replays_its_recent_contexts(
    bilevel_cli: list[str], tmp_path: Path
) -> None:
    study = tmp_path / "bench.toml"
    study.write_text(BENCHMARK_STUDY)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ran = subprocess.run(
        [*bilevel_cli, "study", str(study), "--out", str(tmp_path / "run"), "--plain"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    module = CI / "for_any_space.py"
    args = [str(module), "--study", str(study), "--backend", "process", "--json"]
    proc = run_check(bilevel_cli, *args, "--run", str(tmp_path / "run"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = [c["name"] for c in json.loads(proc.stdout)["checks"]]
    # The live context of the next trial and two earlier ones (orchestrator/level2/research/replays).
    assert sorted(c for c in checks if ":replay-" in c) == [f"propose:replay-{i}" for i in range(3)]
    # A --run that holds no journal is a usage error, never a silent check without it.
    missing = run_check(bilevel_cli, *args, "--run", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and str(tmp_path / "nope") in missing.stdout
