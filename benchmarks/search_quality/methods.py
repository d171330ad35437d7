"""The methods compared, each run for a fixed number of trials on one problem and seed.

Our own methods run through the product itself: ``run_study`` with the inline executor and
the built-in agent (Levels 1 + 1.5, and Level 2 with the process sandbox), read back from
the study's journal. The peers (random search and Optuna's samplers) evaluate their
configurations through the same inline executor and the same trial specs, so every method
sees the same objective, the same noise draws (the trial seed is the run's seed) and the
same first trial: the defaults, as every study starts from its baseline.

Level 2 runs *synchronously* here: the study waits for each research session at the
boundary where it starts. With microsecond trials a background session would otherwise end
after the study; in a real study a session runs while trials train. So Level 2's numbers
are what its mechanisms do to the search, not a race against the trial clock.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.space import Param, SearchSpace
from orchestrator.config import StudyConfig
from trainer.spec import TrialResult, TrialSpec

from .problems import Problem

BUILTIN_METHODS = ("builtin", "builtin-l2")
# The built-in agent under each acceptance rule: `builtin` runs the default (`paired`);
# these run the others, so the rules compare on the same agent, seeds and noise draws.
RULE_METHODS = {"builtin-strict": "strict", "builtin-floor": "baseline-floor"}
DEFAULT_RULE = "paired"
OPTUNA_METHODS = ("tpe", "cmaes", "gp")
PEER_METHODS = ("random", *OPTUNA_METHODS)
# The paper's groups with a real LLM: A = Level 1 only, C = Levels 1 + 1.5 + 2.
LLM_METHODS = ("llm-A", "llm-C")
METHODS = (*BUILTIN_METHODS, *RULE_METHODS, *PEER_METHODS, *LLM_METHODS)
REFERENCE_METHOD = "builtin"
# The endpoint and model of the LLM methods (any OpenAI-compatible server).
LLM_BASE_URL_ENV = "OPENAI_BASE_URL"
LLM_KEY_ENV = "OPENAI_API_KEY"
LLM_MODEL_ENV = "BILEVEL_BENCH_MODEL"
POLL_S = 0.05


@dataclass
class Run:
    """One method on one problem and seed: the observed score (minimise-normal) per trial,
    None for a trial without a value, and the configuration each trial ran."""

    problem: str
    method: str
    seed: int
    scores: list[float | None]
    configs: list[dict[str, Any]]
    seconds: float
    # Our studies: the incumbent's config after each trial (what the study would report
    # then; None before the first), and the best it reported at the end, as a
    # minimise-normal score (the paired rule's mean of evaluations, else one draw).
    incumbents: list[dict[str, Any] | None] | None = None
    reported: float | None = None
    reported_config: dict[str, Any] | None = None


def llm_configured() -> bool:
    return bool(os.environ.get(LLM_BASE_URL_ENV))


# ------------------------------------------------------------------------- our own methods


def study_method(problem: Problem, method: str, seed: int, trials: int, work: Path) -> Run:
    from orchestrator.events import StudyFinished, TrialFinished
    from orchestrator.journal import iter_events
    from orchestrator.study import run_study

    level2 = method in ("builtin-l2", "llm-C")
    policy = method != "llm-A"
    config = problem.study_config(
        f"{problem.name}-{method}-s{seed}",
        trials=trials,
        seed=seed,
        rule=RULE_METHODS.get(method),
        policy=policy,
        research=level2,
    )
    if method.startswith("llm-"):
        config = StudyConfig.from_dict(
            {
                **config.model_dump(mode="json"),
                "llm": {
                    "provider": "openai",
                    "base_url": os.environ[LLM_BASE_URL_ENV],
                    "model": os.environ.get(LLM_MODEL_ENV, "gpt-4o-mini"),
                    "api_key_env": LLM_KEY_ENV,
                },
            }
        )
    run_dir = work / config.name
    started = time.monotonic()
    host = driver = None
    if level2:
        from orchestrator.level2.research.wiring import make_level2
        from sandbox.client import make_client

        # Each session finishes before the study plans the next trial: a session costs no
        # trials here, so only the trial-count part of the wasted-session rule applies.
        host, driver = make_level2(
            config, run_dir, client=make_client("direct", "process"), synchronous=True
        )
    run_study(config, run_dir, mechanism_host=host, research=driver)
    metric = config.metric()
    finished = {
        e.index: e.result
        for e in iter_events(run_dir, TrialFinished)
        if e.index < trials and e.result is not None
    }
    results = [finished[i] for i in sorted(finished)]
    incumbents = study_incumbents(run_dir, trials)
    done = next(iter_events(run_dir, StudyFinished), None)
    best = done.best if done is not None else None
    reported = None
    if best:
        rule = RULE_METHODS.get(method, DEFAULT_RULE)
        value = best.get("mean") if rule == DEFAULT_RULE and "mean" in best else best["value"]
        reported = metric.score(value)
    return Run(
        problem=problem.name,
        method=method,
        seed=seed,
        scores=[None if r.value is None else metric.score(r.value) for r in results],
        configs=[dict(r.spec.config) for r in results],
        seconds=time.monotonic() - started,
        incumbents=incumbents,
        reported=reported,
        reported_config=dict(best["config"]) if best else None,
    )


def study_incumbents(run_dir: Path, trials: int) -> list[dict[str, Any] | None]:
    """The study's incumbent after each of its first ``trials`` trials, from the journal: a
    kept trial, or a challenger kept when its race ended (right after that trial)."""
    from orchestrator.events import ChallengeDecided, TrialFinished
    from orchestrator.journal import journal_path, read_events

    configs: dict[int, dict[str, Any]] = {}
    incumbent: dict[str, Any] | None = None
    out: list[dict[str, Any] | None] = []
    for event in read_events(journal_path(run_dir)):
        if isinstance(event, TrialFinished) and event.index < trials:
            configs[event.index] = dict(event.result.spec.config) if event.result else {}
            if event.kept:
                incumbent = configs[event.index]
            out.append(incumbent)
        elif isinstance(event, ChallengeDecided) and event.verdict == "accept" and out:
            incumbent = configs.get(event.challenger, incumbent)
            out[-1] = incumbent
    return out


# ------------------------------------------------------------------------------- peers

Proposer = Callable[[list[float | None]], dict[str, Any]]


def _sequential(problem: Problem, method: str, seed: int, trials: int, propose: Proposer) -> Run:
    """``trials`` trials through the inline executor; trial 0 is the defaults."""
    from orchestrator.executor import make_executor

    config = problem.study_config("peer", trials=trials, seed=seed)
    metric = config.metric()
    objective = config.objective_spec()
    executor = make_executor("inline", redis_url="", queue_name="")
    scores: list[float | None] = []
    configs: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for index in range(trials):
            chosen = config.search_space().defaults() if index == 0 else propose(scores)
            executor.submit(
                TrialSpec(
                    trial_id=f"bench-{problem.name}-{method}-{seed}-{index}",
                    index=index,
                    preset=config.objective.preset if objective is None else "",
                    dataset=config.objective.dataset if objective is None else "",
                    budget=config.budget(),
                    config=chosen,
                    seed=seed,
                    device="cpu",
                    objective=objective,
                )
            )
            done: list[TrialResult] = []
            while not done:
                done = executor.wait(POLL_S)
            value = done[0].value
            scores.append(None if value is None else metric.score(value))
            configs.append(chosen)
    finally:
        executor.close()
    return Run(problem.name, method, seed, scores, configs, time.monotonic() - started)


def sample_uniform(param: Param, rng: random.Random) -> Any:
    """One value drawn uniformly (log-uniformly where the param is log-scaled)."""
    if param.kind == "choice":
        return rng.choice(list(param.choices))
    assert param.low is not None and param.high is not None
    if param.kind == "pow2":
        return 2 ** rng.randint(int(math.log2(param.low)), int(math.log2(param.high)))
    if param.log and param.low > 0:
        value = math.exp(rng.uniform(math.log(param.low), math.log(param.high)))
    else:
        value = rng.uniform(param.low, param.high)
    return min(max(round(value), int(param.low)), int(param.high)) if param.kind == "int" else value


def random_method(problem: Problem, seed: int, trials: int) -> Run:
    space = problem.study_config("peer", trials=trials, seed=seed).search_space()
    rng = random.Random(seed)

    def propose(_scores: list[float | None]) -> dict[str, Any]:
        return {**space.defaults(), **{p.name: sample_uniform(p, rng) for p in space.tunable()}}

    return _sequential(problem, "random", seed, trials, propose)


def _log2_name(param: Param) -> str:
    return f"log2_{param.name}"  # Optuna models powers of two by their exponent


def _optuna_value(param: Param, value: Any) -> Any:
    return int(math.log2(value)) if param.kind == "pow2" else value


def _suggest(trial: Any, param: Param) -> Any:
    if param.kind == "choice":
        return trial.suggest_categorical(param.name, list(param.choices))
    assert param.low is not None and param.high is not None
    if param.kind == "pow2":
        lo, hi = int(math.log2(param.low)), int(math.log2(param.high))
        return 2 ** trial.suggest_int(_log2_name(param), lo, hi)
    if param.kind == "int":
        return trial.suggest_int(param.name, int(param.low), int(param.high), log=param.log)
    return trial.suggest_float(param.name, param.low, param.high, log=param.log)


def make_sampler(method: str, seed: int) -> Any:
    import optuna

    if method == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if method == "cmaes":  # needs the cmaes package; categorical params fall back to random
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if method == "gp":  # needs torch and scipy
        return optuna.samplers.GPSampler(seed=seed)
    raise ValueError(f"unknown Optuna method {method!r}; choose from {', '.join(OPTUNA_METHODS)}")


def optuna_method(problem: Problem, method: str, seed: int, trials: int) -> Run:
    import logging
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("optuna").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    space: SearchSpace = problem.study_config("peer", trials=trials, seed=seed).search_space()
    study = optuna.create_study(sampler=make_sampler(method, seed))
    # Tell the defaults (trial 0) to the sampler, as every other method starts from them.
    study.enqueue_trial(
        {
            (_log2_name(p) if p.kind == "pow2" else p.name): _optuna_value(p, p.default)
            for p in space.tunable()
        }
    )
    asked: list[Any] = []

    def tell(scores: list[float | None]) -> None:
        score = scores[-1]
        if score is None:
            study.tell(asked.pop(), state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(asked.pop(), score)

    def propose(scores: list[float | None]) -> dict[str, Any]:
        tell(scores)
        trial = study.ask()
        asked.append(trial)
        return {**space.defaults(), **{p.name: _suggest(trial, p) for p in space.tunable()}}

    first = study.ask()  # the enqueued defaults, suggested so the trial records its params:
    for p in space.tunable():  # relative samplers (CMA-ES, GP) model only params every
        _suggest(first, p)  # completed trial has, so a trial without them disables them
    asked.append(first)
    return _sequential(problem, method, seed, trials, propose)


def run_method(problem: Problem, method: str, seed: int, trials: int, work: Path | None) -> Run:
    """One run; ``work`` keeps the studies' run folders (a scratch folder when None)."""
    if method in BUILTIN_METHODS or method in RULE_METHODS or method in LLM_METHODS:
        if work is not None:
            return study_method(problem, method, seed, trials, work)
        with tempfile.TemporaryDirectory(prefix="search-quality-") as scratch:
            return study_method(problem, method, seed, trials, Path(scratch))
    if method == "random":
        return random_method(problem, seed, trials)
    if method in OPTUNA_METHODS:
        return optuna_method(problem, method, seed, trials)
    raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
