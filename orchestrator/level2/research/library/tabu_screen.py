"""Tabu screening: reject a candidate whose configuration was already tried.

Tabu search (Glover, 1986) forbids revisiting recent solutions so a local search cannot
cycle. An LLM proposer repeats itself in exactly that way: it re-suggests a configuration
it has forgotten it tried. This mechanism keeps the full history as the tabu list and
rejects any candidate that lands on a configuration already run, within a relative
tolerance for numbers (a 0.1% learning-rate change is not a new experiment).
"""

from sandbox.api import Candidate, Context, Mechanism, Verdict

# Two numbers closer than this (relative to their magnitude) are the same setting: noise
# in val_bpb swamps any effect of a smaller change.
RELATIVE_TOLERANCE = 0.02


def _same_value(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)):
        return a == b
    if not isinstance(b, (int, float)):
        return False
    scale = max(abs(a), abs(b), 1e-12)
    return abs(a - b) / scale <= RELATIVE_TOLERANCE


def _same_config(a: dict, b: dict) -> bool:
    keys = set(a) | set(b)
    return all(_same_value(a.get(k), b.get(k)) for k in keys)


class TabuScreen(Mechanism):
    name = "tabu_screen"

    def screen(self, ctx: Context, candidates: list[Candidate]) -> list[Verdict]:
        tried = [t for t in ctx.history if t.status != "invalid"]
        verdicts = []
        for candidate in candidates:
            config = ctx.apply(candidate)
            repeat = next((t for t in tried if _same_config(t.config, config)), None)
            if repeat is None:
                verdicts.append(Verdict(accept=True))
            else:
                verdicts.append(
                    Verdict(
                        accept=False,
                        reason=f"repeats trial {repeat.index} (status {repeat.status}); "
                        "change at least one value by more than "
                        f"{RELATIVE_TOLERANCE:.0%}",
                    )
                )
        return verdicts
