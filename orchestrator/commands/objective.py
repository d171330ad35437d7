"""`bilevel objective check STUDY.toml`: one trial of the study's objective, before any LLM call.

Runs the configured objective once with its defaults (the baseline a study would run
first), locally and supervised exactly as a study's trial, and prints what the study would
see: the metric and its direction, the status, the value, extras, the facts shown to the
model, and the error with the tail of stderr when it failed. Exit 0 for an ``ok`` trial, 1
for a trial that ran and failed (crashed, timeout, diverged, oom), 2 for bad input: a
study file, target, command or metric line the study could never use, in one line.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from orchestrator.errors import EXIT_REJECTED, UserError

if TYPE_CHECKING:
    from trainer.objective import Objective
    from trainer.spec import TrialResult

# Width of the key column, as in `bilevel trial`: values line up for humans and grep.
KEY_WIDTH = 15


def check_objective(file: Path) -> tuple[Objective, TrialResult]:
    """``(objective info, TrialResult)`` of one default trial; UserError for bad input."""
    from orchestrator.config import StudyConfig
    from trainer.objective import preflight
    from trainer.spec import TrialSpec
    from trainer.supervise import run_supervised

    config = StudyConfig.load(file)
    spec_objective = config.objective_spec()
    if problem := preflight(spec_objective):
        raise UserError(problem)
    info = config.objective_info()
    spec = TrialSpec(
        trial_id=f"check-{uuid.uuid4().hex[:12]}",
        index=0,
        preset=config.objective.preset,
        dataset=config.objective.dataset,
        budget=config.budget(),
        config=config.search_space().defaults(),
        seed=config.seed,
        device=config.objective.device,
        objective=spec_objective,
    )
    return info, run_supervised(spec)


def report_lines(info: Objective, result: TrialResult) -> list[str]:
    rows: list[tuple[str, Any]] = [
        ("objective", f"{info.kind}: {info.name}"),
        ("metric", f"{info.metric} ({info.direction})"),
        ("status", result.status),
        (info.metric, f"{result.value:.6g}" if result.value is not None else "n/a"),
        ("seconds", f"{result.train_seconds:.2f}"),
        ("budget", f"{result.spec.budget.amount:g} {result.spec.budget.mode}"),
        ("config", json.dumps(result.spec.config)),
    ]
    rows += [(f"extra.{k}", f"{v:.6g}") for k, v in result.extras.items()]
    rows += [(f"fact.{k}", v) for k, v in info.facts.items()]
    if result.error:
        indent = "\n" + " " * (KEY_WIDTH + 1)
        rows.append(("error", result.error.replace("\n", indent)))
    return [f"{k + ':':<{KEY_WIDTH}} {v}" for k, v in rows]


def register(app: typer.Typer) -> None:
    objective_app = typer.Typer(
        help="Check a study's objective before spending LLM calls on it.",
        no_args_is_help=True,
    )
    app.add_typer(objective_app, name="objective")

    @objective_app.command("check")
    def check_command(
        file: Path = typer.Argument(..., help="study file, e.g. examples/objectives/digits.toml"),
        as_json: bool = typer.Option(False, "--json", help="print the TrialResult JSON only"),
    ) -> None:
        """Run one trial of the objective with its defaults and print what a study sees."""
        info, result = check_objective(file)
        if result.status == "invalid":  # the objective itself is unusable: bad input
            first = (result.error.strip().splitlines() or ["invalid trial"])[0]
            raise UserError(f"{file}: {first}")
        if as_json:
            typer.echo(json.dumps(result.model_dump(mode="json")))
        else:
            typer.echo("---\n" + "\n".join(report_lines(info, result)))
        if result.status != "ok":
            raise typer.Exit(EXIT_REJECTED)
