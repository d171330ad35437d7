"""The jail's overhead: seconds per cpu-tiny trial, the recipe jailed against not jailed.

    .venv/bin/python benchmarks/code_trial_overhead.py [--rounds 3] [--tokens 16384] [--docker]

Both sides run as a study runs them, through :func:`trainer.supervise.run_supervised` (the
trusted training child): "trusted" trains the recipe in that child; "jailed" is a code
trial of the unchanged recipe (an empty patch), trained and scored in three jails (train,
score, probe). Rounds alternate, so load from other processes hits both alike; the figures
are the best and the median round of each, and the difference is the jail's cost per trial
(start-ups of three jailed interpreters, batches and logits over pipes, the probe).
``--docker`` jails with Docker (the trainer image) instead of bubblewrap.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer.jail import BACKEND_ENV
from trainer.presets import get_preset
from trainer.spec import Budget, TrialSpec
from trainer.supervise import run_supervised

PRESET = "cpu-tiny"
# Two optimiser steps of the default 8192-token batch: the fixed costs dominate, which is
# what this measures; a longer budget adds the same training time to both sides.
DEFAULT_TOKENS = 2 * 8192
DEFAULT_ROUNDS = 3


def one_trial(patch: str | None, tokens: int) -> float:
    spec = TrialSpec(
        trial_id=f"overhead-{time.monotonic_ns()}",
        index=0,
        preset=PRESET,
        dataset="pinned",
        budget=Budget(mode="tokens", amount=tokens),
        config=get_preset(PRESET).space.defaults(),
        seed=0,
        device="cpu",
        patch=patch,
    )
    started = time.perf_counter()
    result = run_supervised(spec)
    elapsed = time.perf_counter() - started
    if result.status != "ok":
        raise SystemExit(
            f"a {'jailed' if patch is not None else 'trusted'} trial failed: {result.error}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS)
    parser.add_argument("--docker", action="store_true", help="jail with Docker, not bwrap")
    args = parser.parse_args()
    os.environ[BACKEND_ENV] = "docker" if args.docker else "process"
    trusted: list[float] = []
    jailed: list[float] = []
    for _ in range(args.rounds):
        trusted.append(one_trial(None, args.tokens))
        jailed.append(one_trial("", args.tokens))
    jail = "docker" if args.docker else "bwrap"
    for name, times in (("trusted", trusted), (f"jailed ({jail})", jailed)):
        print(f"{name:<16} best {min(times):6.2f} s  median {statistics.median(times):6.2f} s")
    print(f"{'jail overhead':<16} best {min(jailed) - min(trusted):6.2f} s  "
          f"median {statistics.median(jailed) - statistics.median(trusted):6.2f} s per trial")  # fmt: skip


if __name__ == "__main__":
    main()
