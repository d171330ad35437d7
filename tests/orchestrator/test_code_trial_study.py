"""A study with code trials on, end to end on CPU: the built-in agent proposes a known
recipe edit, the study journals it by sha256 and stores the diff, the edited recipe trains
in the jail, the report shows the diff, a resumed study keeps the kept recipe, and
``bilevel trial STUDY.toml --patch`` reproduces the study's number."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agent.recipe_edits import RECIPE_EDITS
from orchestrator.patches import PATCH_KEY, SHORT_SHA
from tests.orchestrator.helpers import CLI, events, run_cli, study_args, write_study
from trainer.patch import patch_sha256

pytestmark = pytest.mark.slow

FIRST_EDIT = RECIPE_EDITS[0]  # the built-in agent's first code trial
# Strict acceptance and no Level 1.5: the subject is the code trial, not the noise model;
# two trials (the baseline, the code trial), then one more on --resume.
STUDY = """\
name = "code-e2e"
iterations = 2
seed = 3
parallel = 1
executor = "inline"

[objective]
preset = "cpu-tiny"
dataset = "pinned"

[levels]
policy = false

[llm]
provider = "builtin"

[acceptance]
rule = "strict"

[search]
code_trials = true
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The study file and its run folder after two trials and a resume to three."""
    folder = tmp_path_factory.mktemp("code-study")
    path = write_study(folder / "code.toml", STUDY)
    out = folder / "run"
    done = run_cli(study_args(out, study=str(path)))
    assert done.returncode == 0, done.stderr
    (folder / "study.out").write_text(done.stdout)
    more = run_cli(study_args(out, "--iterations", "3", "--resume", study=str(path)))
    assert more.returncode == 0, more.stderr
    return path, out


def _finished(out: Path) -> dict[int, dict[str, Any]]:
    return {e["index"]: e for e in events(out, "trial_finished")}


def test_a_code_study_journals_stores_trains_and_reports_the_diff(
    study: tuple[Path, Path],
) -> None:
    _, out = study
    sha = patch_sha256(FIRST_EDIT.diff)
    printed = (out.parent / "study.out").read_text()
    assert f"#1 proposed [builtin] {{}} +recipe diff {sha[:SHORT_SHA]}" in printed
    proposed = events(out, "trial_proposed")
    assert [p["source"] for p in proposed] == ["baseline", "builtin", "builtin"]
    code = proposed[1]
    assert code["patch_sha256"] == sha and code["config"][PATCH_KEY] == sha
    assert code["changes"] == {} and FIRST_EDIT.name in code["hypothesis"]
    assert (out / "patches" / f"{sha}.diff").read_text(encoding="utf-8") == FIRST_EDIT.diff
    finished = _finished(out)
    assert PATCH_KEY not in finished[0]["result"]["spec"]["config"]
    assert finished[0]["result"]["spec"]["patch"] is None
    ran = finished[1]["result"]
    assert ran["status"] == "ok", ran["error"]
    assert ran["spec"]["patch"] == FIRST_EDIT.diff and PATCH_KEY not in ran["spec"]["config"]
    assert ran["hardware"] == "jailed recipe"  # trained in the jail, not the trusted child
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Code trials: recipe diffs" in report and f"diff {sha[:SHORT_SHA]}" in report
    assert "+        return self.c_proj(F.gelu(self.c_fc(x)))" in report


def test_a_resumed_study_keeps_the_kept_recipe_under_a_parameter_move(
    study: tuple[Path, Path],
) -> None:
    _, out = study
    finished = _finished(out)
    third = events(out, "trial_proposed")[2]
    assert third["changes"]  # a hyperparameter move, not a second recipe edit
    if finished[1]["kept"]:  # the code trial became the incumbent: its recipe carries on
        assert third["patch_sha256"] == patch_sha256(FIRST_EDIT.diff)
        assert finished[2]["result"]["spec"]["patch"] == FIRST_EDIT.diff
    else:
        assert third["patch_sha256"] is None


def test_bilevel_trial_with_the_study_file_reproduces_the_studys_code_trial(
    study: tuple[Path, Path], tmp_path: Path
) -> None:
    path, out = study
    diff = tmp_path / "edit.diff"
    diff.write_text(FIRST_EDIT.diff, encoding="utf-8")
    done = subprocess.run(
        [*CLI, "trial", str(path), "--patch", str(diff), "--budget-tokens", "8192"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    assert lines["patch_sha256"].strip() == patch_sha256(FIRST_EDIT.diff)
    assert lines["seed"].strip() == "3" and lines["dataset"].strip() == "pinned"
    journaled = _finished(out)[1]["result"]["val_bpb"]
    assert float(lines["val_bpb"]) == pytest.approx(journaled, abs=1e-6)


def test_bilevel_trial_refuses_a_patch_the_study_would_not_run(tmp_path: Path) -> None:
    off = write_study(tmp_path / "off.toml", STUDY.replace("code_trials = true", ""))
    diff = tmp_path / "edit.diff"
    diff.write_text(FIRST_EDIT.diff, encoding="utf-8")
    for args, message in (
        ([str(off), "--patch", str(diff)], "leaves code trials off"),
        ([str(off), "--preset", "cpu-tiny"], "--preset come(s) from the study file"),
    ):
        done = subprocess.run([*CLI, "trial", *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0]


@pytest.mark.redis
def test_a_code_trial_through_rq_and_a_worker_scores_as_inline(
    study: tuple[Path, Path], tmp_path: Path, redis_url: str, unique_name: str
) -> None:
    """The job carries the diff to a ``bilevel worker``, whose trial child jails it: the
    same number as the inline study's (the spec, not the executor, decides it)."""
    from tests.orchestrator.helpers import start_worker, stop
    from tests.orchestrator.test_study_rq import cleanup_queue

    path, inline = study
    rq_study = write_study(
        tmp_path / "rq.toml",
        path.read_text().replace('executor = "inline"', 'executor = "rq"')
        + f'\n[rq]\nredis_url = "{redis_url}"\nqueue = "{unique_name}"\n',
    )
    worker = start_worker(unique_name, redis_url)
    try:
        done = run_cli(study_args(tmp_path / "run", study=str(rq_study)))
    finally:
        stop(worker)
        cleanup_queue(redis_url, unique_name)
    assert done.returncode == 0, done.stderr
    ran = _finished(tmp_path / "run")[1]["result"]
    assert ran["spec"]["patch"] == FIRST_EDIT.diff
    assert ran["val_bpb"] == pytest.approx(_finished(inline)[1]["result"]["val_bpb"], abs=1e-9)
