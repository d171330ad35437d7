"""Ablations: the paper's groups plus two controls, as resumable, paired, interleaved studies.

Groups (levels on top of Level 1, which every group runs):

- **A** Level 1 alone. **B** + Level 1.5. **C** + Level 1.5 + Level 2. **D** + Level 2.
- **R** (restart-only control) = B plus a reset of the Level-1 context at every point where
  Level 2 would start a session (cadence or stagnation), and no mechanism. In the paper each
  Level-2 session came with such a restart; R tells the restart's share of C's effect apart.
- **N** (null Level 2 control) = C whose research sessions run in full (every LLM round, the
  gate ladder) but whose mechanisms are discarded instead of promoted. It isolates the
  mechanisms from the side effects of running research (LLM load, timing, restarts).

Repeat k of every group uses seed ``base.seed + k``: the baseline trial and the agent's
randomness are the same across groups, so groups are compared *paired*. Runs go in
repeat-major order (A-r0, C-r0, A-r1, C-r1, ...): drift of the machines or the workers over
the hours of an ablation spreads over all groups instead of landing on one. Each run is an
ordinary study with its own journal under ``OUT/<group>-r<k>/``; on a re-run, finished
studies are skipped and an unfinished one is resumed from its journal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import UserError
from orchestrator.events import ResearchFinished, StudyFinished

if TYPE_CHECKING:
    from orchestrator.config import StudyConfig
    from orchestrator.journal import E, Journal
    from orchestrator.levels.hooks import BoundaryUpdate, MechanismHost, ResearchDriver
    from orchestrator.state import StudyState
    from orchestrator.summary import StudySummary


@dataclass(frozen=True)
class Group:
    name: str
    levels: str  # for tables and --help
    policy: bool  # Level 1.5
    research: bool  # Level 2 sessions run
    restart: bool  # Level-1 context reset where Level 2 would run
    discard: bool  # mechanisms that pass the ladder are dropped, never promoted
    # Stop doomed trials early (orchestrator/pruning.py). Off in every group: the paper's
    # groups A-D ran every trial to the end, and the controls R and N must run exactly as the
    # groups they are compared with, or pruning would be part of the measured difference.
    pruning: bool = False


GROUPS: dict[str, Group] = {
    g.name: g
    for g in (
        Group("A", "L1", policy=False, research=False, restart=False, discard=False),
        Group("B", "L1 + L1.5", policy=True, research=False, restart=False, discard=False),
        Group("C", "L1 + L1.5 + L2", policy=True, research=True, restart=False, discard=False),
        Group("D", "L1 + L2", policy=False, research=True, restart=False, discard=False),
        Group(
            "R",
            "L1 + L1.5 + restarts (control)",
            policy=True,
            research=False,
            restart=True,
            discard=False,
        ),
        Group(
            "N",
            "L1 + L1.5 + null L2 (control)",
            policy=True,
            research=True,
            restart=False,
            discard=True,
        ),
    )
}
# Every group by default: the controls are what make the comparison trustworthy.
DEFAULT_GROUPS = "A,B,C,D,R,N"
# The paper's repeats per group; see orchestrator.stats on what 3 can and cannot show.
DEFAULT_REPEATS = 3
MANIFEST = "ablation.json"
JOURNAL = "events.jsonl"
# Why a group-N mechanism never went live; written into its research_finished event.
NULL_L2_REASON = "null Level 2 control (group N): passed the ladder, discarded by design"


def parse_groups(text: str) -> list[str]:
    """``"A, c,N"`` -> ``["A", "C", "N"]``; an unknown or repeated group is a UserError."""
    names = [part.strip().upper() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in GROUPS]
    if unknown or not names:
        raise UserError(
            f"unknown group(s) {', '.join(unknown) or '(none given)'} in --groups; "
            f"choose from {', '.join(GROUPS)} (e.g. --groups A,C)"
        )
    if len(set(names)) != len(names):
        raise UserError(f"--groups lists a group twice ({text}); name each group once")
    return names


@dataclass(frozen=True)
class RunPlan:
    group: str
    repeat: int
    config: StudyConfig
    out_dir: Path

    @property
    def label(self) -> str:
        return f"{self.group}-r{self.repeat}"


def group_config(base: StudyConfig, group: str, repeat: int) -> StudyConfig:
    """The study a run executes: the base study with the group's levels and the repeat's seed."""
    spec = GROUPS[group]
    data = base.model_dump(mode="python")
    data["name"] = f"{base.name}-{group}-r{repeat}"
    data["seed"] = base.seed + repeat
    data["levels"].update(policy=spec.policy, research=spec.research, restart=spec.restart)
    data["pruning"]["enabled"] = spec.pruning
    return type(base).from_dict(data, source=f"ablation group {group}")


def plan_runs(base: StudyConfig, groups: Sequence[str], repeats: int, out: Path) -> list[RunPlan]:
    """Every run in repeat-major (interleaved) order."""
    return [
        RunPlan(g, k, group_config(base, g, k), Path(out) / f"{g}-r{k}")
        for k in range(repeats)
        for g in groups
    ]


def run_state(out_dir: Path) -> str:
    """``new`` (no journal), ``unfinished`` or ``finished`` (a study_finished event)."""
    path = Path(out_dir) / JOURNAL
    if not path.exists() or path.stat().st_size == 0:
        return "new"
    from orchestrator.journal import read_events

    finished = any(isinstance(e, StudyFinished) for e in read_events(path))
    return "finished" if finished else "unfinished"


def check_manifest(base: StudyConfig, out: Path) -> None:
    """Refuse to mix runs of different settings in one folder; write the manifest if new."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / MANIFEST
    current = base.model_dump(mode="json")
    if path.exists():
        recorded = json.loads(path.read_text(encoding="utf-8")).get("base_config")
        if recorded != current:
            changed = sorted(
                k for k in current if recorded is None or recorded.get(k) != current[k]
            )
            raise UserError(
                f"{out} holds an ablation with other settings (differs in: "
                f"{', '.join(changed) or 'everything'}); use a new --out or the same study "
                "file and overrides"
            )
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"base_config": current}, indent=2), encoding="utf-8")
    tmp.replace(path)


# ---------------------------------------------------------------------------- Level 2 wiring

# (config, run_dir) -> (mechanism host, research driver) for a study with Level 2 on. The
# same factory ``bilevel study`` uses, so groups C/D run exactly what a user's study runs.
Level2Factory = Callable[["StudyConfig", Path], tuple["MechanismHost", "ResearchDriver"]]


class _DiscardingJournal:
    """A journal view for group N's research driver: a session that would be promoted is
    journaled as ``discarded`` with :data:`NULL_L2_REASON`; everything else passes through."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)

    def append(self, event: E) -> E:
        if isinstance(event, ResearchFinished) and event.outcome == "promoted":
            event.outcome, event.reason = "discarded", NULL_L2_REASON
        return self._journal.append(event)


class NullResearchDriver:
    """Group N: Level 2's research driver with promotion switched off.

    Sessions run on the same cadence and stagnation triggers with the same agent and gate
    ladder; a module that passes is dropped before it reaches the host, so no mechanism is
    ever live and no ``mechanism_promoted`` event is written.
    """

    def __init__(self, inner: ResearchDriver, host: Any) -> None:
        self.inner = inner
        # Level2Driver hands a module that passed the ladder to ``host.queue_promotion`` and
        # nowhere else. Replacing that method on this run's own host instance is the whole
        # switch: no hook in the driver, and the host is never shared with another run.
        host.queue_promotion = self._drop

    @staticmethod
    def _drop(promotion: Any) -> None:
        return None

    def at_boundary(self, state: StudyState, journal: Journal) -> BoundaryUpdate:
        return self.inner.at_boundary(state, _DiscardingJournal(journal))  # type: ignore[arg-type]

    def close(self) -> None:
        self.inner.close()


def level2_for(
    group: str, config: StudyConfig, run_dir: Path, factory: Level2Factory | None
) -> tuple[MechanismHost | None, ResearchDriver | None]:
    """Host and research driver for a run: none for groups without Level 2."""
    spec = GROUPS[group]
    if not spec.research:
        return None, None
    if factory is None:
        factory = default_level2_factory()
    host, driver = factory(config, run_dir)
    if spec.discard:
        from orchestrator.levels.hooks import NoopMechanismHost

        inner_host = getattr(driver, "host", host)
        return NoopMechanismHost(), NullResearchDriver(driver, inner_host)
    return host, driver


def default_level2_factory() -> Level2Factory:
    from orchestrator.research.wiring import make_level2

    return make_level2


# ---------------------------------------------------------------------------- running


@dataclass(frozen=True)
class RunOutcome:
    plan: RunPlan
    state: str  # "skipped" (already finished) | "ran" | "resumed"
    summary: StudySummary | None


Progress = Callable[[int, int, RunPlan, str], None]  # (position, total, run, what)


def run_ablation(
    base: StudyConfig,
    groups: Sequence[str],
    repeats: int,
    out: Path,
    *,
    level2: Level2Factory | None = None,
    progress: Progress | None = None,
) -> list[RunOutcome]:
    """Run (or resume) every run of the ablation; finished runs are skipped."""
    if repeats < 1:
        raise UserError(f"--repeats must be at least 1 (got {repeats})")
    from orchestrator.report import report_line
    from orchestrator.study import run_study

    out = Path(out)
    check_manifest(base, out)
    plans = plan_runs(base, groups, repeats, out)
    outcomes: list[RunOutcome] = []
    for position, plan in enumerate(plans, start=1):
        state = run_state(plan.out_dir)
        if state == "finished":
            if progress:
                progress(position, len(plans), plan, "finished earlier: skipped")
            outcomes.append(RunOutcome(plan, "skipped", None))
            continue
        if progress:
            progress(position, len(plans), plan, "resuming" if state == "unfinished" else "running")
        host, driver = level2_for(plan.group, plan.config, plan.out_dir, level2)
        summary = run_study(
            plan.config,
            plan.out_dir,
            resume=state == "unfinished",
            mechanism_host=host,
            research=driver,
        )
        if progress:
            progress(position, len(plans), plan, report_line(plan.out_dir))
        outcomes.append(RunOutcome(plan, "resumed" if state == "unfinished" else "ran", summary))
    return outcomes
