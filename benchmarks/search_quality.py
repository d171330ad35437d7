"""Search quality: the built-in agent with and without Level 2 against random search and TPE.

Every method gets the same objective (cpu-tiny, ``tokens`` budget, so a configuration gives
the same val_bpb on any machine), the same number of trials (the defaults first, as every
study starts from its baseline), and the same seeds: seed s fixes the training seed of every
trial of every method, so methods differ only in which configurations they try. Trials run
through the study loop's own inline executor (a real child process per trial).

Methods:
  builtin      the study loop with the built-in agent, Levels 1 + 1.5
  builtin-l2   the same plus Level 2 (research sessions, mechanisms through the sandbox)
  random       uniform over the tunable space (log-uniform where the param is log-scaled)
  tpe          Optuna's Tree-structured Parzen Estimator (a real, widely used peer)

Prints best val_bpb per method (mean ± sd over seeds, min, max), the improvement over the
baseline, and wall time. Small defaults run in ≲ 15 minutes on 2 CPU cores:

    .venv/bin/python benchmarks/search_quality.py                    # 3 seeds x 8 trials
    .venv/bin/python benchmarks/search_quality.py --seeds 5 --trials 30 --budget-tokens 60000
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.config import StudyConfig
from trainer.presets import check_combination, get_preset
from trainer.spec import Budget, Param, TrialResult, TrialSpec

PRESET = "cpu-tiny"
# Small enough that 4 methods x 3 seeds x 8 trials fit in ~15 min on 2 shared cores (a trial
# is ~2 s of training plus ~5 s of process and data start-up), large enough that the batch
# size trade-off shows: at 24k tokens the default batch takes 3 optimizer steps, 1k takes 24.
DEFAULT_SEEDS = 3
DEFAULT_TRIALS = 8
DEFAULT_BUDGET_TOKENS = 24_576
# The study defaults (Level 1.5 every 5, Level 2 every 10) would never fire in 8 trials; at
# these cadences Level 2 gets a session early enough for its mechanism to shape trials.
DEFAULT_POLICY_EVERY = 3
DEFAULT_RESEARCH_EVERY = 3
METHODS = ("builtin", "builtin-l2", "random", "tpe")
# Failed trials (invalid, diverged) have no val_bpb; TPE learns from them as failures.
POLL_S = 0.2


@dataclass
class MethodRun:
    method: str
    seed: int
    best: float | None
    baseline: float | None
    trials: int
    failed: int
    seconds: float


# ------------------------------------------------------------------------------ trials

NextConfig = Callable[[list[TrialResult]], dict[str, Any]]
# Proposals that fail the static combination check are redrawn, not run: the study loop
# also validates a proposal before it becomes a trial, so no method pays a trial for one.
MAX_REDRAWS = 1000


def run_sequential(
    next_config: NextConfig, trials: int, seed: int, budget: Budget
) -> list[TrialResult]:
    """``trials`` trials one after another through the study loop's inline executor;
    ``next_config(results so far)`` picks each configuration (trial 0 is the defaults)."""
    from orchestrator.executor import make_executor

    executor = make_executor("inline", redis_url="", queue_name="")
    results: list[TrialResult] = []
    try:
        for index in range(trials):
            config = next_config(results)
            executor.submit(
                TrialSpec(
                    trial_id=f"bench-{seed}-{index}-{time.monotonic_ns()}",
                    index=index,
                    preset=PRESET,
                    budget=budget,
                    config=config,
                    seed=seed,
                    device="cpu",
                )
            )
            done: list[TrialResult] = []
            while not done:
                done = executor.wait(POLL_S)
            results.extend(done)
    finally:
        executor.close()
    return results


def _valid(config: dict[str, Any]) -> bool:
    return not check_combination(get_preset(PRESET), config)


def sample_random(param: Param, rng: random.Random) -> Any:
    if param.kind == "choice":
        return rng.choice(param.choices)
    assert param.low is not None and param.high is not None
    if param.kind == "pow2":
        return 2 ** rng.randint(int(math.log2(param.low)), int(math.log2(param.high)))
    if param.log and param.low > 0:
        value = math.exp(rng.uniform(math.log(param.low), math.log(param.high)))
    else:
        value = rng.uniform(param.low, param.high)
    return round(value) if param.kind == "int" else value


def random_search(seed: int, trials: int, budget: Budget) -> list[TrialResult]:
    space = get_preset(PRESET).space
    rng = random.Random(seed)

    def next_config(results: list[TrialResult]) -> dict[str, Any]:
        config = space.defaults()
        if not results:
            return config
        for _ in range(MAX_REDRAWS):
            config.update({p.name: sample_random(p, rng) for p in space.tunable()})
            if _valid(config):
                return config
        raise RuntimeError("random search found no valid configuration")

    return run_sequential(next_config, trials, seed, budget)


def _log2_name(param: Param) -> str:
    return f"log2_{param.name}"  # TPE models powers of two by their exponent


def tpe_search(seed: int, trials: int, budget: Budget) -> list[TrialResult]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = get_preset(PRESET).space
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(
        {
            (_log2_name(p) if p.kind == "pow2" else p.name): (
                int(math.log2(p.default)) if p.kind == "pow2" else p.default
            )
            for p in space.tunable()
        }
    )
    asked: list[Any] = []

    def suggest(trial: Any, param: Param) -> Any:
        if param.kind == "choice":
            return trial.suggest_categorical(param.name, list(param.choices))
        assert param.low is not None and param.high is not None
        if param.kind == "pow2":
            lo, hi = int(math.log2(param.low)), int(math.log2(param.high))
            return 2 ** trial.suggest_int(_log2_name(param), lo, hi)
        if param.kind == "int":
            return trial.suggest_int(param.name, int(param.low), int(param.high), log=param.log)
        return trial.suggest_float(param.name, param.low, param.high, log=param.log)

    def next_config(results: list[TrialResult]) -> dict[str, Any]:
        if asked:  # report the previous trial before asking for the next
            value = results[-1].val_bpb
            if value is None:
                study.tell(asked.pop(), state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(asked.pop(), value)
        for _ in range(MAX_REDRAWS):
            trial = study.ask()
            config = space.defaults()
            config.update({p.name: suggest(trial, p) for p in space.tunable()})
            if _valid(config):
                asked.append(trial)
                return config
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise RuntimeError("TPE found no valid configuration")

    return run_sequential(next_config, trials, seed, budget)


@dataclass(frozen=True)
class Cadence:
    policy_every: int = DEFAULT_POLICY_EVERY
    research_every: int = DEFAULT_RESEARCH_EVERY


def study_search(
    seed: int, trials: int, budget: Budget, *, level2: bool, work: Path, cadence: Cadence
) -> list[TrialResult]:
    """The study loop itself (built-in agent), read back from its journal."""
    from orchestrator.ablation import level2_for
    from orchestrator.journal import read_events
    from orchestrator.study import run_study

    config = StudyConfig.from_dict(
        {
            "name": f"bench-{'l2' if level2 else 'l1'}-s{seed}",
            "iterations": trials,
            "seed": seed,
            "executor": "inline",
            "objective": {"preset": PRESET, "budget_mode": budget.mode, "budget": budget.amount},
            "levels": {
                "policy": True,
                "policy_every": cadence.policy_every,
                "research": level2,
                "research_every": cadence.research_every,
                "stagnation": cadence.research_every,
            },
            "llm": {"provider": "builtin"},
        }
    )
    run_dir = work / config.name
    host, driver = level2_for("C" if level2 else "B", config, run_dir, None)
    run_study(config, run_dir, mechanism_host=host, research=driver)
    return [
        TrialResult.model_validate(e["result"])
        for e in read_events(run_dir / "events.jsonl")
        if e["type"] == "trial_finished"
    ]


# ------------------------------------------------------------------------------ report


def measure(
    method: str, seed: int, trials: int, budget: Budget, work: Path, cadence: Cadence
) -> MethodRun:
    started = time.monotonic()
    if method == "random":
        results = random_search(seed, trials, budget)
    elif method == "tpe":
        results = tpe_search(seed, trials, budget)
    else:
        results = study_search(
            seed, trials, budget, level2=method == "builtin-l2", work=work, cadence=cadence
        )
    values = [r.val_bpb for r in results if r.val_bpb is not None]
    baseline = results[0].val_bpb if results else None
    return MethodRun(
        method=method,
        seed=seed,
        best=min(values) if values else None,
        baseline=baseline,
        trials=len(results),
        failed=sum(1 for r in results if r.val_bpb is None),
        seconds=time.monotonic() - started,
    )


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f}"


def print_table(runs: list[MethodRun], methods: list[str]) -> None:
    header = f"{'method':<12} {'seeds':>5} {'best val_bpb (mean ± sd)':>26} {'min':>8} {'max':>8} {'Δ vs baseline':>15} {'failed':>7} {'s/seed':>7}"
    print(header)
    print("-" * len(header))
    for method in methods:
        mine = [r for r in runs if r.method == method and r.best is not None]
        if not mine:
            print(f"{method:<12} {'-':>5}  (no result)")
            continue
        best = [r.best for r in mine if r.best is not None]
        deltas = [
            r.best - r.baseline for r in mine if r.best is not None and r.baseline is not None
        ]
        print(
            f"{method:<12} {len(mine):>5} {_spread(best):>26} {min(best):>8.4f} {max(best):>8.4f} "
            f"{_spread(deltas):>15} {sum(r.failed for r in mine):>7} "
            f"{statistics.mean(r.seconds for r in mine):>7.0f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help="seeds per method")
    parser.add_argument(
        "--trials", type=int, default=DEFAULT_TRIALS, help="trials per run, baseline included"
    )
    parser.add_argument(
        "--budget-tokens", type=int, default=DEFAULT_BUDGET_TOKENS, help="training tokens per trial"
    )
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated subset of {','.join(METHODS)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="keep the studies' run folders here (a new or empty folder)",
    )
    parser.add_argument(
        "--policy-every", type=int, default=DEFAULT_POLICY_EVERY, help="Level 1.5 cadence (trials)"
    )
    parser.add_argument(
        "--research-every",
        type=int,
        default=DEFAULT_RESEARCH_EVERY,
        help="Level 2 cadence (trials)",
    )
    args = parser.parse_args(argv)
    cadence = Cadence(policy_every=args.policy_every, research_every=args.research_every)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or args.seeds < 1 or args.trials < 2:
        parser.error(
            f"--methods from {','.join(METHODS)}; --seeds >= 1; --trials >= 2 (got {unknown or ''})"
        )
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out} is not empty; give a new folder")
    budget = Budget(mode="tokens", amount=args.budget_tokens)
    print(
        f"search quality: {PRESET}, {args.budget_tokens} tokens per trial, {args.trials} trials "
        f"per run (baseline first), seeds 0..{args.seeds - 1}, methods {', '.join(methods)}",
        flush=True,
    )
    runs: list[MethodRun] = []
    with tempfile.TemporaryDirectory(prefix="search-quality-") as scratch:
        work = args.out or Path(scratch)
        for seed in range(args.seeds):  # seed-major: machine drift spreads over all methods
            for method in methods:
                try:
                    run = measure(method, seed, args.trials, budget, work, cadence)
                except Exception as exc:  # one method failing must not hide the others
                    print(
                        f"  {method} seed {seed}: failed: {type(exc).__name__}: {exc}", flush=True
                    )
                    continue
                runs.append(run)
                print(
                    f"  {method:<12} seed {seed}: best {run.best if run.best is None else f'{run.best:.4f}'}"
                    f" (baseline {run.baseline:.4f}, {run.failed} failed, {run.seconds:.0f} s)",
                    flush=True,
                )
    print()
    print_table(runs, methods)
    return 0


if __name__ == "__main__":
    sys.exit(main())
