"""Which source's candidate runs a trial: Level 1 or one live mechanism, by earned credit.

DESIGN §4.2: after the screens, the orchestrator picks the trial's *source* (Level 1 or one
mechanism that proposed), then runs that source's highest-priority survivor; ``priority``
orders candidates only within a source. Level 2 improves Level 1's search; it never
silences it. The default rule, :class:`CreditArbiter`, is a discounted UCB bandit over
sources whose reward is a trial's kept improvement over the incumbent (direction-aware,
normalised by the largest improvement of the study so far), with two guarantees that hold
whatever the credits say:

1. **Level 1's share.** Counted from the first trial where a mechanism competed, Level 1
   runs at least one trial in every ``LEVEL1_EVERY`` consecutive ones, and at least
   1/``LEVEL1_EVERY`` of them at every point of the study (whenever it has a valid,
   unscreened proposal).
2. **Exploration of a new mechanism.** A mechanism that has run fewer than
   ``NEW_MECHANISM_TRIALS`` trials gets the next contested trial (after Level 1's share),
   so no mechanism is judged on zero evidence.

The rule is a pure function of its input, which is derived from the journal (finished trials
and earlier choices), so a resumed study makes the same choices and the built-in quickstart
makes the same ones run to run. Another rule plugs in through ``levels.arbiter`` in the
study file (a dotted ``module:Class`` path; the class takes no arguments).
"""

from __future__ import annotations

import hashlib
import importlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypedDict, runtime_checkable

from orchestrator.config import DEFAULT_ARBITER
from orchestrator.errors import UserError
from orchestrator.metric import Metric

if TYPE_CHECKING:
    from orchestrator.config import StudyConfig
    from orchestrator.state import StudyState, TrialRecord

LEVEL1 = "level1"
# Trial sources that are Level 1 (an LLM's proposal, or the built-in agent's).
LEVEL1_SOURCES = frozenset({"llm", "builtin"})
# Level 1 runs at least one trial in this many once mechanisms compete (Level 2 improves
# Level 1's search and must never silence it): enough for its hypotheses to be tested, few
# enough that a mechanism with earned credit runs most of the trials.
LEVEL1_EVERY = 4
# Trials a new mechanism runs before the bandit judges it: one draw is a coin flip.
NEW_MECHANISM_TRIALS = 2
# Discount per search trial of age: evidence halves in about 7 trials (0.9^7 = 0.48), so a
# source that helped early and stopped helping loses its share within a study of 30.
DISCOUNT = 0.9
# UCB exploration weight on rewards in [0, 1]. 0.5 lets a source with a clear record
# keep most trials while one with little recent evidence still gets revisited.
EXPLORATION = 0.5


def source_key(trial_source: str) -> str | None:
    """The arbitration source of a trial's ``source`` (None: not a search proposal)."""
    if trial_source in LEVEL1_SOURCES:
        return LEVEL1
    if trial_source.startswith("mechanism:"):
        return trial_source
    return None


@dataclass(frozen=True)
class Outcome:
    """One finished search trial as credit sees it."""

    index: int
    source: str  # source_key
    reward: float  # kept improvement over the incumbent, normalised to [0, 1]
    improved: bool  # kept as the new best


@dataclass(frozen=True)
class ArbiterInput:
    """Everything a rule may read. ``ran`` lists the arbitration source of every search
    trial proposed since the first contested choice (pending ones included), oldest first."""

    iteration: int
    seed: int
    outcomes: list[Outcome]
    ran: list[str]
    runs: dict[str, int] = field(default_factory=dict)  # source -> trials it ran, all study


@dataclass(frozen=True)
class SourceCredit:
    source: str
    trials: int  # finished search trials it ran
    improvements: int  # of those, kept as the new best
    weight: float  # discounted number of trials (evidence)
    credit: float  # discounted mean reward
    bonus: float  # UCB exploration bonus (inf: no evidence yet)

    @property
    def score(self) -> float:
        return self.credit + self.bonus


class CreditJSON(TypedDict):
    """A :class:`SourceCredit` as journaled in ``source_chosen.credits`` (rounded; ``bonus``
    None: no evidence yet)."""

    source: str
    trials: int
    improvements: int
    weight: float
    credit: float
    bonus: float | None


@dataclass(frozen=True)
class Choice:
    source: str
    rule: str  # only | level1-share | explore-new | credit
    credits: dict[str, SourceCredit]

    def credits_json(self) -> dict[str, CreditJSON]:
        return {
            name: CreditJSON(
                source=c.source,
                trials=c.trials,
                improvements=c.improvements,
                weight=round(c.weight, 6),
                credit=round(c.credit, 6),
                bonus=None if math.isinf(c.bonus) else round(c.bonus, 6),
            )
            for name, c in self.credits.items()
        }


@runtime_checkable
class Arbiter(Protocol):
    def choose(self, offered: list[str], data: ArbiterInput) -> Choice:
        """Pick one of ``offered`` (sources with a surviving candidate, Level 1 first)."""
        ...


def credits(outcomes: list[Outcome], iteration: int, sources: list[str]) -> dict[str, SourceCredit]:
    """Discounted credit of each source in ``sources`` (plus every source with outcomes)."""
    names = list(dict.fromkeys([*sources, *(o.source for o in outcomes)]))
    weight = dict.fromkeys(names, 0.0)
    reward = dict.fromkeys(names, 0.0)
    trials = dict.fromkeys(names, 0)
    improved = dict.fromkeys(names, 0)
    for o in outcomes:
        w = DISCOUNT ** max(0, iteration - o.index - 1)
        weight[o.source] += w
        reward[o.source] += w * o.reward
        trials[o.source] += 1
        improved[o.source] += o.improved
    total = sum(weight.values())
    out = {}
    for name in names:
        n = weight[name]
        bonus = EXPLORATION * math.sqrt(2 * math.log(max(total, math.e)) / n) if n else math.inf
        out[name] = SourceCredit(
            source=name,
            trials=trials[name],
            improvements=improved[name],
            weight=n,
            credit=reward[name] / n if n else 0.0,
            bonus=bonus,
        )
    return out


def _tiebreak(seed: int, iteration: int, source: str) -> str:
    """A stable, seeded order for equal scores (Python's hash() differs per process)."""
    return hashlib.sha256(f"{seed}:{iteration}:{source}".encode()).hexdigest()


class CreditArbiter:
    """Discounted UCB over sources, with Level 1's share and new mechanisms' exploration."""

    def choose(self, offered: list[str], data: ArbiterInput) -> Choice:
        if not offered:
            raise ValueError("nothing offered to choose from")
        table = credits(data.outcomes, data.iteration, offered)
        if len(offered) == 1:
            return Choice(offered[0], "only", table)
        if LEVEL1 in offered:
            level1_runs = sum(1 for s in data.ran if s == LEVEL1)
            recent = data.ran[-(LEVEL1_EVERY - 1) :]
            # After this trial, Level 1 holds at least 1/LEVEL1_EVERY of the window, and
            # every LEVEL1_EVERY consecutive trials of it include one of Level 1's.
            behind = level1_runs < math.ceil((len(data.ran) + 1) / LEVEL1_EVERY)
            starved = len(recent) == LEVEL1_EVERY - 1 and LEVEL1 not in recent
            if behind or starved:
                return Choice(LEVEL1, "level1-share", table)
        new = [s for s in offered if s != LEVEL1 and data.runs.get(s, 0) < NEW_MECHANISM_TRIALS]
        if new:
            return Choice(new[0], "explore-new", table)
        best = max(
            offered,
            key=lambda s: (table[s].score, _tiebreak(data.seed, data.iteration, s)),
        )
        return Choice(best, "credit", table)


# ---------------------------------------------------------------------------- from the state


def study_metric(config: StudyConfig) -> Metric:
    """The study's metric (name and direction); minimise val_bpb unless the study says so."""
    return config.metric()


def _value(record: TrialRecord) -> float | None:
    return record.value if record.value is not None else record.val_bpb


def outcomes(state: StudyState) -> list[Outcome]:
    """Finished search trials with their rewards, oldest first.

    A trial's gain is how much it improved on the incumbent before it (direction-aware);
    only a *kept* trial earns it (acceptance may demand more than noise). Gains are
    normalised by the largest gain of the study so far, so rewards lie in [0, 1] whatever
    the metric's units.
    """
    metric = study_metric(state.config)
    incumbent: float | None = None
    raw: list[tuple[int, str, float, bool]] = []
    for t in state.ordered():
        if not t.finished:
            continue
        key = source_key(t.source)
        value = _value(t)
        gain = 0.0
        if t.kept and value is not None and incumbent is not None:
            gain = max(0.0, metric.improvement(incumbent, value) or 0.0)
        if key is not None:
            raw.append((t.index, key, gain, bool(t.kept) and incumbent is not None))
        if t.kept and value is not None:
            incumbent = value
    top = max((g for _, _, g, _ in raw), default=0.0)
    return [Outcome(i, k, g / top if top > 0 else 0.0, imp) for i, k, g, imp in raw]


def arbiter_input(state: StudyState, iteration: int) -> ArbiterInput:
    """What the rule reads, from the journal-built state (so ``--resume`` rebuilds it)."""
    contested = [c.index for c in state.choices if len(c.offered) > 1]
    start = contested[0] if contested else iteration
    ran: list[str] = []
    runs: dict[str, int] = {}
    for t in state.search_trials():
        key = source_key(t.source)
        if key is None:
            continue
        runs[key] = runs.get(key, 0) + 1
        if t.index >= start:
            ran.append(key)
    return ArbiterInput(
        iteration=iteration,
        seed=state.config.seed,
        outcomes=outcomes(state),
        ran=ran,
        runs=runs,
    )


def make_arbiter(path: str = DEFAULT_ARBITER) -> Arbiter:
    """The rule named by ``levels.arbiter`` (``module:Class``); UserError when it is not one."""
    module_name, _, class_name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
        arbiter = cls()
    except Exception as exc:  # the user's own class, named in the study file: any failure to
        # load or build it is the user's to fix, reported before the study starts
        raise UserError(
            f"levels.arbiter = {path!r} cannot be loaded ({type(exc).__name__}: {exc}); "
            f"name a class as module:Class, e.g. {DEFAULT_ARBITER!r}"
        ) from None
    if not isinstance(arbiter, Arbiter):
        raise UserError(f"levels.arbiter = {path!r} has no choose(offered, data) method")
    return arbiter


# ---------------------------------------------------------------------------- the credit table


@dataclass(frozen=True)
class CreditRow:
    """One source in the summary's credit table (counts only trials that ran)."""

    source: str
    trials: int  # search trials it ran (finished)
    improvements: int  # of those, kept as the new best
    credit: float  # discounted mean reward now
    chosen_by: dict[str, int]  # arbitration rule -> trials it won that way
    preempted: int  # contested trials where its candidate survived but another ran


def credit_table(state: StudyState) -> list[CreditRow]:
    """Level 1 first, then mechanisms in order of their first trial; from the journal."""
    table = credits(outcomes(state), state.next_index(), [LEVEL1])
    rules: dict[str, dict[str, int]] = {}
    preempted: dict[str, int] = {}
    for c in state.choices:
        by = rules.setdefault(c.chosen or "?", {})
        by[c.rule or "?"] = by.get(c.rule or "?", 0) + 1
        for p in c.preempted:
            preempted[str(p.get("source"))] = preempted.get(str(p.get("source")), 0) + 1
    names = list(dict.fromkeys([*table, *rules, *preempted]))
    return [
        CreditRow(
            source=name,
            trials=table[name].trials if name in table else 0,
            improvements=table[name].improvements if name in table else 0,
            credit=table[name].credit if name in table else 0.0,
            chosen_by=rules.get(name, {}),
            preempted=preempted.get(name, 0),
        )
        for name in names
    ]
