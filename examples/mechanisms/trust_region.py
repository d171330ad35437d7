"""Trust-region search around the incumbent, with a crash guard.

- guide: once the last few trials stop improving, tell Level 1 to focus on the parameters
  whose changes helped most so far.
- propose: one candidate per step that moves the most promising parameter a small step from
  the incumbent (multiplicatively for log-scale parameters), inside its range.
- screen: reject candidates that repeat a configuration that already ran, or that move a
  parameter towards a value that crashed (oom/diverged) before.
"""

from __future__ import annotations

from collections import defaultdict

from sandbox.api import Candidate, Context, Guidance, Mechanism, Param, Verdict

# Trials without a new best before the search counts as stagnating.
PATIENCE = 4
# Relative step for log-scale parameters (×1.5 or ÷1.5) and fraction of range otherwise.
LOG_STEP = 1.5
LINEAR_STEP = 0.1
FAILED = {"oom", "diverged", "crashed", "timeout"}


def _gains(ctx: Context) -> dict[str, float]:
    """Total val_bpb improvement credited to each parameter a kept trial changed."""
    gains: dict[str, float] = defaultdict(float)
    previous = None
    for trial in ctx.history:
        if not trial.ok:
            continue
        if previous is not None and trial.kept and trial.val_bpb < previous:
            for name in trial.changes:
                gains[name] += previous - trial.val_bpb
        if previous is None or trial.val_bpb < previous:
            previous = trial.val_bpb
    return gains


def _step(p: Param, value: float, direction: int) -> float | int | None:
    if p.kind == "choice" or p.low is None or p.high is None:
        return None
    if p.kind == "pow2":
        new = int(value) * 2 if direction > 0 else int(value) // 2
    elif p.log and value > 0:
        new = value * LOG_STEP if direction > 0 else value / LOG_STEP
    else:
        new = value + direction * LINEAR_STEP * (p.high - p.low)
    if p.kind == "int":
        new = round(new)
    if not p.low <= new <= p.high:
        return None
    return new


class TrustRegion(Mechanism):
    name = "trust_region"

    def _stagnating(self, ctx: Context) -> bool:
        if ctx.best is None:
            return False
        return ctx.iteration - ctx.best.index > PATIENCE

    def guide(self, ctx: Context) -> Guidance | None:
        if not self._stagnating(ctx):
            return None
        gains = _gains(ctx)
        tunable = {p.name for p in ctx.tunable()}
        focus = [n for n, _ in sorted(gains.items(), key=lambda kv: -kv[1]) if n in tunable][:3]
        hint = (
            f"No improvement in {ctx.iteration - ctx.best.index} trials. "
            "Make small moves around the incumbent instead of large jumps."
        )
        return Guidance(hint=hint, focus=focus)

    def propose(self, ctx: Context) -> list[Candidate]:
        gains = _gains(ctx)
        ranked = sorted(ctx.tunable(), key=lambda p: (-gains.get(p.name, 0.0), p.name))
        rng = ctx.rng()
        for p in ranked:
            value = ctx.base.get(p.name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                continue
            direction = 1 if rng.random() < 0.5 else -1
            new = _step(p, float(value), direction) or _step(p, float(value), -direction)
            if new is None or ctx.check({p.name: new}):
                continue
            if p.kind in ("int", "pow2"):
                new = int(new)
            return [
                Candidate(
                    changes={p.name: new},
                    rationale=f"small step on {p.name} ({value:g} -> {new:g}) around the incumbent",
                    priority=0.5 + min(gains.get(p.name, 0.0) * 10, 0.5),
                )
            ]
        return []

    def screen(self, ctx: Context, candidates: list[Candidate]) -> list[Verdict]:
        seen = {tuple(sorted((k, repr(v)) for k, v in t.config.items())) for t in ctx.history}
        failed_values = {
            (k, repr(v)) for t in ctx.history if t.status in FAILED for k, v in t.changes.items()
        }
        verdicts = []
        for cand in candidates:
            config = ctx.apply(cand)
            key = tuple(sorted((k, repr(v)) for k, v in config.items()))
            if key in seen:
                verdicts.append(Verdict(False, "this exact configuration already ran"))
                continue
            bad = [k for k, v in cand.changes.items() if (k, repr(v)) in failed_values]
            if bad:
                verdicts.append(Verdict(False, f"{', '.join(bad)} at this value failed before"))
                continue
            verdicts.append(Verdict(True))
        return verdicts
