"""`bilevel export RUN_DIR --optuna STORAGE_URL`: a study's trials into an Optuna storage."""

from __future__ import annotations

from pathlib import Path

import typer

# optuna-dashboard is an optional extra (pyproject), not in the dev lock: a browser tool the
# tests never need. `make optuna-dashboard` runs this in the project's venv.
DASHBOARD_INSTALL = "pip install 'bilevel-autoresearch[optuna-dashboard]'"


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
            f"exported {result.trials} search trials of {run_dir} to {optuna} as study "
            f"'{result.study_name}' ({result.metric}, {result.direction})"
        )
        if result.evaluations:
            typer.echo(
                f"  {result.evaluations} re-runs and test scorings are in the 'evaluations' "
                "attribute of the trial they re-ran (not Optuna trials: Optuna's best is the "
                "search's best)"
            )
        if result.incumbent is not None and result.best_value_trial != result.incumbent:
            typer.echo(
                f"  note: Optuna's best is trial #{result.best_value_trial}, whose value beats "
                f"the kept trial #{result.incumbent} by less than the study's noise floor "
                "(study attribute search_best_index names the kept one)"
            )
        if result.skipped_running:
            typer.echo(f"  {result.skipped_running} trials still training were left out")
        typer.echo(f"  view it: {dashboard_command(optuna)}")


def dashboard_command(storage_url: str) -> str:
    """How to look at the export: optuna-dashboard when installed, else how to install it."""
    import shutil

    if shutil.which("optuna-dashboard"):
        return f"optuna-dashboard {storage_url}"
    return (
        f"optuna-dashboard {storage_url}  (not installed here: {DASHBOARD_INSTALL}, "
        "then run that command)"
    )
