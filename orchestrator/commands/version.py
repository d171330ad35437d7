"""`bilevel version`: the installed version, for bug reports and the journal."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import typer

PACKAGE = "bilevel-autoresearch"


def package_version() -> str:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


def register(app: typer.Typer) -> None:
    @app.command("version")
    def version_command() -> None:
        """Print the installed version."""
        typer.echo(f"bilevel-autoresearch {package_version()}")
