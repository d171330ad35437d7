"""`bilevel mechanism check FILE`: the gate ladder on one mechanism module — the CI command.

Exit codes: 0 accepted, 1 rejected (the reason says where and why), 2 bad usage or the
sandbox could not run. ``--json`` prints exactly one JSON object, whatever happens (a bad
file, a missing or weak sandbox, a crash of the check itself), with a one-line clean reason.
Module code is untrusted: it needs docker or bubblewrap unless ``--allow-weak-sandbox``
(the project's own library may run in a weak sandbox, with a warning).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from orchestrator.errors import EXIT_OK, EXIT_REJECTED, EXIT_USAGE, UserError
from sandbox.text import clean_data, clean_text

if TYPE_CHECKING:
    from sandbox.reports import LadderReport

# The space the contract tests use when none is named: the quickstart's (the parameter
# names are the same in every preset; only ranges differ).
DEFAULT_PRESET = "cpu-tiny"
# The reason of a verdict: one line a CI log shows in full.
MAX_REASON_CHARS = 500
# Module output kept in --json: enough lines to debug, never a flood.
MAX_MODULE_OUTPUT_CHARS = 4000

mechanism_app = typer.Typer(
    help="Check mechanism modules against the sandbox API.", no_args_is_help=True
)


def _emit_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _failure_json(reason: str, error: str) -> dict[str, Any]:
    """The one JSON object of a check that could not run (exit 2)."""
    return {
        "accepted": False,
        "stage": None,
        "reason": clean_text(reason, MAX_REASON_CHARS),
        "error": error,
    }


def json_failure_for(argv: list[str]) -> Callable[[str], None] | None:
    """For ``bilevel mechanism check ... --json``: what prints the one JSON object when the
    command line itself is wrong (a missing file argument, an unknown flag), before the
    command runs; None for any other command line."""
    words = [a for a in argv if not a.startswith("-")]
    if words[:2] != ["mechanism", "check"] or "--json" not in argv:
        return None
    return lambda message: _emit_json(_failure_json(message, "usage"))


def _report_json(report: LadderReport) -> dict[str, Any]:
    """The report as JSON, every string cleaned and the reason one line."""
    data = clean_data(report.to_dict())
    assert isinstance(data, dict)
    data["reason"] = clean_text(report.reason, MAX_REASON_CHARS)
    if isinstance(data.get("module_output"), str):
        data["module_output"] = clean_text(
            report.module_output, MAX_MODULE_OUTPUT_CHARS, multiline=True
        )
    return data


def _human(report: LadderReport) -> None:
    for warning in report.warnings:
        typer.echo(f"warning: {clean_text(warning)}", err=True)
    seconds = report.timings.get("total", 0.0)
    if report.accepted:
        hooks = ", ".join(clean_text(h) for h in report.hooks)
        typer.echo(
            f"accepted: {clean_text(report.name)} ({clean_text(report.class_name)}; "
            f"hooks: {hooks}) — {len(report.checks)} checks in {seconds:.2f} s [{report.backend}]"
        )
        return
    typer.echo(f"rejected at {report.stage}: {clean_text(report.reason, MAX_REASON_CHARS)}")
    if report.module_output.strip():
        typer.echo("module output (first lines):", err=True)
        for line in report.module_output.strip().splitlines()[:10]:
            typer.echo(f"  {clean_text(line, MAX_REASON_CHARS)}", err=True)


def _is_builtin_library(source: str) -> bool:
    """The file is one of the project's own shipped mechanisms (byte for byte)."""
    from orchestrator.research.builtin import library

    return any(entry.source == source for entry in library().values())


@mechanism_app.command("check")
def check_command(
    file: Path = typer.Argument(..., help="the mechanism module (.py) to check"),
    backend: str = typer.Option("auto", "--backend", help="auto | docker | process"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of text"),
    preset: str = typer.Option(
        DEFAULT_PRESET, "--preset", help="search space for the contract tests"
    ),
    allow_weak_sandbox: bool = typer.Option(
        False,
        "--allow-weak-sandbox",
        help="check it even without docker or bubblewrap (unsafe: the module runs unjailed)",
    ),
) -> None:
    """Run the static gate, smoke test and contract tests on FILE (exit 0 accepted, 1 rejected)."""
    try:
        report = _check(file, backend, preset, allow_weak_sandbox)
    except UserError as exc:
        if not as_json:
            raise
        _emit_json(_failure_json(str(exc), "usage"))
        raise typer.Exit(EXIT_USAGE) from None
    except Exception as exc:  # a crash anywhere: still one JSON object and exit 2
        if not as_json:
            raise UserError(
                clean_text(f"the check itself failed: {type(exc).__name__}: {exc}", 300)
            ) from None
        reason = f"the check itself failed: {type(exc).__name__}: {exc}"
        _emit_json(_failure_json(reason, "internal"))
        raise typer.Exit(EXIT_USAGE) from None
    if as_json:
        _emit_json(_report_json(report))
    else:
        _human(report)
    raise typer.Exit(EXIT_OK if report.accepted else EXIT_REJECTED)


def _check(file: Path, backend: str, preset: str, allow_weak: bool) -> LadderReport:
    """The ladder report for FILE; ``UserError`` for anything the user must fix."""
    from orchestrator.mechanisms.isolation import check_isolation
    from sandbox.backends import BACKEND_NAMES, SandboxUnavailable
    from sandbox.client import DirectClient
    from trainer.presets import get_preset

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
        client = DirectClient(backend)
    except (SandboxUnavailable, ValueError) as exc:
        raise UserError(str(exc)) from None
    try:
        warning = check_isolation(
            client.isolation,
            untrusted=not _is_builtin_library(source),
            allow_weak=allow_weak,
            what="`bilevel mechanism check`",
        )
        if warning:  # stderr: with --json, stdout stays one JSON object
            typer.echo(f"warning: {warning}", err=True)
        try:
            return client.check(source, space, filename=file.name)
        except SandboxUnavailable as exc:
            raise UserError(str(exc)) from None
    finally:
        client.close()


def register(app: typer.Typer) -> None:
    app.add_typer(mechanism_app, name="mechanism")
