"""The command line: which problems, methods and seeds, run in parallel, then the outputs.

    .venv/bin/python benchmarks/search_quality.py --quick        # about a minute
    nice .venv/bin/python benchmarks/search_quality.py           # the suite, ~20 min, 2 cores
    .venv/bin/python benchmarks/search_quality.py --digits --gpt # plus the slow objectives

Every method gets the same trial budget (the defaults first) and the same seeds. Seed s is
the study seed of our methods and the sampler seed of the peers, and it draws the noise of
every trial on the noisy problems, so runs are paired across methods by seed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from .acceptance import bias_rows, markdown_lines, rule_rows
from .measures import goal_row, summarise
from .methods import (
    BUILTIN_METHODS,
    LLM_METHODS,
    METHODS,
    OPTUNA_METHODS,
    PEER_METHODS,
    RULE_METHODS,
    Run,
    llm_configured,
    run_method,
)
from .output import ProblemResult, html_page, markdown
from .problems import QUICK_PROBLEMS, Problem, select_problems

# The budget at which the goal (no worse than the best Optuna sampler) is judged: 30 trials,
# a short study's length.
DEFAULT_TRIALS = 30
# At least 20 seeds on cheap problems: with 20 paired seeds a consistent small effect
# reaches p < 0.05 and a median is not one lucky run.
DEFAULT_SEEDS = 20
# Methods that take tens of seconds per run (GP fits, Level 2's sandboxed hook calls) get
# fewer seeds: 6 is the fewest at which a paired sign-flip test can reach p < 0.05
# (2/2**6 = 0.031).
DEFAULT_EXPENSIVE_SEEDS = 6
EXPENSIVE_METHODS = ("builtin-l2", "gp", *LLM_METHODS)
# Slow objectives (scikit-learn, GPT) run this many seeds.
DEFAULT_SLOW_SEEDS = 3
# The machine this targets: two cores, shared.
DEFAULT_JOBS = 2
# --quick: a smoke run of every method in about a minute.
QUICK_SEEDS = 6
QUICK_TRIALS = 15
QUICK_EXPENSIVE_SEEDS = 1
DEFAULT_OUT = Path("runs") / "search-quality"


def plan(
    problems: Sequence[Problem],
    methods: Sequence[str],
    *,
    seeds: int,
    expensive_seeds: int,
    slow_seeds: int,
    expensive_problems: int | None = None,
) -> list[tuple[Problem, str, int]]:
    """Every (problem, method, seed) to run, seed-major so partial results stay paired."""
    jobs = []
    for position, problem in enumerate(problems):
        for method in methods:
            n = seeds if problem.cheap else slow_seeds
            if method in EXPENSIVE_METHODS:
                if expensive_problems is not None and position >= expensive_problems:
                    continue
                n = min(n, expensive_seeds)
            jobs += [(problem, method, seed) for seed in range(n)]
    return sorted(jobs, key=lambda job: (job[2], job[0].name, job[1]))


def _run_job(problem: Problem, method: str, seed: int, trials: int, keep: str | None) -> Run:
    return run_method(problem, method, seed, trials, Path(keep) if keep else None)


def execute(
    jobs: list[tuple[Problem, str, int]], trials: int, workers: int, keep: Path | None
) -> list[Run]:
    runs: list[Run] = []
    done = 0

    def report(run: Run) -> None:
        nonlocal done
        done += 1
        best = min((s for s in run.scores if s is not None), default=None)
        print(
            f"  [{done}/{len(jobs)}] {run.problem:<16} {run.method:<11} seed {run.seed:>2}: "
            f"best {best if best is None else f'{best:.5g}'} ({run.seconds:.1f} s)",
            flush=True,
        )

    keep_arg = str(keep) if keep else None
    if workers <= 1:
        for problem, method, seed in jobs:
            try:
                run = _run_job(problem, method, seed, trials, keep_arg)
            except Exception as exc:  # one failing method must not hide the others
                print(f"  {problem.name} {method} seed {seed}: failed: {exc}", flush=True)
                continue
            runs.append(run)
            report(run)
        return runs
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_run_job, p, m, s, trials, keep_arg): (p, m, s) for p, m, s in jobs}
        for future in as_completed(futures):
            problem, method, seed = futures[future]
            try:
                run = future.result()
            except Exception as exc:
                print(f"  {problem.name} {method} seed {seed}: failed: {exc}", flush=True)
                continue
            runs.append(run)
            report(run)
    return runs


def analyse(
    problems: Sequence[Problem], methods: Sequence[str], runs: Sequence[Run]
) -> tuple[list[ProblemResult], list]:
    results, goal = [], []
    for problem in problems:
        mine = [r for r in runs if r.problem == problem.name]
        if not mine:
            continue
        summaries, curves, optimum = summarise(problem, mine, methods)
        results.append(
            ProblemResult(
                name=problem.name,
                optimum=optimum,
                optimum_known=problem.known_optimum is not None,
                summaries=summaries,
                curves=curves,
            )
        )
        if problem.cheap:
            row = goal_row(problem.name, summaries, OPTUNA_METHODS)
            if row is not None:
                goal.append(row)
    return results, goal


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="search_quality.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run in about a minute")
    parser.add_argument("--trials", type=int, default=None, help="trials per run (defaults first)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds on cheap problems")
    parser.add_argument(
        "--expensive-seeds", type=int, default=None, help="seeds of builtin-l2, gp and llm-*"
    )
    parser.add_argument("--slow-seeds", type=int, default=DEFAULT_SLOW_SEEDS)
    parser.add_argument("--problems", default="", help="comma-separated cheap problems (all)")
    parser.add_argument(
        "--methods", default="", help=f"comma-separated subset of {','.join(METHODS)}"
    )
    parser.add_argument("--digits", action="store_true", help="add the scikit-learn example")
    parser.add_argument("--gpt", action="store_true", help="add cpu-tiny GPT (slow)")
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="runs in parallel")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the outputs go")
    parser.add_argument("--keep-runs", action="store_true", help="keep our studies' run folders")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    trials = args.trials or (QUICK_TRIALS if args.quick else DEFAULT_TRIALS)
    seeds = args.seeds or (QUICK_SEEDS if args.quick else DEFAULT_SEEDS)
    expensive = args.expensive_seeds or (
        QUICK_EXPENSIVE_SEEDS if args.quick else DEFAULT_EXPENSIVE_SEEDS
    )
    default_methods = [*BUILTIN_METHODS, *RULE_METHODS, *PEER_METHODS] + (
        list(LLM_METHODS) if llm_configured() else []
    )
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] or default_methods
    names = [n.strip() for n in args.problems.split(",") if n.strip()] or (
        list(QUICK_PROBLEMS) if args.quick else None
    )
    unknown = [m for m in methods if m not in METHODS]
    if unknown or trials < 2 or seeds < 1 or expensive < 1 or args.jobs < 1:
        print(
            f"error: --methods from {','.join(METHODS)} (got {','.join(unknown) or 'ok'}); "
            "--trials >= 2; --seeds, --expensive-seeds, --jobs >= 1",
            file=sys.stderr,
        )
        return 2
    if any(m in LLM_METHODS for m in methods) and not llm_configured():
        print("error: the llm-* methods need OPENAI_BASE_URL (and OPENAI_API_KEY)", file=sys.stderr)
        return 2
    try:
        problems = select_problems(names, digits=args.digits, gpt=args.gpt)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    jobs = plan(
        problems,
        methods,
        seeds=seeds,
        expensive_seeds=expensive,
        slow_seeds=args.slow_seeds,
        expensive_problems=1 if args.quick else None,
    )
    command = "benchmarks/search_quality.py " + " ".join(argv if argv is not None else sys.argv[1:])
    header = [
        f"# Search quality, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"command: `{command.strip()}`",
        f"{trials} trials per run (the defaults first); seeds: {seeds} on cheap problems "
        f"({expensive} for {', '.join(m for m in methods if m in EXPENSIVE_METHODS) or 'none'}), "
        f"{args.slow_seeds} on slow ones; methods: {', '.join(methods)}.",
    ]
    print("\n".join(header), flush=True)
    started = time.monotonic()
    keep = args.out / "studies" if args.keep_runs else None
    runs = execute(jobs, trials, args.jobs, keep)
    results, goal = analyse(problems, methods, runs)
    header.append(f"Wall time: {time.monotonic() - started:.0f} s with {args.jobs} parallel runs.")
    optima = {r.name: r.optimum for r in results}
    acceptance = markdown_lines(rule_rows(problems, runs, optima), bias_rows(problems, runs))
    text = markdown(header, results, goal) + ("\n\n" + "\n".join(acceptance) if acceptance else "")
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "search_quality.md").write_text(text + "\n")
    (args.out / "search_quality.html").write_text(html_page(header, results, goal))
    # Every run's scores and configs, so the tables can be re-derived without re-running.
    (args.out / "runs.json").write_text(json.dumps([asdict(r) for r in runs], default=str))
    print(f"wrote {args.out / 'search_quality.md'} and {args.out / 'search_quality.html'}")
    return 0 if runs else 1
