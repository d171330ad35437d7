"""Study and ablation reports from journals: files, plots, self-containment, the CLI."""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from orchestrator.report import ReportPaths, load_run, write_report
from orchestrator.report.ablation import write_ablation_report
from tests.report.journals import write_study_journal

STUDY_FIGURES = {"progress", "parameters", "statuses", "mechanisms", "llm"}


@pytest.fixture
def study_dir(tmp_path: Path) -> Path:
    run = tmp_path / "demo-study"
    write_study_journal(run)
    return run


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    """One synthetic study's report, drawn once for the tests that only read it."""
    run = tmp_path_factory.mktemp("reported") / "demo-study"
    write_study_journal(run)
    return write_report(run)


def _linked_pngs(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", markdown)


def test_study_report_writes_markdown_with_every_plot(reported: ReportPaths) -> None:
    paths, study_dir = reported, reported.markdown.parent
    assert paths.markdown == study_dir / "report.md" and paths.html == study_dir / "report.html"
    markdown = paths.markdown.read_text()
    linked = _linked_pngs(markdown)
    assert {Path(p).stem for p in linked} == STUDY_FIGURES
    for rel in linked:
        with Image.open(study_dir / rel) as image:
            assert image.format == "PNG" and image.width > 500 and image.height > 200
    assert "baseline val_bpb" in markdown and "3.2000" in markdown
    assert "Noise floor" in markdown and "tabu" in markdown


def test_study_report_html_is_self_contained(reported: ReportPaths) -> None:
    page = reported.html.read_text()
    assert page.count('src="data:image/png;base64,') == len(STUDY_FIGURES)
    # Nothing fetched from anywhere: every src/href is inline.
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert "<script" not in page


def test_report_of_a_killed_study_reads_past_a_torn_line(tmp_path: Path) -> None:
    run = tmp_path / "killed"
    journal = write_study_journal(run, trials=8, finished=False)
    with journal.open("a") as handle:
        handle.write('{"seq": 999, "type": "trial_fini')  # the write the kill interrupted
    data = load_run(run)
    assert not data.finished and len(data.trials) == 8
    markdown = write_report(run).markdown.read_text()
    assert "not finished" in markdown


def test_best_so_far_and_delta_follow_the_journal(study_dir: Path) -> None:
    data = load_run(study_dir)
    curve = [b for _, b in data.best_so_far()]
    assert all(later <= earlier for earlier, later in itertools.pairwise(curve))
    assert data.delta == pytest.approx(data.best_val_bpb - 3.2)
    assert data.firing_counts()["tabu"] == 5


def test_ablation_report_has_the_table_beside_the_paper(tmp_path: Path) -> None:
    for repeat in range(3):
        write_study_journal(tmp_path / f"A-r{repeat}", seed=repeat, gain=0.02, with_research=False)
        write_study_journal(tmp_path / f"C-r{repeat}", seed=repeat, gain=0.06)
    markdown = write_ablation_report(tmp_path).markdown.read_text()
    rows = {
        line.split("|")[1].strip(): line for line in markdown.splitlines() if line.startswith("| ")
    }
    assert "-0.009" in rows["A"] and "-0.045" in rows["C"]
    assert "1.00×" in rows["A"]
    assert "(paired)" in rows["C"] and "0.250" in rows["C"]  # 3 same-sign pairs: p = 2/8
    assert {Path(p).stem for p in _linked_pngs(markdown)} == {"ablation-curves", "ablation-deltas"}


def test_report_cli_names_the_problem_for_a_folder_without_journal(
    tmp_path: Path, bilevel_cli: list[str]
) -> None:
    done = subprocess.run(
        [*bilevel_cli, "report", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: no events.jsonl in")
    assert "Traceback" not in done.stderr


def test_report_cli_writes_and_prints_the_path(study_dir: Path, bilevel_cli: list[str]) -> None:
    done = subprocess.run(
        [*bilevel_cli, "report", str(study_dir)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert str(study_dir / "report.html") in done.stdout


def test_a_code_trials_diff_is_in_the_report_verbatim_and_inert(tmp_path: Path) -> None:
    from tests.dashboard.journals import HOSTILE_DIFF_SHA, write_hostile_journal

    run = tmp_path / "hostile"
    write_hostile_journal(run)
    paths = write_report(run)
    markdown, page = paths.markdown.read_text(), paths.html.read_text()
    assert f"diff {HOSTILE_DIFF_SHA[:12]}" in markdown and HOSTILE_DIFF_SHA in markdown
    # Markdown: the diff's own ``` cannot close its fence; HTML: every character escaped.
    assert "````diff\n--- a/trainer/recipe.py" in markdown
    assert "<script>window.pwned" not in page and "&lt;script&gt;window.pwned" in page
    assert "\x1b" not in markdown + page
