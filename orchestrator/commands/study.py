"""`bilevel study FILE`: run or resume a study with a live view and a one-screen summary."""

from __future__ import annotations

import sys
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from orchestrator.events import (
    ContextReset,
    Event,
    LlmCall,
    NoiseFloor,
    PolicyChanged,
    StudyFinished,
    StudyStarted,
    TrialFinished,
    TrialProposed,
    UnknownEvent,
    parse_event,
)

if TYPE_CHECKING:
    from rich.console import Console

    from orchestrator.summary import StudySummary

# Default parent of run dirs: runs/<study-name>.
RUNS_DIR = Path("runs")
# Recent events kept on the live view.
RECENT_EVENTS_SHOWN = 8
# Longest event line on the live view and in --plain output: one terminal line or two.
MAX_EVENT_LINE_CHARS = 240
# A failed trial's cause on the live view: the program's own message, not its folders.
MAX_CAUSE_SHOWN = 160
# Live-view refreshes per second: smooth enough, cheap on a 2-core machine.
LIVE_REFRESH_PER_S = 4
# Exit status of a study stopped by Ctrl-C or SIGTERM: the shell's 128 + SIGINT.
EXIT_INTERRUPTED = 130


class LiveView:
    """The rich live panel: current trials, best so far, recent events."""

    def __init__(self, study: str, agent: str, metric: str = "val_bpb") -> None:
        self.study, self.agent, self.metric = study, agent, metric
        self.events: deque[str] = deque(maxlen=RECENT_EVENTS_SHOWN)
        self.lines_added = 0
        self.progress: dict[int, dict[str, Any]] = {}
        self.best: tuple[int, float] | None = None
        self.done = 0

    def __call__(self, kind: str, payload: Any) -> None:
        if kind == "tick":
            self.progress = payload
        elif kind == "event":  # a journal event (its model, or its JSON object)
            self._event(payload if isinstance(payload, Event) else parse_event(payload))
        elif kind == "notice":  # the executor's word on a wait (no live worker...)
            self.events.append(str(payload))
            self.lines_added += 1

    def _event(self, event: Event) -> None:
        from sandbox.text import clean_text

        before = len(self.events), self.events[-1] if self.events else None
        self._describe(event)
        if self.events and (len(self.events), self.events[-1]) != before:
            # hypotheses, errors and reasons came from an LLM or a mechanism: one clean line
            self.events[-1] = clean_text(self.events[-1], MAX_EVENT_LINE_CHARS)
        if (len(self.events), self.events[-1] if self.events else None) != before:
            self.lines_added += 1

    def _describe(self, event: Event) -> None:
        from orchestrator.baseline import short_cause

        if isinstance(event, TrialFinished):
            self.done += 1
            val = event.value
            error = event.error
            metric = f"{val:.5f}" if val is not None else short_cause(error, MAX_CAUSE_SHOWN)
            kept = " KEPT" if event.kept else ""
            self.events.append(f"#{event.index} {event.status} {metric}{kept}")
            best = event.best
            if best is not None and event.kept:
                self.best = (event.index, best)
            self.progress.pop(event.index, None)
        elif isinstance(event, TrialProposed):
            recipe = f" +recipe diff {event.patch_sha256[:12]}" if event.patch_sha256 else ""
            self.events.append(
                f"#{event.index} proposed [{event.source}] {event.changes}{recipe} "
                f"{event.hypothesis[:60]}"
            )
        elif isinstance(event, PolicyChanged):
            self.events.append(f"policy: {event.diff}")
        elif isinstance(event, LlmCall):
            if not event.ok:
                self.events.append(f"llm {event.role} failed: {event.error} (retrying)")
        elif isinstance(event, NoiseFloor):
            self.events.append(f"noise floor {event.floor or 0.0:.5f} from {event.values}")
        elif isinstance(event, ContextReset):
            self.events.append(f"Level-1 context reset: history from #{event.from_index}")
        elif not isinstance(event, StudyStarted | StudyFinished | UnknownEvent):
            self.events.append(event.type.replace("_", " "))

    def __rich__(self) -> Any:
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        from contract.progress import ELAPSED, FRACTION, LOSS, PHASE, STEP
        from sandbox.text import clean_text

        table = Table.grid(padding=(0, 1))
        best = f"#{self.best[0]} {self.metric} {self.best[1]:.5f}" if self.best else "-"
        table.add_row("agent", clean_text(self.agent))
        table.add_row("finished", str(self.done))
        table.add_row("best", best)
        for index, p in sorted(self.progress.items()):
            loss = p.get(LOSS)
            frac = float(p.get(FRACTION) or 0.0)
            loss_text = f"loss {loss:.4f}" if isinstance(loss, int | float) else "loss -"
            table.add_row(
                f"trial #{index}",
                f"{p.get(PHASE, '')} step {p.get(STEP, '-')} {loss_text} "
                f"{frac:.0%} of budget ({1 - frac:.0%} left), {p.get(ELAPSED, 0):.1f}s",
            )
        for line in self.events:
            table.add_row("", Text(line))  # not markup: "[baseline]" is text
        return Panel(table, title=clean_text(f"bilevel study {self.study}"))


def register(app: typer.Typer) -> None:
    @app.command("study")
    def study_command(
        file: Path = typer.Argument(..., help="study file, e.g. studies/quickstart.toml"),
        resume: bool = typer.Option(
            False,
            "--resume",
            help="continue from the run's journal, with the settings it recorded",
        ),
        new_study: bool = typer.Option(
            False,
            "--new-study",
            help="start a new study in a new run dir, even where the latest run is unfinished",
        ),
        out: Path | None = typer.Option(None, "--out", help="run dir (default runs/<name>)"),
        iterations: int | None = typer.Option(None, "--iterations", min=1),
        budget_seconds: float | None = typer.Option(None, "--budget-seconds", min=0.001),
        budget_tokens: int | None = typer.Option(None, "--budget-tokens", min=1),
        llm: str | None = typer.Option(None, "--llm", help="builtin | openai"),
        executor: str | None = typer.Option(None, "--executor", help="rq | inline"),
        parallel: int | None = typer.Option(None, "--parallel", min=1),
        plain: bool = typer.Option(False, "--plain", help="no live view: one line per event"),
        allow_weak_sandbox: bool = typer.Option(
            False,
            "--allow-weak-sandbox",
            help="let LLM-written mechanisms run without docker or bubblewrap (unsafe)",
        ),
    ) -> None:
        """Run a study: baseline, then Level 1 each trial and Level 1.5 every k trials."""
        from rich.console import Console
        from rich.live import Live

        from orchestrator.config import Overrides, StudyConfig
        from orchestrator.dashboard.progress import progress_observer
        from orchestrator.level2.research.wiring import level2_for_study
        from orchestrator.resume import interrupted_line, settings_for_resume
        from orchestrator.study import run_study

        file_config = StudyConfig.load(file)
        overrides: Overrides = {
            "iterations": iterations,
            "budget_seconds": budget_seconds,
            "budget_tokens": budget_tokens,
            "llm": llm,
            "executor": executor,
            "parallel": parallel,
        }
        resume = resume and not new_study
        run_dir = out or default_run_dir(file_config.name, resume=resume, fresh=new_study)
        if resume:  # the recorded settings, flags on top; a changed measurement is refused
            config, note = settings_for_resume(file_config, run_dir, overrides)
            if note:
                print(note, flush=True)
        else:
            config = file_config.with_overrides(**overrides)
        if allow_weak_sandbox:  # journaled with the config: the opt-in is on record
            levels = config.levels.model_copy(update={"allow_weak_sandbox": True})
            config = config.model_copy(update={"levels": levels})
        if out is None:
            print(f"run dir: {run_dir}", flush=True)
        _stop_on_sigterm()
        # {} unless levels.research is on; refuses a weak sandbox for LLM-written code
        level2 = level2_for_study(config, run_dir)
        console = Console()
        view = LiveView(config.name, config.llm.label(), config.metric().name)
        try:
            if plain or not console.is_terminal:

                def observer(kind: str, payload: Any) -> None:
                    added = view.lines_added
                    view(kind, payload)
                    if view.lines_added != added:
                        console.print(view.events[-1], markup=False, highlight=False)

                summary = run_study(
                    config,
                    run_dir,
                    resume=resume,
                    observer=progress_observer(run_dir, observer),
                    **level2,
                )
            else:
                with Live(view, console=console, refresh_per_second=LIVE_REFRESH_PER_S):
                    summary = run_study(
                        config,
                        run_dir,
                        resume=resume,
                        observer=progress_observer(run_dir, view),
                        **level2,
                    )
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: say what is kept and how to go on
            print(interrupted_line(run_dir, file), file=sys.stderr, flush=True)
            raise SystemExit(EXIT_INTERRUPTED) from None
        print_summary(console, summary)
        from orchestrator.report import report_line  # plots: imported only once it is needed

        console.print(report_line(run_dir), markup=False, highlight=False)


def default_run_dir(name: str, *, resume: bool, root: Path = RUNS_DIR, fresh: bool = False) -> Path:
    """``runs/<name>``; once that holds a finished study, the next free ``runs/<name>-N``.

    So `make study` can be run again and again without losing a finished run, while an
    unfinished run is never silently side-stepped: it stays the default, and `run_study`
    asks for ``--resume`` (or ``--out``). With ``resume`` it is the newest run of that name;
    with ``fresh`` (``--new-study``) always a dir that holds no journal yet.
    """
    from orchestrator.journal import journal_path, read_events

    numbered = (p for p in root.glob(f"{name}-*") if p.name[len(name) + 1 :].isdigit())
    runs = [root / name, *sorted(numbered, key=lambda p: int(p.name[len(name) + 1 :]))]
    existing = [p for p in runs if journal_path(p).exists()]
    if not existing:
        return root / name
    newest = existing[-1]
    finished = any(isinstance(e, StudyFinished) for e in read_events(journal_path(newest)))
    if not fresh and (resume or not finished):
        return newest
    number = int(newest.name[len(name) + 1 :]) + 1 if newest != root / name else 2
    return root / f"{name}-{number}"


def _stop_on_sigterm() -> None:
    """`docker stop` and `kill` end the study like Ctrl-C: running trials are stopped, the
    journal is closed, and `--resume` continues it."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def print_summary(console: Console, summary: StudySummary) -> None:
    """The one-screen summary: best config, improvement, statuses, cost, journal path."""
    from rich.panel import Panel
    from rich.text import Text

    from orchestrator.level2.mechanisms.status_table import level2_summary_lines
    from sandbox.text import clean_text

    best = summary.best
    config: dict[str, object] = (best.get("config") if best else None) or {}
    body = "\n".join(clean_text(f"  {k} = {v!r}") for k, v in config.items())
    console.print(Panel(Text(body or "  (no successful trial)"), title="best config"))
    console.print("== bilevel summary ==", markup=False, highlight=False)
    for line in summary.lines():  # one key: value per line, never wrapped (grep-able)
        console.print(clean_text(line), markup=False, highlight=False, soft_wrap=True)
    for line in level2_summary_lines(Path(summary.run_dir)):  # mechanisms, verdicts, firing
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print("== end summary ==", markup=False, highlight=False)
