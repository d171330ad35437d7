"""Best value per compute-hour with and without pruning of doomed trials.

Runs the product itself: ``run_study`` on cpu-tiny GPT (inline executor, built-in agent,
Level 1 + 1.5, strict acceptance, token budgets), once with ``[pruning]`` off and once on
(the default), for each seed; the two arms of a seed start from the same seed and
alternate order across seeds, so machine drift spreads over both. Compute is CPU seconds:
the study's process and every trial's process (start-up and evaluation included, which
pruning cannot save); unlike wall-clock time it hardly moves when other jobs share the
machine. Wall time is printed too. Prints, per seed and as ratios of the pruning arm to the
no-pruning arm measured in the same run:

- best value found at the same number of trials, and the compute it took;
- improvement over the baseline per compute-hour;
- best value at equal compute: each arm's best-so-far when the faster arm finished;
- pruned trials and the training seconds they did not run (the summary's ``pruned:`` line);
- training tokens run (a compute measure that load on a shared machine does not move).

``--from DIR`` re-reads the run folders of an earlier ``--out DIR`` and prints the same figures.

    .venv/bin/python benchmarks/pruning.py            # ~10 min on 2 cores
    .venv/bin/python benchmarks/pruning.py --quick    # ~1 min
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from orchestrator.config import StudyConfig  # noqa: E402
from orchestrator.events import StudyStarted, TrialFinished  # noqa: E402
from orchestrator.journal import read_events  # noqa: E402
from orchestrator.study import run_study  # noqa: E402
from orchestrator.summary import summary_from_journal  # noqa: E402

# 20 optimizer steps of cpu-tiny (the quickstart's budget): ~7 s per trial with start-up.
DEFAULT_TOKENS = 160_000
DEFAULT_TRIALS = 14
DEFAULT_SEEDS = 2
QUICK = {"tokens": 98_304, "trials": 6, "seeds": 1}


def study_config(seed: int, trials: int, tokens: int, pruning: bool) -> StudyConfig:
    return StudyConfig.from_dict(
        {
            "name": f"prune-{'on' if pruning else 'off'}-s{seed}",
            "iterations": trials,
            "seed": seed,
            "parallel": 1,
            "objective": {"preset": "cpu-tiny", "budget_mode": "tokens", "budget": tokens},
            "levels": {"policy": True, "research": False},
            "pruning": {"enabled": pruning},
            # The compared figure is the search's: the final re-runs and the test-split
            # scoring come on top of it, cost both arms the same and would only dilute it.
            "acceptance": {"final_reruns": 0, "final_test": False},
        }
    )


def _seconds(ts: str, start: datetime) -> float:
    return (datetime.fromisoformat(ts) - start).total_seconds()


def cpu_seconds() -> float:
    """CPU seconds of this process and of every reaped child (the trials' processes)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def run_arm(folder: Path, config: StudyConfig) -> None:
    before = cpu_seconds()
    run_study(config, folder)
    (folder / "bench.json").write_text(json.dumps({"cpu_s": cpu_seconds() - before}))


def analyse(out: Path, seed: int, pruning: bool) -> dict[str, Any]:
    """An arm's figures from its journal alone (``--from`` re-reads finished runs)."""
    summary = summary_from_journal(out)
    events = read_events(out)
    start = datetime.fromisoformat(next(e for e in events if isinstance(e, StudyStarted)).ts)
    finished = [e for e in events if isinstance(e, TrialFinished)]
    # (seconds since start, best value so far) after each finished trial
    steps = [(_seconds(e.ts, start), e.best) for e in finished]
    return {
        "pruning": pruning,
        "seed": seed,
        "wall_s": steps[-1][0] if steps else 0.0,
        "cpu_s": json.loads((out / "bench.json").read_text())["cpu_s"],
        "tokens": sum(e.result.tokens for e in finished if e.result),
        "best": summary.best["value"] if summary.best else None,
        "baseline": summary.baseline_value,
        "pruned": summary.pruned,
        "saved_s": summary.pruned_saved_s,
        "steps": steps,
        "statuses": summary.trials_by_status,
    }


def best_at(steps: list[tuple[float, float | None]], seconds: float) -> float | None:
    best = None
    for at, value in steps:
        if at <= seconds + 1e-9 and value is not None:
            best = value
    return best


def per_hour(arm: dict[str, Any]) -> float | None:
    if arm["best"] is None or arm["baseline"] is None:
        return None
    return (arm["baseline"] - arm["best"]) / (arm["cpu_s"] / 3600.0)


def _f(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 6 trials, 12 steps each")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS)
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS)
    parser.add_argument("--budget-tokens", type=int, default=DEFAULT_TOKENS)
    parser.add_argument("--out", type=Path, default=None, help="keep the run folders here")
    parser.add_argument(
        "--from", dest="reuse", type=Path, default=None, help="re-read the runs of an earlier --out"
    )
    args = parser.parse_args(argv)
    seeds, trials, tokens = args.seeds, args.trials, args.budget_tokens
    if args.quick:
        seeds, trials, tokens = QUICK["seeds"], QUICK["trials"], QUICK["tokens"]
    out = args.reuse or args.out or Path(tempfile.mkdtemp(prefix="bench-pruning-"))
    if args.reuse:
        seeds = len(list(out.glob("off-s*")))
    print(f"cpu-tiny, {trials} search trials of {tokens} tokens, {seeds} seed(s); runs in {out}")
    rows: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for seed in range(seeds):
        order = (False, True) if seed % 2 == 0 else (True, False)
        arms: dict[bool, dict[str, Any]] = {}
        for pruning in order:
            folder = out / f"{'on' if pruning else 'off'}-s{seed}"
            if not args.reuse:
                run_arm(folder, study_config(seed, trials, tokens, pruning))
            arms[pruning] = analyse(folder, seed, pruning)
        rows.append((arms[False], arms[True]))
        for arm in (arms[False], arms[True]):
            print(
                f"seed {seed} pruning={'on ' if arm['pruning'] else 'off'} best={_f(arm['best'])} "
                f"cpu={arm['cpu_s']:.0f}s wall={arm['wall_s']:.0f}s tokens={arm['tokens'] / 1e6:.2f}M "
                f"improvement/h={_f(per_hour(arm), 3)} "
                f"pruned: {arm['pruned']} (saved {arm['saved_s']:.1f} s) {arm['statuses']}",
                flush=True,
            )
    print()
    print("| seed | best off | best on | CPU s off | CPU s on | improvement per CPU-hour off | "
          "on | best at equal CPU off / on | pruned (saved s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    ratios_h, ratios_c, ratios_t, equal = [], [], [], []
    for off, on in rows:
        # The journal times trials in wall seconds: scale each arm's to its CPU seconds.
        cut = min(off["cpu_s"], on["cpu_s"])
        b_off = best_at(off["steps"], cut * off["wall_s"] / off["cpu_s"])
        b_on = best_at(on["steps"], cut * on["wall_s"] / on["cpu_s"])
        equal.append((b_off, b_on))
        h_off, h_on = per_hour(off), per_hour(on)
        if h_off and h_on is not None and h_off > 0:
            ratios_h.append(h_on / h_off)
        ratios_c.append(on["cpu_s"] / off["cpu_s"])
        ratios_t.append(on["tokens"] / off["tokens"])
        print(
            f"| {off['seed']} | {_f(off['best'])} | {_f(on['best'])} | {off['cpu_s']:.0f} | "
            f"{on['cpu_s']:.0f} | {_f(h_off, 3)} | {_f(h_on, 3)} | {_f(b_off)} / {_f(b_on)} | "
            f"{on['pruned']} ({on['saved_s']:.1f}) |"
        )
    print()
    print(f"CPU-seconds ratio (on/off, same trial count): {statistics.mean(ratios_c):.3f}")
    print(f"training tokens ratio (on/off, same trial count): {statistics.mean(ratios_t):.3f}")
    print(
        "improvement per CPU-hour ratio (on/off): "
        + (f"{statistics.mean(ratios_h):.3f}" if ratios_h else "- (no improvement without pruning)")
    )
    deltas = [a - b for a, b in equal if a is not None and b is not None]
    if deltas:
        print(
            f"best at equal CPU, off - on (positive: pruning better): {statistics.mean(deltas):+.4f}"
        )
    pruned = sum(on["pruned"] for _, on in rows)
    saved = sum(on["saved_s"] for _, on in rows)
    print(f"pruned: {pruned} (saved {saved:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
