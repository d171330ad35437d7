"""The dashboard's web application: read-only pages and the JSON they poll.

Safe by default, since every journal string may come from an LLM: every route is GET (HEAD); every journal string reaches the
browser either through Jinja2 with autoescaping or as JSON that the page's script puts into
the DOM with ``textContent``; the Content-Security-Policy allows scripts from this server only
(no inline script, no eval), so markup that slipped through anyway could not run; studies and
files are resolved strictly inside the runs folder (:mod:`orchestrator.dashboard.runs`);
requests naming another host are refused (DNS rebinding).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.dashboard import payloads
from orchestrator.dashboard.runs import MAX_FILE_BYTES, RunsDir
from orchestrator.dashboard.source import highlight_diff, highlight_python, pygments_css
from orchestrator.patches import PATCHES_DIRNAME, is_sha256
from sandbox.text import clean_text

if TYPE_CHECKING:
    from orchestrator.dashboard.view import StudyView

HERE = Path(__file__).parent
STATIC = HERE / "static"
# Scripts, styles, images and fetches from this server only; nothing may frame the page.
# Plotly.js injects <style> elements while drawing (a strict style-src blocks them: tested),
# so styles alone allow 'unsafe-inline'; styles cannot run code, and scripts stay 'self'.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
# Host names a loopback-bound dashboard answers to; others are refused (DNS rebinding).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
# How often a page asks for new events, in milliseconds: fast enough to feel live,
# slow enough that an idle tab costs nothing (a poll without news is a stat() per journal).
POLL_INTERVAL_MS = 1500


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response (errors and static files included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class JSONSafe(Response):
    """JSON with cleaned strings and finite numbers (:func:`payloads.safe`), never cached."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(payloads.safe(content), allow_nan=False, separators=(",", ":")).encode()


def create_app(runs_dir: Path, *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The dashboard for the studies under ``runs_dir``."""
    runs = RunsDir(runs_dir)
    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, auto_reload=False
    )
    static_files = {
        "dashboard.js": STATIC / "dashboard.js",
        "dashboard.css": STATIC / "dashboard.css",
        "plotly.min.js": _plotly_js(),
    }

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(poll_ms=POLL_INTERVAL_MS, **context)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    def not_found() -> HTMLResponse:
        return page("missing.html", status=404)

    def study_page(template: str, tab: str) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            name = request.path_params["name"]
            if runs.study_dir(name) is None:
                return not_found()
            return page(template, study=name, tab=tab)

        return endpoint

    def study_api(build: Callable[..., dict[str, Any]]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            name = request.path_params["name"]
            view = runs.view(name)
            if view is None:
                return JSONSafe({"error": "no such study"}, status_code=404)
            # The page sends back the token of what it has; the same token means no news.
            token = str(view.seq)
            live: dict[int, dict[str, Any]] = {}
            if build is payloads.overview:
                live = runs.progress(name)
                token += "." + str(hash(json.dumps(live, sort_keys=True)) & 0xFFFFFFFF)
            if request.query_params.get("since") == token:
                return JSONSafe({"seq": token, "unchanged": True}, headers=_NO_STORE)
            if build is payloads.overview:
                data = build(view, runs.modified(name), live)
            else:
                data = build(view)
            return JSONSafe({**data, "seq": token}, headers=_NO_STORE)

        return endpoint

    def index(request: Request) -> Response:
        return page("index.html", tab="index")

    def studies_api(request: Request) -> Response:
        rows = []
        for name in runs.studies():
            view = runs.view(name)
            if view is not None:
                rows.append(payloads.study_row(view, runs.modified(name)))
        return JSONSafe({"studies": rows, "ablations": runs.ablations()}, headers=_NO_STORE)

    def static(request: Request) -> Response:
        path = static_files.get(request.path_params["file"])
        if path is None:
            return not_found()
        return FileResponse(path, headers={"cache-control": "no-cache"})

    def pygments_stylesheet(request: Request) -> Response:
        return Response(pygments_css(), media_type="text/css")

    def source(request: Request) -> Response:
        name = request.path_params["name"]
        view = runs.view(name)
        sha = request.query_params.get("sha", "")
        if view is None or not sha:
            return not_found()
        found = _source_path(view, sha)
        path = runs.file_in(name, found[1]) if found else None
        if found is None or path is None:
            return not_found()
        code = path.read_bytes()[:MAX_FILE_BYTES].decode("utf-8", errors="replace")
        return page(
            "source.html",
            study=name,
            tab="mechanisms",
            script="static",
            mechanism=found[0],
            sha=sha,
            relative=found[1],
            code=highlight_python(code),
        )

    def recipe_patch(request: Request) -> Response:
        """A code trial's recipe diff: as the finished trial ran it (the journal), or for a
        trial still running, as stored in the run's patches/ folder."""
        name = request.path_params["name"]
        view = runs.view(name)
        sha = request.query_params.get("sha", "")
        if view is None or not is_sha256(sha):
            return not_found()
        text = view.patch_text(sha)
        if text is None:
            path = runs.file_in(name, f"{PATCHES_DIRNAME}/{sha}.diff")
            if path is None:
                return not_found()
            text = path.read_bytes()[:MAX_FILE_BYTES].decode("utf-8", errors="replace")
        trials = [t.index for t in view.ordered() if t.patch_sha256 == sha]
        return page(
            "patch.html",
            study=name,
            tab="study",
            script="static",
            sha=sha,
            trials=trials,
            code=highlight_diff(text),
        )

    def transcript(request: Request) -> Response:
        name = request.path_params["name"]
        view = runs.view(name)
        seq = request.query_params.get("seq", "")
        if view is None or not seq.isdigit():
            return not_found()
        call = next((c for c in view.llm if c["seq"] == int(seq)), None)
        path = runs.file_in(name, call["transcript"]) if call and call["transcript"] else None
        if call is None or path is None:
            return not_found()
        raw = path.read_bytes()[:MAX_FILE_BYTES].decode("utf-8", errors="replace")
        with contextlib.suppress(ValueError):  # not JSON (or cut short): shown as it is
            raw = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
        return page(
            "transcript.html",
            study=name,
            tab="llm",
            script="static",
            call=payloads.safe(call),
            text=clean_text(raw, multiline=True),
        )

    def ablation(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in runs.ablations():
            return not_found()
        from orchestrator.dashboard.ablations import ablation_table

        return page(
            "ablation.html",
            tab="index",
            script="static",
            ablation=name,
            **ablation_table(runs, name),
        )

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/static/pygments.css", pygments_stylesheet, methods=["GET"]),
        Route("/static/{file}", static, methods=["GET"]),
        Route("/api/studies", studies_api, methods=["GET"]),
        Route("/api/study/{name:path}", study_api(payloads.overview), methods=["GET"]),
        Route("/api/mechanisms/{name:path}", study_api(payloads.mechanisms), methods=["GET"]),
        Route("/api/research/{name:path}", study_api(payloads.research), methods=["GET"]),
        Route("/api/llm/{name:path}", study_api(payloads.llm_calls), methods=["GET"]),
        Route("/study/{name:path}", study_page("study.html", "study"), methods=["GET"]),
        Route(
            "/mechanisms/{name:path}", study_page("mechanisms.html", "mechanisms"), methods=["GET"]
        ),
        Route("/research/{name:path}", study_page("research.html", "research"), methods=["GET"]),
        Route("/llm/{name:path}", study_page("llm.html", "llm"), methods=["GET"]),
        Route("/source/{name:path}", source, methods=["GET"]),
        Route("/patch/{name:path}", recipe_patch, methods=["GET"]),
        Route("/transcript/{name:path}", transcript, methods=["GET"]),
        Route("/ablation/{name}", ablation, methods=["GET"]),
    ]
    hosts = list(allowed_hosts) if allowed_hosts else list(LOOPBACK_HOSTS)
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
        ],
    )

    async def missing(request: Request, exc: Exception) -> Response:
        return not_found()

    app.add_exception_handler(404, missing)
    return app


_NO_STORE = {"cache-control": "no-store"}


def _source_path(view: StudyView, sha: str) -> tuple[str, str] | None:
    """(mechanism name, journal-listed path) of the module with this sha, promoted first."""
    for mechanism in view.mechanisms.values():
        if mechanism.sha == sha and mechanism.path:
            return mechanism.name, mechanism.path
    for mechanism in view.mechanisms.values():
        for verdict in mechanism.verdicts:
            if verdict.sha == sha and verdict.path:
                return mechanism.name, verdict.path
    return None
