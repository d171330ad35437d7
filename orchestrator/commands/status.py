"""`bilevel status RUN_DIR`: the study summary, rebuilt from the run's journal alone."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status_command(
        run_dir: Path = typer.Argument(..., help="a run dir, e.g. runs/quickstart"),
    ) -> None:
        """Print a study's summary from its journal (running, interrupted or finished)."""
        from rich.console import Console

        from orchestrator.commands.study import print_summary
        from orchestrator.errors import UserError
        from orchestrator.journal import journal_path
        from orchestrator.summary import summary_from_journal

        if not journal_path(run_dir).exists():
            raise UserError(f"{journal_path(run_dir)} does not exist; pass a run dir of a study")
        try:
            summary = summary_from_journal(run_dir)
        except ValueError as exc:
            raise UserError(f"{run_dir}: {exc}") from None
        print_summary(Console(), summary)
