"""The Level-2 research driver: starts research sessions, hands their results to the host.

The study loop calls :meth:`Level2Driver.at_boundary` before planning each trial. That
call is cheap: it applies what is due (trip-reverts, promotions queued by a finished
session) and, on the cadence or on stagnation, starts one research session in a daemon
thread. The session talks to the LLM and the sandbox ladder while trials keep running; the
trainers never wait for it. The journal is the only shared record (thread-safe appends);
the study state changes only on the loop's thread, as the journal delivers each event to
it once (:meth:`orchestrator.journal.Journal.subscribe`): this driver never applies events
itself. A session's outcome is handed back to the loop's thread too (:meth:`_collect`).
"""

from __future__ import annotations

import importlib.util
import queue
import statistics
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from contract.hooks import HOOKS
from orchestrator.agent.factory import make_agent
from orchestrator.config import StudyConfig
from orchestrator.events import (
    Event,
    MechanismReverted,
    ResearchFinished,
    ResearchSkipped,
    ResearchStarted,
)
from orchestrator.journal import Journal
from orchestrator.level2.mechanisms.host import LiveMechanism, LiveMechanismHost
from orchestrator.level2.mechanisms.store import StoreError, load_mechanism
from orchestrator.level2.research.builtin_researcher import level2_roles
from orchestrator.level2.research.replays import recent_contexts
from orchestrator.level2.research.rounds import ActiveSummary, Brief
from orchestrator.level2.research.session import (
    DEFAULT_MAX_REPAIRS,
    Asker,
    Ladder,
    ResearchSession,
    SessionOutcome,
)
from orchestrator.levels.facts import study_facts
from orchestrator.levels.hooks import BoundaryUpdate, research_trigger
from orchestrator.levels.rules import constraint_lines
from orchestrator.state import StudyState

# How long closing the study waits for a running session to journal its outcome. A
# builtin session takes seconds; an LLM session that needs longer is cut off and recorded
# as discarded rather than holding the finished study open.
CLOSE_WAIT_S = 30.0
# A session is started only if the mechanism it may promote would still shape this many
# search trials after it ends: a session that ends with the study is paid for and thrown away.
MIN_TRIALS_AFTER_SESSION = 2
# Estimated ladder time of a session before any was measured (static, smoke and contract
# on a warm sandbox take 5-20 s here).
LADDER_ESTIMATE_S = 15.0
# LLM calls of one session: its four rounds (a repair adds one more when needed).
SESSION_CALLS = 4


def api_source() -> str:
    """``sandbox/api.py`` as text, for the prompts (read, not imported)."""
    spec = importlib.util.find_spec("sandbox.api")
    if spec is None or spec.origin is None:
        raise RuntimeError("sandbox/api.py not found: is the project installed?")
    return Path(spec.origin).read_text(encoding="utf-8")


@dataclass
class _Memory:
    """What earlier sessions of this study left behind, rebuilt from the study's fold of
    its journal (:meth:`Level2Driver._restore`)."""

    sessions: int = 0
    last_session_at: int = 0  # finished search trials when the last session started
    promoted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    reverted_shas: list[str] = field(default_factory=list)
    skipped: str = ""  # why no further session is started (the study is too close to its end)


class Level2Driver:
    """Implements :class:`orchestrator.levels.hooks.ResearchDriver` for Level 2."""

    def __init__(
        self,
        config: StudyConfig,
        run_dir: Path,
        host: LiveMechanismHost,
        ladder: Ladder,
        allowlist: list[str],
        *,
        agent: Asker | None = None,
        max_repairs: int = DEFAULT_MAX_REPAIRS,
        research: bool | None = None,
        discard_reason: str = "",
        synchronous: bool = False,
    ) -> None:
        """``discard_reason``: when set, modules that pass the ladder are journaled as
        discarded with it and never promoted (the ablation's null-Level-2 control, group N).
        ``synchronous``: each session runs to its end inside :meth:`at_boundary`, and the
        wasted-session rule counts trials only (a session then costs no trials; benchmarks).
        """
        self.config = config
        self.run_dir = Path(run_dir)
        self.host = host
        self.ladder = ladder
        self.allowlist = allowlist
        self.agent = agent
        self.max_repairs = max_repairs
        self.discard_reason = discard_reason
        self.synchronous = synchronous
        self.research = config.levels.research if research is None else research
        self._memory: _Memory | None = None
        self._thread: threading.Thread | None = None
        self._journal: Journal | None = None
        self._closed = threading.Event()
        self._current: int | None = None  # session number of the running session
        self._crash: BaseException | None = None  # a session's bug, raised in the study thread
        # Finished sessions' outcomes, handed from their threads to the loop's (_collect).
        self._outcomes: queue.SimpleQueue[SessionOutcome] = queue.SimpleQueue()

    # ------------------------------------------------------------------ boundary
    def at_boundary(self, state: StudyState, journal: Journal) -> BoundaryUpdate:
        self._raise_crash()
        self._journal = journal
        if self._memory is None:
            self._memory = self._restore(state, journal)
        memory = self._memory
        idle = not self.running()  # before collecting: a session that ended has put its outcome
        self._collect()

        def emit(event: Event) -> Event:
            journal.append(event)  # on this thread: the state has it when this returns
            if isinstance(event, MechanismReverted):
                memory.reverted_shas.append(event.sha)
            return event

        finished = [t.as_trial() for t in state.ordered() if t.finished]  # effect breaker
        promoted, reverted = self.host.boundary(
            state.next_index(), emit, finished, trial_seconds=typical_trial_seconds(state)
        )
        if self.research and idle and not memory.skipped:
            trigger = research_trigger(state, memory.last_session_at)
            if trigger:
                if self.synchronous:
                    # Synchronous sessions take no time from the trials: only the count matters.
                    reason = too_few_trials_left(state)
                else:
                    # The timings are the state's: what the session that just ended journaled
                    # from its thread reaches it first.
                    journal.deliver()
                    reason = session_would_be_wasted(state)
                if reason:
                    memory.skipped = reason
                    journal.append(
                        ResearchSkipped(
                            trigger=trigger, iteration=state.next_index(), reason=reason
                        )
                    )
                else:
                    self._start(state, journal, trigger)
                    if self.synchronous:
                        self.wait()
                        self._raise_crash()
                        self._collect()
                        # The session ended inside this boundary: its promotion (and the
                        # revert of what it supersedes) applies here, before the next trial
                        # is planned, not one trial later.
                        more = self.host.boundary(
                            state.next_index(),
                            emit,
                            finished,
                            trial_seconds=typical_trial_seconds(state),
                        )
                        promoted, reverted = promoted + more[0], reverted + more[1]
        return BoundaryUpdate(promoted=promoted, reverted=reverted)

    def _collect(self) -> None:
        """Take the outcomes of finished sessions, on the loop's thread: a promotion is
        queued for the next boundary, and the memory briefs later sessions."""
        memory = self._memory
        assert memory is not None
        while True:
            try:
                outcome = self._outcomes.get_nowait()
            except queue.Empty:
                return
            if outcome.promotion is not None:
                self.host.queue_promotion(outcome.promotion)
                memory.promoted.append(outcome.mechanism)
            elif outcome.outcome == "rejected":
                memory.rejected.append(outcome.mechanism)

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the running session (if any) ends; True when none is running."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running()

    def close(self) -> None:
        """Give a running session CLOSE_WAIT_S to finish, then drop whatever it produces."""
        if self.running() and not self.wait(CLOSE_WAIT_S):
            self._closed.set()
            if self._journal is not None and self._current is not None:
                self._journal.append(
                    ResearchFinished(
                        session=self._current,
                        outcome="discarded",
                        mechanism="",
                        reason="the study ended while the session was still running "
                        f"({CLOSE_WAIT_S:g} s)",
                    )
                )
        self._closed.set()
        self._release_sandbox()
        self._raise_crash()

    def _raise_crash(self) -> None:
        """A session that crashed on a bug fails the study, loudly, in the study's thread."""
        if self._crash is not None:
            crash, self._crash = self._crash, None
            raise RuntimeError(
                f"a Level-2 research session crashed on a bug: {type(crash).__name__}: {crash}"
            ) from crash

    def _release_sandbox(self) -> None:
        """A warm sandbox client keeps one sandbox started ahead of the next call; the
        study is over, so stop it (``SandboxClient.close``), after the host's live audits."""
        self.host.close()
        self.host.client.close()

    # ------------------------------------------------------------------ sessions
    def _start(self, state: StudyState, journal: Journal, trigger: str) -> None:
        memory = self._memory
        assert memory is not None
        memory.sessions += 1
        memory.last_session_at = sum(1 for t in state.search_trials() if t.finished)
        session = memory.sessions
        iteration = state.next_index()
        journal.append(ResearchStarted(session=session, trigger=trigger, iteration=iteration))
        brief = self._brief(state, session, trigger, iteration)
        agent = self.agent or self._make_agent(journal)

        def emit(event: Event) -> Event | None:
            if self._closed.is_set():  # the study is over: nothing may land after its end
                return None
            return journal.append(event)

        runner = ResearchSession(
            brief,
            agent,
            self.ladder,
            emit,
            self.run_dir,
            max_repairs=self.max_repairs,
            discard_reason=self.discard_reason,
            blocked_shas=frozenset([m.stored.sha for m in self.host.live()] + memory.reverted_shas),
            replays=recent_contexts(state, iteration),
        )

        def work() -> None:
            try:
                outcome = runner.run()
            except BaseException as exc:  # a bug (run() absorbs outages): the study raises it
                self._crash = exc
                return
            if not self._closed.is_set():  # after the study's end an outcome is dropped
                self._outcomes.put(outcome)

        self._current = session
        self._thread = threading.Thread(target=work, name=f"research-{session}", daemon=True)
        self._thread.start()

    def _make_agent(self, journal: Journal) -> Asker:
        self.agent = make_agent(self.config, journal, roles=level2_roles())
        return self.agent

    def _brief(self, state: StudyState, session: int, trigger: str, iteration: int) -> Brief:
        ctx = state.hook_context(iteration, visible_only=False)
        memory = self._memory
        assert memory is not None
        objective = self.config.objective
        budget = self.config.budget()
        return Brief(
            session=session,
            trigger=trigger,
            iteration=iteration,
            objective=(
                f"{objective.preset} on {objective.dataset}"
                if objective.kind == "gpt"
                else self.config.objective_info().description
            )
            + f", {budget.amount:g} {budget.mode} per trial",
            metric=self.config.metric().name,
            direction=self.config.metric().direction,
            space=ctx.space,
            history=ctx.history,
            best=ctx.best,
            active=active_summaries(self.host, state),
            api_source=api_source(),
            allowlist=list(self.allowlist),
            rejected=list(memory.rejected),
            promoted=list(memory.promoted),
            facts=study_facts(self.config, state, proposer=False),
            policy=state.policy.model_copy(deep=True),  # a snapshot: the loop may change it
            constraints=constraint_lines(self.config),
        )

    # ------------------------------------------------------------------ resume
    def _restore(self, state: StudyState, journal: Journal) -> _Memory:
        """Sessions, verdicts and live mechanisms of an interrupted run, from the state (the
        fold of its journal)."""
        started = [r.session for r in state.research.values() if r.started]
        last_start = state.last_research_iteration()
        skipped = state.research_skipped
        memory = _Memory(
            sessions=max([0, *started]),
            last_session_at=0
            if last_start is None
            else sum(1 for t in state.search_trials() if t.finished and t.index < last_start),
            promoted=state.promoted_names(),
            rejected=list(state.rejected_mechanisms),
            # A copy, taken now: the boundary adds its own reverts to the memory, and a
            # revert journaled below (a module that cannot be restored) is not counted.
            reverted_shas=list(state.reverted_shas),
            skipped=(skipped.reason or "skipped") if skipped is not None else "",
        )
        # A copy: a revert journaled below reaches the state, and takes it off this dict.
        for name, sha in list(state.active_mechanisms.items()):
            record = state.mechanism(name)
            try:
                stored = load_mechanism(self.run_dir, name, sha, record.path)
            except StoreError as exc:
                journal.append(
                    MechanismReverted(
                        name=name,
                        sha=sha,
                        iteration=state.next_index(),
                        reason=f"cannot restore on resume: {exc}",
                        failures=0,
                    )
                )
                continue
            self.host.restore(
                LiveMechanism(
                    stored=stored,
                    session=record.session,
                    active_from=record.active_from or 0,
                    hooks=tuple(record.hooks or HOOKS),
                )
            )
        return memory


def _seconds(spans: Iterable[tuple[str, str]]) -> list[float]:
    """The seconds from each span's first journal timestamp to its second, where both
    were read."""
    return [
        (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
        for start, end in spans
        if start and end
    ]


def too_few_trials_left(state: StudyState) -> str:
    """Why a session started now could not shape MIN_TRIALS_AFTER_SESSION trials before
    the study ends, counting trials only ("" when it could)."""
    left = state.config.iterations - len(state.search_trials())
    if left < MIN_TRIALS_AFTER_SESSION:
        return (
            f"only {left} search trial(s) left: a mechanism promoted after this session would "
            f"shape fewer than {MIN_TRIALS_AFTER_SESSION}"
        )
    return ""


def session_would_be_wasted(state: StudyState) -> str:
    """Why a session started now could not shape MIN_TRIALS_AFTER_SESSION trials before
    the study ends ("" when it could): from the trials left and, when the session pays for
    LLM calls, from the journal's own timings (as the state folded them)."""
    config = state.config
    if reason := too_few_trials_left(state):
        return reason
    if config.llm.provider == "builtin":
        # The built-in agent's sessions cost no LLM calls and run beside the trials, so a
        # late one wastes nothing but a little CPU: only the trial count above applies.
        # Judging them by time would stop short studies of fast trials from ever researching.
        return ""
    trial_s = _seconds((t.proposed_at, t.finished_at) for t in state.ordered())
    if not trial_s:
        return ""
    left = config.iterations - len(state.search_trials())
    per_trial = statistics.mean(trial_s) / config.parallel_trials()
    sessions = _seconds((r.started_at, r.ended_at) for r in state.research.values())
    if sessions:
        session_s = statistics.mean(sessions)
    else:
        latencies = state.llm_latencies
        llm_s = statistics.mean(latencies) if latencies else 0.0
        session_s = SESSION_CALLS * llm_s + LADDER_ESTIMATE_S
    budget_s = (left - MIN_TRIALS_AFTER_SESSION) * per_trial
    if session_s > budget_s:
        return (
            f"a session takes ~{session_s:.0f} s but the study has ~{left * per_trial:.0f} s "
            f"({left} trials) left: its mechanism would shape fewer than "
            f"{MIN_TRIALS_AFTER_SESSION} trials"
        )
    return ""


def active_summaries(host: LiveMechanismHost, state: StudyState) -> list[ActiveSummary]:
    """Each live mechanism with what the trial records say it did."""
    out = []
    for m in host.live():
        shaped = [t for t in state.finished_trials() if m.name in t.fired]
        out.append(
            ActiveSummary(
                name=m.name,
                sha=m.stored.sha,
                active_from=m.active_from,
                fired=len(shaped),
                chosen=sum(1 for t in state.finished_trials() if t.source == f"mechanism:{m.name}"),
                kept=sum(1 for t in shaped if t.kept),
                failures=m.failures,
            )
        )
    return out


def typical_trial_seconds(state: StudyState) -> float | None:
    """The median training time of the finished trials: what one trial costs, for the
    breaker's slow-call budget (None before any trial reported one)."""
    seconds = [t.result.train_seconds for t in state.ordered() if t.result is not None]
    return statistics.median(seconds) if seconds else None
