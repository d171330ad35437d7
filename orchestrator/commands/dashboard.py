"""`bilevel dashboard [RUNS_DIR]`: watch the studies under a folder in a browser, live."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import typer

from orchestrator.errors import UserError

# Loopback only by default: the dashboard shows LLM text and study configs, and has no login.
DEFAULT_HOST = "127.0.0.1"
# A common free port for local web tools; --port or $BILEVEL_DASHBOARD_PORT changes it.
DEFAULT_PORT = 8080
# The same variable the compose stack publishes its dashboard on (.env).
PORT_ENV = "BILEVEL_DASHBOARD_PORT"
# Hosts that mean "every interface": then the browser's Host header cannot be predicted, so
# --allow-host names what users type (the published name or address).
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def register(app: typer.Typer) -> None:
    @app.command("dashboard")
    def dashboard_command(
        runs_dir: Path = typer.Argument(
            Path("runs"), help="folder holding study folders (each with events.jsonl)"
        ),
        host: str = typer.Option(DEFAULT_HOST, help="address to listen on (loopback by default)"),
        port: int = typer.Option(DEFAULT_PORT, min=1, max=65535, envvar=PORT_ENV, help="TCP port"),
        allow_host: list[str] = typer.Option(
            [], help="extra Host header names to answer (repeatable; loopback always allowed)"
        ),
    ) -> None:
        """Serve a live, read-only dashboard of every study and ablation under RUNS_DIR.

        Reads the journals as they grow (no Redis needed): running, finished and killed studies.
        """
        from orchestrator.journal import journal_path

        if not runs_dir.is_dir():
            raise UserError(
                f"{runs_dir} is not a folder; pass the folder that holds your study folders "
                "(default: runs)"
            )
        if journal_path(runs_dir).is_file():
            raise UserError(
                f"{runs_dir} is one study's folder; pass the folder above it "
                f"(bilevel dashboard {runs_dir.resolve().parent})"
            )
        try:
            import uvicorn

            from orchestrator.dashboard.app import LOOPBACK_HOSTS, create_app
        except ImportError as exc:
            raise UserError(
                f"the dashboard needs {exc.name}; install it: pip install 'bilevel-autoresearch[dashboard]'"
            ) from None
        hosts = [*LOOPBACK_HOSTS, *allow_host]
        if host not in WILDCARD_HOSTS:
            hosts.append(host)
        web = create_app(runs_dir, allowed_hosts=hosts)
        listening = listen(host, port)  # before the URL is printed: a busy port is one line
        shown = f"[{host}]" if ":" in host else host
        typer.echo(
            f"dashboard: http://{shown}:{port}/  (studies in {runs_dir.resolve()}; Ctrl-C stops)"
        )
        server = uvicorn.Server(uvicorn.Config(web, log_level="warning", access_log=False))
        server.run(sockets=[listening])


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``, or a UserError naming the busy port and the fix."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: no TIME_WAIT
    try:
        sock.bind((host or "0.0.0.0", port))
        sock.listen()
    except OSError as exc:
        sock.close()
        where = f"port {port} on {host or '0.0.0.0'}"
        if exc.errno == errno.EADDRINUSE:
            why = f"{where} is already in use (another dashboard, e.g. the stack's?)"
        else:
            why = f"{where} is not available ({exc.strerror})"
        raise UserError(f"{why}; pass --port N or set {PORT_ENV}") from None
    return sock
