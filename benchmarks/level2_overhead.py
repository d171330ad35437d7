"""Level 2's cost to a study: ladder time per library mechanism, and the per-iteration
planning overhead of live mechanisms (one sandbox call per hook stage, each mechanism in a
sandbox of its own).

The planning overhead is paid between trials, when the trainer would otherwise start the
next one, so it is reported against a trial's length. The ladder runs in a background
research session and costs the trainers nothing (see tests/research/test_builtin.py).

    .venv/bin/python benchmarks/level2_overhead.py                  # process and docker
    .venv/bin/python benchmarks/level2_overhead.py --backends process --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from contract.hooks import Context
from orchestrator.config import StudyConfig
from orchestrator.level2.mechanisms import LiveMechanismHost, Promotion, store_mechanism
from orchestrator.level2.mechanisms.audit import Auditor
from orchestrator.level2.research import library
from orchestrator.levels.proposals import Proposal
from orchestrator.state import rebuild_state

# A cpu-tiny trial on the quickstart budget takes ~10-20 s on a laptop core: the yardstick
# the planning overhead is compared with.
TRIAL_SECONDS = 15.0
# Finished trials in the benchmark context: a mid-study history, enough for the GP to fit.
HISTORY_TRIALS = 12
# The pause between planning rounds stands in for the trial a study runs there: a warm
# backend starts the next sandboxes (and their imports) during it, as in a real study.
TRIAL_GAP_S = 3.0


def _context(config: StudyConfig) -> Context:
    space = config.search_space()
    defaults = space.defaults()
    events = []
    for i in range(HISTORY_TRIALS):
        changes = {"MATRIX_LR": round(0.04 * (1 + 0.1 * (i % 5)), 4)} if i else {}
        events.append(
            {
                "type": "trial_proposed",
                "index": i,
                "config": {**defaults, **changes},
                "changes": changes,
            }
        )
        spec = {"config": {**defaults, **changes}}
        events.append(
            {
                "type": "trial_finished",
                "index": i,
                "kept": i in (0, 3, 7),
                "result": {"status": "ok", "val_bpb": 4.4 - 0.01 * i, "spec": spec},
            }
        )
    return rebuild_state(config, events).hook_context(HISTORY_TRIALS)


def _planning(client: Any, ctx: Context, repeats: int, gap: float, warm: bool) -> None:
    """Per-iteration planning time with every library mechanism live (3 sandbox calls)."""
    with tempfile.TemporaryDirectory() as tmp:
        # As a study's host: live audits replay calls in the background (off this path).
        host = LiveMechanismHost(client, auditor=Auditor(client))
        for entry in library().values():
            stored = store_mechanism(Path(tmp), entry.name, entry.source)
            host.queue_promotion(Promotion(stored=stored, hooks=entry.hooks))
        host.boundary(0, lambda *a, **k: None)
        per_iteration = []
        for _ in range(repeats + 1):  # the first round teaches a warm backend what to start
            time.sleep(gap)
            started = time.perf_counter()
            host.guide(ctx)
            proposed = host.propose(ctx)
            fallback = [Proposal(changes={"MATRIX_LR": 0.05}, source="llm")]
            host.screen(ctx, proposed.candidates or fallback)
            per_iteration.append(time.perf_counter() - started)
        host.close()
        client.close()
    rounds = per_iteration[1:]
    mean = statistics.mean(rounds)
    print(
        f"planning, {'warm' if warm else 'cold'}, all {len(library())} mechanisms live: "
        f"{mean:.2f} s per iteration (3 sandbox calls; min {min(rounds):.2f}, "
        f"max {max(rounds):.2f}) = {mean / TRIAL_SECONDS:.1%} of a {TRIAL_SECONDS:g} s trial"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="process,docker")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--gap", type=float, default=TRIAL_GAP_S,
        help="seconds between iterations (the trial), when warm sandboxes start",
    )  # fmt: skip
    args = parser.parse_args()
    from sandbox.client import DirectClient

    config = StudyConfig.from_dict({"name": "bench", "iterations": 1})
    ctx = _context(config)
    for backend in args.backends.split(","):
        try:
            client = DirectClient(backend)  # cold: the ladder runs once per module
        except ValueError as exc:
            print(f"== {backend}: skipped ({exc})")
            continue
        print(f"== backend {backend}")
        for entry in library().values():
            started = time.perf_counter()
            report = client.check(entry.source, config.search_space())
            print(
                f"ladder {entry.name:<26} {time.perf_counter() - started:6.2f} s  "
                f"{'accepted' if report.accepted else 'REJECTED: ' + report.reason}"
            )
        for warm in (False, True):
            _planning(DirectClient(backend, warm=warm), ctx, args.repeats, args.gap, warm)


if __name__ == "__main__":
    main()
