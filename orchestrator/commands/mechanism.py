"""`bilevel mechanism check FILE`: the gate ladder on one mechanism module — the CI command.

Exit codes: 0 accepted, 1 rejected (the reason says where and why), 2 bad usage or the
sandbox could not run. ``--json`` prints exactly one JSON object (also on exit 2).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from orchestrator.errors import EXIT_OK, EXIT_REJECTED, EXIT_USAGE, UserError

# The space the contract tests use when none is named: the quickstart's (the parameter
# names are the same in every preset; only ranges differ).
DEFAULT_PRESET = "cpu-tiny"

mechanism_app = typer.Typer(
    help="Check mechanism modules against the sandbox API.", no_args_is_help=True
)


def _emit_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _human(report: Any) -> None:
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    seconds = report.timings.get("total", 0.0)
    if report.accepted:
        hooks = ", ".join(report.hooks)
        typer.echo(
            f"accepted: {report.name} ({report.class_name}; hooks: {hooks}) — "
            f"{len(report.checks)} checks in {seconds:.2f} s [{report.backend}]"
        )
        return
    typer.echo(f"rejected at {report.stage}: {report.reason}")
    if report.module_output.strip():
        typer.echo("module output (first lines):", err=True)
        for line in report.module_output.strip().splitlines()[:10]:
            typer.echo(f"  {line}", err=True)


@mechanism_app.command("check")
def check_command(
    file: Path = typer.Argument(..., help="the mechanism module (.py) to check"),
    backend: str = typer.Option("auto", "--backend", help="auto | docker | process"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of text"),
    preset: str = typer.Option(
        DEFAULT_PRESET, "--preset", help="search space for the contract tests"
    ),
) -> None:
    """Run the static gate, smoke test and contract tests on FILE (exit 0 accepted, 1 rejected)."""
    from sandbox.backends import BACKEND_NAMES, SandboxUnavailable
    from sandbox.client import DirectClient
    from trainer.spec import get_preset

    if backend not in BACKEND_NAMES:
        raise UserError(f"unknown --backend {backend!r}; use one of {', '.join(BACKEND_NAMES)}")
    try:
        source = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(
            f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}; pass a .py file"
        ) from None
    try:
        space = get_preset(preset).space
    except (KeyError, ValueError) as exc:
        raise UserError(f"unknown --preset {preset!r}: {exc}") from None
    try:
        report = DirectClient(backend).check(source, space, filename=file.name)
    except SandboxUnavailable as exc:
        if as_json:
            _emit_json(
                {
                    "accepted": False,
                    "stage": None,
                    "reason": str(exc),
                    "error": "sandbox unavailable",
                }
            )
            raise typer.Exit(EXIT_USAGE) from None
        raise UserError(str(exc)) from None
    if as_json:
        _emit_json(report.to_dict())
    else:
        _human(report)
    raise typer.Exit(EXIT_OK if report.accepted else EXIT_REJECTED)


def register(app: typer.Typer) -> None:
    app.add_typer(mechanism_app, name="mechanism")
