"""The end-of-study summary, derived from study state (and so from the journal alone)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NotRequired, TypedDict

from contract.trials import (
    RESEED_BASELINE_SOURCE,
    RESEED_SOURCE,
    TEST_BASELINE_SOURCE,
    TEST_BEST_SOURCE,
)
from orchestrator.acceptance.judge import BestEstimateRecord, best_estimate, estimate_text
from orchestrator.config import StudyConfig
from orchestrator.events import STUDY_STARTED, StudyStarted
from orchestrator.journal import journal_path, read_events
from orchestrator.levels.arbiter import CreditRow, credit_table
from orchestrator.state import StudyState, rebuild_state


class BestRow(TypedDict):
    """The best trial as summarised and journaled (``study_finished.best``): its index, value
    and config; with evaluations, its mean estimate's keys; under val_bpb, that name too."""

    index: int
    value: float | None
    config: dict[str, object]
    mean: NotRequired[float]
    n: NotRequired[int]
    low: NotRequired[float | None]
    high: NotRequired[float | None]
    all_mean: NotRequired[float | None]
    all_n: NotRequired[int]
    unselected: NotRequired[bool]
    val_bpb: NotRequired[float | None]


class CreditRecord(TypedDict):
    """A :class:`~orchestrator.levels.arbiter.CreditRow` as summarised."""

    source: str
    trials: int
    improvements: int
    credit: float
    chosen_by: dict[str, int]
    preempted: int


def credit_record(row: CreditRow) -> CreditRecord:
    return CreditRecord(
        source=row.source,
        trials=row.trials,
        improvements=row.improvements,
        credit=row.credit,
        chosen_by=dict(row.chosen_by),
        preempted=row.preempted,
    )


@dataclass
class StudySummary:
    study: str
    run_dir: str
    journal: str
    agent: str
    finished: bool
    best: BestRow | None
    baseline_value: float | None  # the metric's value of the baseline trial
    improvement: float | None  # positive = better, whatever the direction
    trials_by_status: dict[str, int]
    llm_cost_usd: float
    noise_floor: float | None = None
    final_reruns: list[float] = field(default_factory=list)
    metric: str = "val_bpb"
    direction: str = "minimize"
    # One row per trial source (Level 1, each mechanism): what arbitration gave it and why.
    credits: list[CreditRecord] = field(default_factory=list)
    # The baseline re-run on the best's fresh seeds (noise-aware): the unbiased comparison.
    baseline_reruns: list[float] = field(default_factory=list)
    rerun_improvement: float | None = None  # mean baseline re-run vs mean best re-run
    # GPT: the best and the baseline scored on the held-out test split (never selected on).
    test_best: float | None = None
    test_baseline: float | None = None
    test_improvement: float | None = None
    llm_tokens: int = 0
    llm_cost_known: bool = True  # False: a call's model had no price (orchestrator.prices)
    # Trials stopped early as doomed (orchestrator/pruning.py) and the training seconds
    # they did not run (estimated from each one's pace when it was stopped).
    pruned: int = 0
    pruned_saved_s: float = 0.0
    # Whether this study could stop trials early at all: no "pruned: 0" line for one that
    # could not (a function, command or benchmark objective reports no loss while it runs).
    pruning: bool = True
    # The incumbent as the mean of all its evaluations, with n and a 95% interval
    # (orchestrator/acceptance/judge.py): `{index, mean, n, low, high}`. Under the paired
    # rule this is the reported best; a single draw carries the luck that selected it.
    best_estimate: BestEstimateRecord | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def baseline_val_bpb(self) -> float | None:
        """The baseline's value under GPT's old name (None for other metrics)."""
        return self.baseline_value if self.metric == "val_bpb" else None

    def lines(self) -> list[str]:
        """The grep-able block: one ``key: value`` per line, stable keys."""
        best = self.best
        spread = ""
        if len(self.final_reruns) >= 2:
            spread = (
                f" (re-runs mean {statistics.mean(self.final_reruns):.5f}"
                f" ± {statistics.stdev(self.final_reruns):.5f}, n={len(self.final_reruns)})"
            )
        status = ", ".join(f"{k}={v}" for k, v in self.trials_by_status.items())
        return [
            f"study: {self.study}",
            f"state: {'finished' if self.finished else 'unfinished (resume with --resume)'}",
            f"agent: {self.agent}",
            f"best_trial: {best.get('index', '-') if best else '-'}",
            f"metric: {self.metric} ({self.direction})",
            f"best_{self.metric}: {_fmt(best.get('value') if best else None)}{spread}",
            *(
                [f"best_mean_{self.metric}: {estimate_text(self.best_estimate)}"]
                if self.best_estimate
                else []
            ),
            f"baseline_{self.metric}: {_fmt(self.baseline_value)}",
            f"improvement: {_fmt(self.improvement)}"
            + (" (selection: the best of the search's draws)" if self.final_reruns else ""),
            *(
                [
                    f"rerun_improvement: {_fmt(self.rerun_improvement)} (best vs baseline re-run "
                    f"on the same {len(self.baseline_reruns)} fresh seeds)"
                ]
                if self.baseline_reruns
                else []
            ),
            *(
                [
                    f"test_improvement: {_fmt(self.test_improvement)} (best "
                    f"{_fmt(self.test_best)} vs baseline {_fmt(self.test_baseline)} on the "
                    "held-out test split, which no trial was selected on)"
                ]
                if self.test_best is not None or self.test_baseline is not None
                else []
            ),
            f"noise_floor: {_fmt(self.noise_floor)}",
            f"trials: {status or 'none'}",
            *(
                [f"pruned: {self.pruned} (saved {self.pruned_saved_s:.1f} s)"]
                if self.pruning or self.pruned
                else []
            ),
            *(credit_line(row) for row in self.credits),
            f"llm_cost_usd: {self.llm_cost_usd:.4f}"
            if self.llm_cost_known
            else f"llm_cost_usd: cost unknown ({self.llm_tokens} tokens on a model with no "
            "known price; set llm.price_prompt_per_mtok and llm.price_completion_per_mtok)",
            f"journal: {self.journal}",
        ]


def credit_line(row: CreditRecord) -> str:
    """``credit.level1: trials=8 improvements=2 credit=0.1200 chosen_by=credit:3,...``."""
    rules = ",".join(f"{k}:{v}" for k, v in sorted(row["chosen_by"].items())) or "-"
    return (
        f"credit.{row['source']}: trials={row['trials']} improvements={row['improvements']} "
        f"credit={row['credit']:.4f} chosen_by={rules} preempted={row['preempted']}"
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.5f}"


def summarize(state: StudyState, run_dir: Path, agent: str) -> StudySummary:
    best = state.best()
    baseline = state.baseline()
    metric = state.config.metric()
    base_val = baseline.value if baseline else None
    best_val = best.value if best else None
    best_row: BestRow | None = None
    estimate = best_estimate(state) if best else None
    if best:
        best_row = BestRow(index=best.index, value=best.value, config=best.config)
        if estimate is not None:
            record = estimate.as_dict()
            best_row.update(  # every key of the estimate but its index, in its order
                {
                    "mean": record["mean"],
                    "n": record["n"],
                    "low": record["low"],
                    "high": record["high"],
                    "all_mean": record["all_mean"],
                    "all_n": record["all_n"],
                    "unselected": record["unselected"],
                }
            )
        if metric.name == "val_bpb":
            best_row["val_bpb"] = best.value  # GPT's journals and readers use this name
    return StudySummary(
        study=state.config.name,
        run_dir=str(run_dir),
        journal=str(journal_path(run_dir)),
        agent=agent,
        finished=state.finished,
        best=best_row,
        baseline_value=base_val,
        improvement=metric.improvement(base_val, best_val),
        metric=metric.name,
        direction=metric.direction,
        trials_by_status=state.trials_by_status(),
        llm_cost_usd=state.llm_cost_usd,
        noise_floor=state.noise_floor,
        final_reruns=list(state.final_reruns) or reruns_of(state, RESEED_SOURCE),
        credits=[credit_record(row) for row in credit_table(state)],
        baseline_reruns=reruns_of(state, RESEED_BASELINE_SOURCE),
        llm_tokens=state.llm_tokens,
        test_best=_first(reruns_of(state, TEST_BEST_SOURCE)),
        test_baseline=_first(reruns_of(state, "test-baseline")),
        test_improvement=metric.improvement(
            _first(reruns_of(state, TEST_BASELINE_SOURCE)),
            _first(reruns_of(state, TEST_BEST_SOURCE)),
        ),
        llm_cost_known=not state.llm_unpriced,
        rerun_improvement=rerun_improvement(state),
        pruned=state.trials_by_status().get("pruned", 0),
        pruned_saved_s=state.pruned_saved_s,
        pruning=state.config.pruning_active(),
        best_estimate=estimate.as_dict() if estimate else None,
    )


def _first(values: list[float]) -> float | None:
    return values[0] if values else None


def reruns_of(state: StudyState, source: str) -> list[float]:
    return [t.value for t in state.ordered() if t.source == source and t.value is not None]


def rerun_improvement(state: StudyState) -> float | None:
    """Mean of the best's fresh-seed re-runs against the baseline's on the same seeds:
    the improvement free of the search's selection (positive is better)."""
    best, base = reruns_of(state, RESEED_SOURCE), reruns_of(state, RESEED_BASELINE_SOURCE)
    if not best or not base:
        return None
    return state.config.metric().improvement(statistics.mean(base), statistics.mean(best))


def summary_from_journal(run_dir: Path) -> StudySummary:
    """What ``bilevel status RUN_DIR`` prints: rebuilt from ``events.jsonl`` only."""
    events = read_events(journal_path(run_dir))
    starts = [e for e in events if isinstance(e, StudyStarted)]
    if not starts:
        raise ValueError(f"{journal_path(run_dir)} has no {STUDY_STARTED} event")
    config = StudyConfig.model_validate(starts[-1].config)
    state = rebuild_state(config, events)
    return summarize(state, Path(run_dir), starts[-1].agent if starts[-1].was_set("agent") else "?")
