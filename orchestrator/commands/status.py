"""`bilevel status RUN_DIR`: the study summary, rebuilt from the run's journal alone."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status_command(
        run_dir: Path = typer.Argument(
            ..., help="a run dir, e.g. runs/quickstart, or the study file that wrote it"
        ),
    ) -> None:
        """Print a study's summary from its journal (running, interrupted or finished)."""
        from rich.console import Console

        from orchestrator.commands.study import print_summary
        from orchestrator.errors import UserError
        from orchestrator.journal import journal_path
        from orchestrator.summary import summary_from_journal

        if run_dir.suffix == ".toml" and run_dir.is_file():
            run_dir = run_dir_of(run_dir)
        if not journal_path(run_dir).exists():
            raise UserError(f"{journal_path(run_dir)} does not exist; pass a run dir of a study")
        try:
            summary = summary_from_journal(run_dir)
        except ValueError as exc:
            raise UserError(f"{run_dir}: {exc}") from None
        print_summary(Console(), summary)


def run_dir_of(study_file: Path) -> Path:
    """The newest run dir a study file wrote without --out (runs/<name>, runs/<name>-N)."""
    from orchestrator.commands.study import default_run_dir
    from orchestrator.config import StudyConfig
    from orchestrator.errors import UserError
    from orchestrator.journal import journal_path

    name = StudyConfig.load(study_file).name
    run_dir = default_run_dir(name, resume=True)
    if not journal_path(run_dir).exists():
        raise UserError(
            f"{study_file} (study {name!r}) has no run in {run_dir.parent}/ yet; run it "
            f"(bilevel study {study_file}) or pass the run dir its --out named"
        )
    print(f"run dir: {run_dir}", flush=True)
    return run_dir
