"""`bilevel export RUN_DIR --optuna STORAGE_URL`: a study's trials into an Optuna storage."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        run_dir: Path = typer.Argument(..., help="a study folder (holds events.jsonl)"),
        optuna: str = typer.Option(
            ..., "--optuna", help="Optuna storage URL, e.g. sqlite:///runs/quickstart/optuna.db"
        ),
        study_name: str | None = typer.Option(
            None, help="name of the Optuna study (default: the study's own name)"
        ),
    ) -> None:
        """Write a study's trials (parameters, values, states, source and mechanisms as user
        attributes) into an Optuna storage, for optuna-dashboard and Optuna's analysis tools.
        """
        from orchestrator.export import export_to_optuna

        result = export_to_optuna(run_dir, optuna, study_name)
        typer.echo(
            f"exported {result.trials} trials of {run_dir} to {optuna} as study "
            f"'{result.study_name}' ({result.metric}, {result.direction})"
        )
        if result.skipped_running:
            typer.echo(f"  {result.skipped_running} trials still training were left out")
        typer.echo(f"  view it: optuna-dashboard {optuna}")
