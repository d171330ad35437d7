"""The `bilevel` command. Each module in `orchestrator.commands` registers its own commands.

Command modules import their heavy dependencies (torch, openai, docker) inside the command
functions, so `bilevel worker` runs in the trainer image without the orchestrator's packages.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable
from typing import NoReturn

import typer

from orchestrator import commands
from orchestrator.errors import EXIT_USAGE, UserError

app = typer.Typer(
    name="bilevel",
    help="Bilevel Autoresearch: an LLM tunes a training recipe; an outer loop rewrites the search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Bilevel Autoresearch. Start with `bilevel study studies/quickstart.toml`."""


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    from orchestrator.commands.mechanism import json_failure_for

    global _json_failure
    _json_failure = json_failure_for(sys.argv[1:] if argv is None else argv)
    try:
        code = app(args=argv, standalone_mode=False)
    except UserError as exc:
        _fail(str(exc))
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:  # a bad flag or value: click's box becomes one line
        if not exc.format_message():  # `bilevel` alone: the help was the message
            sys.exit(EXIT_USAGE)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _fail(f"{exc.format_message()}{hint}")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


# Set by main() for a command whose stdout must stay one JSON object whatever happens
# (`bilevel mechanism check --json`): it turns a usage error into that object.
_json_failure: Callable[[str], None] | None = None


def _fail(message: str) -> NoReturn:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    if _json_failure is not None:
        _json_failure(message)
    sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
