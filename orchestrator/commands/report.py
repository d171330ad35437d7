"""`bilevel report RUN_DIR`: report.md and a self-contained report.html beside the journal."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_command(
        run_dir: Path = typer.Argument(
            ..., help="a study folder (holds events.jsonl) or an ablation --out folder"
        ),
    ) -> None:
        """Write report.md and report.html (plots inlined) from a study's or ablation's journals.

        Works on running and killed studies too: it reports what the journal holds so far.
        """
        from orchestrator.report import is_ablation_dir, write_ablation_report, write_report

        if is_ablation_dir(run_dir):
            paths = write_ablation_report(run_dir)
        else:
            paths = write_report(run_dir)
        typer.echo(f"report: {paths.html}")
        typer.echo(f"        {paths.markdown}")
