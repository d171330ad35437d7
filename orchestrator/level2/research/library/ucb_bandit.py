"""An upper-confidence bandit over parameters: which knob is worth turning next.

Each tunable parameter is an arm. Pulling an arm is a trial whose changes touched it; the
reward is how much that trial improved on the best score before it (0 when it did not;
``score`` is the metric made minimise-normal, so this works in either direction).
UCB1 (Auer et al., 2002) balances the mean reward of an arm against how rarely it was
pulled, so Level 1 is steered toward parameters that paid off and toward ones nobody has
tried, instead of circling the two it likes. The mechanism guides (focus + hint) and
proposes one step on the top arm, in the direction that worked last time.
"""

import math

from sandbox.api import Candidate, Context, Guidance, Mechanism

# The UCB1 exploration weight; sqrt(2) is the textbook choice for rewards in [0, 1].
EXPLORATION = math.sqrt(2)
# How many arms Level 1 is told to focus on: enough to combine, few enough to attribute.
FOCUS_SIZE = 3
# Multiplicative step for log-scaled numbers, additive fraction of the range otherwise.
LOG_STEP = 1.5
LINEAR_STEP = 0.15
# The bandit's own proposal goes ahead of Level 1's (priority 0) but behind exploitation
# mechanisms such as a surrogate model.
PRIORITY = 0.3


def _rewards(ctx: Context) -> dict[str, list[float]]:
    """param -> list of rewards from the trials that changed it."""
    rewards: dict[str, list[float]] = {p.name: [] for p in ctx.space if not p.frozen}
    best = None
    for trial in ctx.history:
        if trial.score is not None and best is not None:
            gain = max(0.0, (best - trial.score) / max(abs(best), 1e-12))
            for name in trial.changes:
                if name in rewards:
                    rewards[name].append(min(1.0, gain * 100))
        elif trial.status not in ("ok",) and best is not None:
            for name in trial.changes:
                if name in rewards:
                    rewards[name].append(0.0)
        if trial.score is not None:
            best = trial.score if best is None else min(best, trial.score)
    return rewards


def _ranked(ctx: Context) -> list:
    rewards = _rewards(ctx)
    total = sum(len(r) for r in rewards.values()) + 1
    scored = []
    for name, rs in rewards.items():
        if not rs:
            scored.append((float("inf"), name))
        else:
            mean = sum(rs) / len(rs)
            scored.append((mean + EXPLORATION * math.sqrt(math.log(total) / len(rs)), name))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return scored


def _last_direction(ctx: Context, name: str) -> int:
    """+1 or -1: the direction of the most recent kept change to ``name``, else +1."""
    for trial in reversed(ctx.history):
        if trial.kept and name in trial.changes:
            before = ctx.base.get(name)
            after = trial.changes[name]
            if isinstance(before, (int, float)) and isinstance(after, (int, float)):
                return 1 if after >= before else -1
    return 1 if ctx.iteration % 2 == 0 else -1


def _step(param, value, direction: int):
    if param.kind == "choice":
        choices = list(param.choices)
        i = choices.index(value) if value in choices else 0
        return choices[(i + direction) % len(choices)]
    if param.kind == "pow2":
        new = int(value * 2) if direction > 0 else int(value // 2)
    elif param.log and value > 0:
        new = value * LOG_STEP if direction > 0 else value / LOG_STEP
    else:
        new = value + direction * LINEAR_STEP * (param.high - param.low)
    new = min(max(new, param.low), param.high)
    if param.kind == "int":
        new = round(new)
    return new


class UCBParameterBandit(Mechanism):
    name = "ucb_bandit"

    def guide(self, ctx: Context) -> Guidance | None:
        ranked = _ranked(ctx)
        if not ranked:
            return None
        focus = [name for _, name in ranked[:FOCUS_SIZE]]
        untried = [name for score, name in ranked if score == float("inf")]
        hint = "Upper-confidence ranking of parameters by past gains: " + ", ".join(focus) + "."
        if untried:
            hint += " Never varied yet: " + ", ".join(untried[:FOCUS_SIZE]) + "."
        return Guidance(hint=hint, focus=focus)

    def propose(self, ctx: Context) -> list[Candidate]:
        ranked = _ranked(ctx)
        if not ranked or not ctx.history:
            return []
        name = ranked[0][1]
        param = ctx.param(name)
        value = ctx.base.get(name, param.default)
        if value is None:
            return []
        new = _step(param, value, _last_direction(ctx, name))
        if new == value:
            return []
        return [
            Candidate(
                changes={name: new},
                rationale=f"UCB1 picks {name} (highest upper confidence bound on gain)",
                priority=PRIORITY,
            )
        ]
