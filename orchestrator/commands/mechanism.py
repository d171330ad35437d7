"""`bilevel mechanism check PATH...`: the gate ladder on mechanism modules — the CI command.

PATHs are modules or folders of them (every ``*.py`` inside is checked). Exit codes: 0 every
module accepted, 1 any rejected (the reason says where and why), 2 bad usage or a check
that could not run (an unreadable file, the sandbox missing or down). Output: one line per
verdict for one file, else a one-screen table; ``--json`` prints one JSON object for one
file and JSON lines (one object per module) for several, whatever happens, every reason
one clean line. ``--junit FILE`` writes a JUnit report, ``--format github`` adds workflow
annotations. Module code is untrusted: it needs docker or bubblewrap unless
``--allow-weak-sandbox`` (the project's own library may run in a weak sandbox, with a
warning). ``--static-only`` runs the static gate alone (a lint; no sandbox, no Docker).

`bilevel mechanism image` prints the sandbox image's id and registry digests, so a
pipeline can pin exactly the sandbox a study would use.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from orchestrator.errors import EXIT_OK, EXIT_REJECTED, EXIT_USAGE, UserError
from orchestrator.level2.mechanism_ci.targets import DEFAULT_PRESET
from sandbox.text import clean_text

if TYPE_CHECKING:
    from orchestrator.level2.mechanism_ci.checks import FileResult
    from orchestrator.level2.mechanism_ci.targets import CheckTarget
    from sandbox.client import SandboxClient

# Output formats: a person's text, text plus GitHub workflow annotations, JSON (lines).
FORMATS = ("text", "github", "json")
# One check at a time unless asked: the safe choice on a shared CI runner.
DEFAULT_JOBS = 1
# The table's width in a CI log (not a terminal): room for most reasons on one line.
LOG_WIDTH = 160
# Module output lines shown under a single file's rejection on a terminal.
SHOWN_OUTPUT_LINES = 10

mechanism_app = typer.Typer(
    help="Check mechanism modules against the sandbox API.", no_args_is_help=True
)


def _emit_json(data: dict[str, Any], *, line: bool = False) -> None:
    text = (
        json.dumps(data, ensure_ascii=False)
        if line
        else json.dumps(data, indent=2, ensure_ascii=False)
    )
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _wants_json(argv: list[str]) -> bool:
    if "--json" in argv or "--format=json" in argv:
        return True
    return any(a == "--format" and b == "json" for a, b in itertools.pairwise(argv))


def json_failure_for(argv: list[str]) -> Callable[[str], None] | None:
    """For ``bilevel mechanism check ... --json``: what prints the one JSON object (one line,
    so a JSON-lines reader reads it too) when the command line itself is wrong (a missing
    file argument, an unknown flag), before the command runs; None for any other line."""
    words = [a for a in argv if not a.startswith("-")]
    if words[:2] != ["mechanism", "check"] or not _wants_json(argv):
        return None
    from orchestrator.level2.mechanism_ci.formats import failure_json

    return lambda message: _emit_json(failure_json(message, "usage"), line=True)


def _is_builtin_library(source: str) -> bool:
    """The file is one of the project's own shipped mechanisms (byte for byte)."""
    from orchestrator.level2.research.builtin_researcher import library

    return any(entry.source == source for entry in library().values())


@mechanism_app.command("check")
def check_command(
    paths: list[Path] = typer.Argument(
        ..., help="mechanism modules (.py) or folders of them (every .py inside is checked)"
    ),
    backend: str = typer.Option("auto", "--backend", help="auto | docker | process"),
    as_json: bool = typer.Option(
        False, "--json", help="JSON: one object for one file, JSON lines for several"
    ),
    output_format: str = typer.Option(
        "text", "--format", help="text | github (adds ::error annotations) | json"
    ),
    preset: str | None = typer.Option(
        None, "--preset", help=f"search space for the contract tests (default {DEFAULT_PRESET})"
    ),
    study: Path | None = typer.Option(
        None, "--study", help="check against this study file's objective, space and contexts"
    ),
    run_dir: Path | None = typer.Option(
        None, "--run", help="with --study: the run whose recent contexts to replay"
    ),
    junit: Path | None = typer.Option(None, "--junit", help="write a JUnit XML report here"),
    jobs: int = typer.Option(
        DEFAULT_JOBS, "--jobs", "-j", help="checks at once, each in its own sandbox (≤ CPUs)"
    ),
    static_only: bool = typer.Option(
        False, "--static-only", help="the static gate alone: a fast lint, no sandbox"
    ),
    allow_weak_sandbox: bool = typer.Option(
        False,
        "--allow-weak-sandbox",
        help="check it even without docker or bubblewrap (unsafe: the module runs unjailed)",
    ),
) -> None:
    """Run the static gate, smoke test and contract tests on every module (exit 0 all
    accepted, 1 any rejected, 2 usage or sandbox error)."""
    from orchestrator.level2.mechanism_ci.formats import failure_json

    fmt = "json" if as_json or output_format == "json" else output_format
    try:
        if output_format not in FORMATS:
            raise UserError(f"unknown --format {output_format!r}; use one of {', '.join(FORMATS)}")
        if as_json and output_format not in ("text", "json"):
            raise UserError(f"--json and --format {output_format} disagree; give one of them")
        code = _check(
            paths,
            fmt=fmt,
            backend=backend,
            preset=preset,
            study=study,
            run_dir=run_dir,
            junit=junit,
            jobs=jobs,
            static_only=static_only,
            allow_weak=allow_weak_sandbox,
        )
    except UserError as exc:
        if fmt != "json":
            raise
        _emit_json(failure_json(str(exc), "usage"), line=True)
        raise typer.Exit(EXIT_USAGE) from None
    except Exception as exc:  # a crash anywhere: still one JSON object and exit 2
        reason = f"the check itself failed: {type(exc).__name__}: {exc}"
        if fmt != "json":
            raise UserError(clean_text(reason, 300)) from None
        _emit_json(failure_json(reason, "internal"), line=True)
        raise typer.Exit(EXIT_USAGE) from None
    raise typer.Exit(code)


def _check(
    paths: list[Path],
    *,
    fmt: str,
    backend: str,
    preset: str | None,
    study: Path | None,
    run_dir: Path | None,
    junit: Path | None,
    jobs: int,
    static_only: bool,
    allow_weak: bool,
) -> int:
    """Check every module, print and write the reports; the exit code."""
    from orchestrator.level2.mechanism_ci import checks, formats, targets
    from sandbox.backends import BACKEND_NAMES

    if backend not in BACKEND_NAMES:
        raise UserError(f"unknown --backend {backend!r}; use one of {', '.join(BACKEND_NAMES)}")
    if jobs < 1:
        raise UserError(f"--jobs {jobs}: give at least 1 (checks at once)")
    if study is not None and preset is not None:
        raise UserError("give --study or --preset, not both (a study names its own space)")
    if run_dir is not None and study is None:
        raise UserError("--run needs --study (the run's journal is read with its study file)")
    if static_only and study is not None:
        raise UserError("--static-only runs no contract tests; drop --study or --static-only")
    single = len(paths) == 1 and not paths[0].is_dir()
    files = paths if single else targets.module_files(paths)
    target = _target(static_only, study, run_dir, preset)
    modules, unreadable = [], []
    for path in files:
        try:
            modules.append((path, checks.read_module(path)))
        except (OSError, UnicodeDecodeError) as exc:
            if single:
                why = getattr(exc, "strerror", None) or exc
                raise UserError(f"cannot read {path}: {why}; pass a .py file") from None
            unreadable.append(checks.unreadable(path, exc))
    if jobs > (limit := checks.max_jobs()):
        typer.echo(
            f"warning: --jobs {jobs} is more than this machine's {limit} CPUs; using {limit}",
            err=True,
        )
        jobs = limit
    start = time.perf_counter()
    client = None if static_only else _client(backend, modules, allow_weak)
    try:
        progress = None if single or fmt == "json" else _progress(len(modules))
        results = checks.check_all(modules, target, client, jobs=jobs, on_result=progress)
    finally:
        if client is not None:
            client.close()
    order = {str(p): i for i, p in enumerate(files)}
    results = sorted([*results, *unreadable], key=lambda r: order.get(r.file, len(order)))
    seconds = time.perf_counter() - start
    how = _how(results, target, static_only, jobs)
    if junit is not None:
        formats.write_junit(junit, results, {"run": how})
    _print(results, fmt=fmt, single=single, seconds=seconds, how=how)
    if any(r.status == "error" for r in results):
        return EXIT_USAGE
    return EXIT_REJECTED if any(r.status == "rejected" for r in results) else EXIT_OK


def _target(
    static_only: bool, study: Path | None, run_dir: Path | None, preset: str | None
) -> CheckTarget:
    from orchestrator.level2.mechanism_ci.targets import CheckTarget, preset_target, study_target

    if static_only:
        return CheckTarget(space=None, label="static gate only")
    if study is not None:
        return study_target(study, run_dir)
    return preset_target(preset or DEFAULT_PRESET)


def _client(backend: str, modules: list[tuple[Path, str]], allow_weak: bool) -> SandboxClient:
    """The sandbox client, refused (``UserError``) when it is weak for untrusted code."""
    from orchestrator.level2.mechanisms.isolation import check_isolation
    from sandbox.backends import SandboxUnavailable
    from sandbox.client import DirectClient

    try:
        client = DirectClient(backend)
    except (SandboxUnavailable, ValueError) as exc:
        raise UserError(str(exc)) from None
    try:
        warnings = {
            check_isolation(
                client.isolation,
                untrusted=not _is_builtin_library(source),
                allow_weak=allow_weak,
                what="`bilevel mechanism check`",
            )
            for _, source in modules
        }
    except UserError:
        client.close()
        raise
    for warning in sorted(w for w in warnings if w):  # stderr: stdout stays the report
        typer.echo(f"warning: {warning}", err=True)
    return client


def _progress(total: int) -> Callable[[FileResult], None]:
    """One stderr line per finished module: a long CI run shows it is moving."""
    import threading

    done = [0]
    lock = threading.Lock()

    def report(result: FileResult) -> None:
        with lock:
            done[0] += 1
            stage = f" at {result.stage}" if result.status == "rejected" else ""
            typer.echo(
                f"[{done[0]}/{total}] {clean_text(result.file)}: {result.status}{stage}", err=True
            )

    return report


def _how(results: list[FileResult], target: CheckTarget, static_only: bool, jobs: int) -> str:
    backends = sorted(
        {r.report.backend for r in results if r.report is not None and r.report.backend}
    )
    where = (
        "static gate only"
        if static_only
        else f"{', '.join(backends) or 'no sandbox'}; {target.label}"
    )
    return f"{where}; jobs {jobs}"


def _print(results: list[FileResult], *, fmt: str, single: bool, seconds: float, how: str) -> None:
    from orchestrator.level2.mechanism_ci import formats

    if fmt == "json":
        for result in results:
            _emit_json(formats.result_json(result), line=not single)
        return
    if single:
        if results[0].status == "error":
            raise UserError(results[0].error)
        _human(results[0])
    else:
        import os

        from rich.console import Console

        # A CI log is no terminal: rich would assume 80 columns and cut every reason short.
        wide = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
        console = Console(
            file=sys.stdout, highlight=False, soft_wrap=False, width=LOG_WIDTH if wide else None
        )
        table, hidden = formats.summary_table(results)
        console.print(table)
        if hidden:
            console.print(
                f"… and {hidden} accepted modules not listed (see --junit or --json)", markup=False
            )
        console.print(formats.summary_line(results, seconds, how), markup=False)
    if fmt == "github":
        for line in formats.github_annotations(results):
            sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _human(result: FileResult) -> None:
    """One file's verdict as before: one stdout line, module output on stderr."""
    from orchestrator.level2.mechanism_ci.formats import MAX_SHOWN_REASON_CHARS, module_output

    report = result.report
    assert report is not None
    for warning in report.warnings:
        typer.echo(f"warning: {clean_text(warning)}", err=True)
    seconds = report.timings.get("total", 0.0)
    if report.accepted and result.static_only:
        typer.echo(f"accepted at static: {clean_text(report.reason)} — {clean_text(result.file)}")
        return
    if report.accepted:
        hooks = ", ".join(clean_text(h) for h in report.hooks)
        typer.echo(
            f"accepted: {clean_text(report.name)} ({clean_text(report.class_name)}; "
            f"hooks: {hooks}) — {len(report.checks)} checks in {seconds:.2f} s [{report.backend}]"
        )
        return
    typer.echo(f"rejected at {report.stage}: {clean_text(report.reason, MAX_SHOWN_REASON_CHARS)}")
    if output := module_output(result):
        typer.echo("module output (first lines):", err=True)
        for line in output.splitlines()[:SHOWN_OUTPUT_LINES]:
            typer.echo(f"  {line}", err=True)


@mechanism_app.command("image")
def image_command(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Print the sandbox image's id and registry digests (pin them in a CI pipeline)."""
    from sandbox.backends.docker import IMAGE_ENV, sandbox_image

    ref = sandbox_image()
    try:
        import docker

        image = docker.from_env().images.get(ref)
    except ImportError:
        raise UserError(
            "the docker package is missing; install bilevel-autoresearch[sandbox-runner]"
        ) from None
    except Exception as exc:  # not found, or no engine: the SDK's, requests' or OS errors
        raise UserError(
            f"cannot inspect the sandbox image {ref} ({type(exc).__name__}); start a Docker "
            f"engine and build it with `make images`, or set {IMAGE_ENV} to a pulled image"
        ) from None
    digests = [str(d) for d in image.attrs.get("RepoDigests") or []]
    if as_json:
        _emit_json({"image": ref, "id": image.id, "repo_digests": digests})
        return
    typer.echo(f"image: {ref}")
    typer.echo(f"id: {image.id}")
    for digest in digests:
        typer.echo(f"pin: {IMAGE_ENV}={digest}")
    # The content id pins the image too, wherever `docker load` puts it (no registry needed).
    typer.echo(f"pin: {IMAGE_ENV}={image.id}")
    if not digests:
        typer.echo(
            "repo digests: none (a locally built image); push it to your registry to pin "
            "REGISTRY/NAME@sha256:…, or move it with docker save/load, which keeps the id"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(mechanism_app, name="mechanism")
