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
from typing import TYPE_CHECKING

from orchestrator.ablation_groups import (
    DEFAULT_GROUPS,
    DEFAULT_REPEATS,
    GROUPS,
    NULL_L2_REASON,
    Group,
    parse_groups,
)
from orchestrator.errors import UserError
from orchestrator.events import StudyFinished
from orchestrator.journal import journal_path, read_events

if TYPE_CHECKING:
    from orchestrator.config import StudyConfig
    from orchestrator.levels.hooks import MechanismHost, ResearchDriver
    from orchestrator.summary import StudySummary


# The group data lives in orchestrator.ablation_groups; these names stay importable here.
__all__ = [
    "DEFAULT_GROUPS",
    "DEFAULT_REPEATS",
    "GROUPS",
    "NULL_L2_REASON",
    "Group",
    "RunOutcome",
    "RunPlan",
    "group_config",
    "parse_groups",
    "plan_runs",
    "run_ablation",
    "run_state",
]
MANIFEST = "ablation.json"


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
    path = journal_path(Path(out_dir))
    if not path.exists() or path.stat().st_size == 0:
        return "new"
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

# (config, run_dir, discard_reason=...) -> (mechanism host, research driver) for a study with
# Level 2 on. The same factory ``bilevel study`` uses, so groups C/D run exactly what a user's
# study runs; group N passes ``discard_reason`` (Level2Driver's switch for the null control).
Level2Factory = Callable[..., tuple["MechanismHost", "ResearchDriver"]]


def level2_for(
    group: str, config: StudyConfig, run_dir: Path, factory: Level2Factory | None
) -> tuple[MechanismHost | None, ResearchDriver | None]:
    """Host and research driver for a run: none for groups without Level 2."""
    spec = GROUPS[group]
    if not spec.research:
        return None, None
    if factory is None:
        factory = default_level2_factory()
    if spec.discard:  # sessions run in full; what passes the ladder is discarded, by design
        return factory(config, run_dir, discard_reason=NULL_L2_REASON)
    return factory(config, run_dir)


def default_level2_factory() -> Level2Factory:
    from orchestrator.level2.research.wiring import make_level2

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
    from orchestrator.dashboard.progress import progress_observer
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
            observer=progress_observer(plan.out_dir),  # live progress for `bilevel dashboard`
        )
        if progress:
            progress(position, len(plans), plan, report_line(plan.out_dir))
        outcomes.append(RunOutcome(plan, "resumed" if state == "unfinished" else "ran", summary))
    return outcomes
