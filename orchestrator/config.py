"""Study files: ``studies/*.toml`` loaded into strict pydantic models.

Every model forbids unknown keys, so a typo is an error naming the file, the key and the
closest known key, never a silently ignored setting. Overrides from CLI flags go through
:meth:`StudyConfig.with_overrides`, which re-validates the result.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict, Unpack, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from contract.constraints import RELATIONS, Constraint, ConstraintError, numeric_facts, violations
from contract.jobs import TRIAL_QUEUE
from contract.space import SearchSpace
from orchestrator.errors import UserError
from orchestrator.metric import Metric
from orchestrator.objective_config import (
    ObjectiveConfig,
    build_space,
    objective_spec,
    resolve_paths,
)
from orchestrator.pruning import PruningConfig, check_objective
from trainer.spec import Budget, ObjectiveSpec

if TYPE_CHECKING:
    from trainer.objective import Objective

# Level 1.5 runs after every k finished trials; the paper's cadence.
DEFAULT_POLICY_EVERY = 5
# Level 2 runs every m finished trials; the paper's cadence.
DEFAULT_RESEARCH_EVERY = 10
# Trials without a kept improvement that start a research session early.
DEFAULT_STAGNATION = 6
# Paired acceptance: the baseline's evaluations (itself included) that seed the noise
# estimate before the first keep decision. Three is the fewest that gives a spread with
# two degrees of freedom; every later repeat and race adds to it, so more up front only
# costs trials.
DEFAULT_BASELINE_REPEATS = 3
# Paired acceptance: seeds the final best (and the baseline) are re-run on to report them.
DEFAULT_FINAL_RERUNS = 3
# Per-request LLM timeout: long enough for a slow 1-3k token completion.
DEFAULT_LLM_TIMEOUT_S = 120.0
# Retries on 429/5xx/timeouts before a call counts as failed.
DEFAULT_LLM_RETRIES = 4
# Hard spend cap per study; a paper run with deepseek-chat costs well under a dollar.
DEFAULT_COST_CAP_USD = 5.0
# Tokens per study for a model with no known price, where the dollar cap cannot act: about
# 60 Level-1 calls and 4 research sessions of a 30-trial study with a long history.
DEFAULT_TOKEN_CAP = 2_000_000
# Redis DB 0 of the compose stack; tests use their own DB and queue names.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# The deployment names Redis (with its password) here, as it does for `bilevel worker`;
# a study file's rq.redis_url wins over it. Passwords never reach the journal.
REDIS_URL_ENV = "BILEVEL_REDIS_URL"
DEFAULT_QUEUE = TRIAL_QUEUE  # what `bilevel worker` serves
# The deployment's trial queue (.env, compose), served by its `bilevel worker --queue`; a
# study file's rq.queue wins over it.
TRIAL_QUEUE_ENV = "BILEVEL_TRIAL_QUEUE"
# The deployment's code-trial queue (compose: contract.jobs.CODE_TRIAL_QUEUE), where trials
# with a recipe patch go; a study file's rq.code_queue wins over it.
CODE_TRIAL_QUEUE_ENV = "BILEVEL_CODE_TRIAL_QUEUE"
# `parallel = "auto"`: the executor decides how many trials to keep in flight (rq: live trainer
# workers + 1, so a worker never waits for planning; inline: 1, today's sequential loop).
PARALLEL_AUTO: Literal["auto"] = "auto"
DEFAULT_PARALLEL: int | Literal["auto"] = PARALLEL_AUTO
# The rule that shares trials between Level 1 and mechanisms by earned credit.
DEFAULT_ARBITER = "orchestrator.levels.arbiter:CreditArbiter"
# Code trials refuse this data set: its files are the jailed interpreter's own standard
# library, so an edited recipe could rebuild the validation split (docs/code-trials.md).
CODE_TRIALS_REFUSED_DATASET = "stdlib"


LlmProvider = Literal["builtin", "openai"]
ExecutorKind = Literal["inline", "rq"]
LLM_PROVIDERS: tuple[str, ...] = get_args(LlmProvider)
EXECUTORS: tuple[str, ...] = get_args(ExecutorKind)


class Overrides(TypedDict, total=False):
    """The CLI flags :meth:`StudyConfig.with_overrides` applies; ``None``: not given."""

    iterations: int | None
    parallel: int | Literal["auto"] | None
    executor: str | None
    budget_seconds: float | None
    budget_tokens: int | None
    llm: str | None  # the provider


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LevelsConfig(_Strict):
    policy: bool = Field(default=True, description="Level 1.5 on/off")
    policy_every: int = Field(default=DEFAULT_POLICY_EVERY, ge=1)
    research: bool = Field(default=False, description="Level 2 on/off")
    # LLM-written mechanisms need a strong sandbox (docker or bubblewrap); this opts in to a
    # weaker one (unshare/bare) explicitly. Off by default: DESIGN §2.
    allow_weak_sandbox: bool = Field(
        default=False, description="let LLM-written code run without docker or bubblewrap"
    )
    research_every: int = Field(default=DEFAULT_RESEARCH_EVERY, ge=1)
    stagnation: int = Field(default=DEFAULT_STAGNATION, ge=1)
    restart: bool = Field(
        default=False,
        description="reset the Level-1 context where Level 2 would run (ablation group R)",
    )
    arbiter: str = Field(
        default=DEFAULT_ARBITER,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="module:Class choosing each trial's source (Level 1 or a mechanism)",
    )


class LLMConfig(_Strict):
    provider: LlmProvider = "builtin"
    base_url: str | None = None
    model: str = "builtin-heuristic"
    api_key_env: str | None = None
    temperature: float = Field(default=0.7, ge=0, le=2)
    timeout_s: float = Field(default=DEFAULT_LLM_TIMEOUT_S, gt=0)
    max_retries: int = Field(default=DEFAULT_LLM_RETRIES, ge=0)
    cost_cap_usd: float = Field(default=DEFAULT_COST_CAP_USD, ge=0)
    # None: the model's list price (orchestrator.prices), or unpriced if it has none.
    price_prompt_per_mtok: float | None = Field(default=None, ge=0, description="USD per 1M tokens")
    price_completion_per_mtok: float | None = Field(
        default=None, ge=0, description="USD per 1M tokens"
    )
    token_cap: int = Field(
        default=DEFAULT_TOKEN_CAP, ge=0, description="tokens an unpriced model may use (0: none)"
    )

    def label(self) -> str:
        return "builtin" if self.provider == "builtin" else f"openai:{self.model}"


# The keep rules: ``paired`` (the default: a learned noise model and racing on fresh seeds,
# orchestrator/acceptance), ``strict`` (a single draw better by any margin) and
# ``baseline-floor`` (the former fixed floor, 2 sd of the baseline's first repeats; kept to
# compare against, not recommended: one outlier among three repeats froze searches).
AcceptanceRule = Literal["paired", "strict", "baseline-floor"]
DEFAULT_ACCEPTANCE_RULE: AcceptanceRule = "paired"
# The name the paired rule replaced; study files that still say it get the paired rule.
DEPRECATED_RULES = {"noise-aware": "paired"}


class AcceptanceConfig(_Strict):
    rule: AcceptanceRule = DEFAULT_ACCEPTANCE_RULE
    deterministic: bool = Field(
        default=False,
        description="the objective gives the same value on every seed: no repeats, no races",
    )
    baseline_repeats: int = Field(
        default=DEFAULT_BASELINE_REPEATS,
        ge=2,
        description="draws of the baseline for the first noise evidence; unset, the paired "
        "rule runs one per 10 iterations up to this default, so short studies keep their "
        "trials for the search",
    )
    final_reruns: int = Field(default=DEFAULT_FINAL_RERUNS, ge=0)
    final_test: bool = Field(
        default=True,
        description="GPT, paired: score the best and the baseline on the held-out test split",
    )

    @field_validator("rule", mode="before")
    @classmethod
    def _renamed(cls, value: object) -> object:
        if isinstance(value, str) and value in DEPRECATED_RULES:
            import warnings

            warnings.warn(
                f'acceptance.rule "{value}" is now "{DEPRECATED_RULES[value]}" (the noise model '
                "learns from every repeat); write that in the study file",
                FutureWarning,
                stacklevel=2,
            )
            return DEPRECATED_RULES[value]
        return value

    def declared_deterministic(self, objective: ObjectiveConfig) -> bool:
        """Deterministic by declaration: the study says so, or a benchmark has no noise."""
        return self.deterministic or (objective.kind == "benchmark" and objective.noise == 0)


class ConstraintConfig(_Strict):
    """One ``[[constraints]]`` table: ``left`` stands in relation ``kind`` to ``right``.
    Both sides are arithmetic over parameter names, the objective's numeric facts
    (``seq_len``) and numbers (``+ - * /`` and parentheses; never evaluated as code)."""

    left: str = Field(description="an expression, e.g. TOTAL_BATCH_SIZE")
    kind: str = Field(description=f"one of {', '.join(RELATIONS)}")
    right: str = Field(description="an expression, e.g. DEVICE_BATCH_SIZE * seq_len")
    why: str = Field(default="", description="the reason, or how to fix a violation")

    def constraint(self) -> Constraint:
        try:
            return Constraint(left=self.left, kind=self.kind, right=self.right, why=self.why)
        except ConstraintError as exc:
            raise ValueError(
                f"constraint {self.left!r} {self.kind} {self.right!r}: {exc}"
            ) from None


class SearchConfig(_Strict):
    code_trials: bool = Field(
        default=False,
        description="GPT: Level 1 may also propose a unified diff of the training recipe "
        "(trainer/recipe.py), trained and scored in a jail (docs/code-trials.md)",
    )


class RqConfig(_Strict):
    redis_url: str = Field(
        default_factory=lambda: os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL
    )
    queue: str = Field(default_factory=lambda: os.environ.get(TRIAL_QUEUE_ENV) or DEFAULT_QUEUE)
    # Code trials' own queue (the compose stack's code-trainer); unset: the trial queue, as a
    # host `bilevel worker` with bubblewrap serves both.
    code_queue: str | None = Field(default_factory=lambda: os.environ.get(CODE_TRIAL_QUEUE_ENV))


def redact_url(url: str) -> str:
    """``redis://:secret@host`` -> ``redis://:***@host``: safe to journal and print."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


class StudyConfig(_Strict):
    """A whole study. ``iterations`` counts every trial that shapes the search: the
    baseline, its repeats, search trials and their re-evaluations (races); only the final
    re-runs and the test-split scoring, which report the result, come on top."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    iterations: int = Field(ge=1)
    seed: int = 0
    parallel: int | Literal["auto"] = Field(
        default=DEFAULT_PARALLEL,
        description='trials in flight: a number, or "auto" (rq: live workers + 1; inline: 1)',
    )
    executor: ExecutorKind = "inline"
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    space: dict[str, dict[str, object]] = Field(
        default_factory=dict,
        description="gpt/benchmark: per-param overrides (DEPTH = {frozen = false}); "
        "function/command: the whole space, one [space.NAME] table per param",
    )
    levels: LevelsConfig = Field(default_factory=LevelsConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    acceptance: AcceptanceConfig = Field(default_factory=AcceptanceConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    rq: RqConfig = Field(default_factory=RqConfig)
    pruning: PruningConfig = Field(default_factory=PruningConfig)
    constraints: list[ConstraintConfig] = Field(
        default_factory=list,
        description="rules between parameters, on top of the preset's own; a proposal that "
        "breaks one is refused before it runs",
    )

    @field_validator("parallel", mode="before")
    @classmethod
    def _parallel_is_count_or_auto(cls, value: object) -> int | str:
        if value == PARALLEL_AUTO:
            return PARALLEL_AUTO
        # bool is an int to Python: `parallel = true` is a typo, not one trial.
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        raise ValueError(
            f'{value!r}: choose a positive number of trials in flight or "{PARALLEL_AUTO}" '
            "(live trainer workers + 1 with rq, 1 inline)"
        )

    def parallel_trials(self) -> int:
        """Trials in flight as far as the config alone knows: the number, or 1 for "auto"
        (only the executor sees live workers; this is the floor it keeps)."""
        return self.parallel if isinstance(self.parallel, int) else 1

    @model_validator(mode="after")
    def _space_overrides_apply(self) -> StudyConfig:
        self.search_space()  # raises on unknown params or bad bounds
        self.objective.resolved_budget()
        check_objective(self.pruning, self.objective.kind)
        self._check_constraints()
        self._check_code_trials()
        return self

    def _check_code_trials(self) -> None:
        if not self.search.code_trials:
            return
        if self.objective.kind != "gpt":
            raise ValueError(
                f"search.code_trials edits the GPT training recipe; a {self.objective.kind} "
                'objective has none (remove code_trials or use kind = "gpt")'
            )
        if self.objective.dataset == CODE_TRIALS_REFUSED_DATASET:
            raise ValueError(
                f'search.code_trials refuses dataset "{CODE_TRIALS_REFUSED_DATASET}" (its files '
                'are the jailed interpreter\'s own library): use "pinned", "text:PATH" or "climbmix"'
            )

    def _check_constraints(self) -> None:
        """Every name a study constraint reads is a numeric parameter or fact, and the
        defaults (the baseline) satisfy every constraint, the preset's included."""
        if not self.constraints:
            return  # the preset's own are checked against its defaults by its tests
        space = self.search_space()
        facts = numeric_facts(self.objective_facts())
        for entry in self.constraints:
            constraint = entry.constraint()
            for name in sorted(constraint.names()):
                if name in facts:
                    continue
                if name not in space.names():
                    raise ValueError(
                        f"constraint {constraint.text()!r} names {name!r}, which is neither a "
                        f"parameter ({', '.join(space.names())}) nor a numeric fact "
                        f"({', '.join(facts) or 'none'})"
                    )
                param = space.param(name)
                if param.kind == "choice" and not all(
                    isinstance(c, int | float) and not isinstance(c, bool) for c in param.choices
                ):
                    raise ValueError(
                        f"constraint {constraint.text()!r} does arithmetic on {name!r}, whose "
                        "choices are not all numbers"
                    )
        broken = violations(self.all_constraints(), space.defaults(), facts)
        if broken:
            raise ValueError(
                f"the default configuration breaks a constraint: {broken[0]} (change the "
                "[space] defaults or the constraint)"
            )

    def all_constraints(self) -> list[Constraint]:
        """The preset's constraints (GPT) and then the study file's, in that order."""
        own = [c.constraint() for c in self.constraints]
        if self.objective.kind != "gpt":
            return own
        from trainer.presets import get_preset

        return [*get_preset(self.objective.preset).constraints, *own]

    def pruning_active(self) -> bool:
        """Whether this study stops doomed trials early (orchestrator/pruning.py)."""
        return self.pruning.active_for(self.objective.kind)

    def search_space(self) -> SearchSpace:
        return build_space(self.objective, self.space)

    def budget(self) -> Budget:
        return self.objective.resolved_budget()

    def metric(self) -> Metric:
        """The study's metric, name and direction: compare trial values only through it, since
        a metric may be maximised as well as minimised."""
        return self.objective.study_metric()

    def objective_spec(self) -> ObjectiveSpec | None:
        """What every trial spec carries about a non-GPT objective (None for GPT)."""
        return objective_spec(self.objective, self.search_space(), self.name)

    def objective_info(self) -> Objective:
        """The :class:`trainer.objective.Objective`: name, description, metric, facts."""
        from trainer.objective import describe

        return describe(self.objective_spec(), self.objective.preset, self.objective.dataset)

    def objective_facts(self) -> dict[str, object]:
        """What no parameter shows about the objective, for prompts."""
        return dict(self.objective_info().facts)

    def public_dict(self) -> dict[str, object]:
        """The config as journaled: credentials in URLs redacted."""
        data = self.model_dump(mode="json")
        data["rq"]["redis_url"] = redact_url(data["rq"]["redis_url"])
        return data

    @classmethod
    def load(cls, path: Path) -> StudyConfig:
        """Parse and validate a study file; any problem is one :class:`UserError` line."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{path}: no such study file (see studies/ for examples)") from None
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path}: not valid TOML: {exc}") from None
        return cls.from_dict(resolve_paths(data, path.parent), source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, object], *, source: str = "study") -> StudyConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise UserError(f"{source}: {describe_validation_error(exc, cls)}") from None

    def with_overrides(self, **overrides: Unpack[Overrides]) -> StudyConfig:
        """Apply CLI flags (``None`` = not given) and re-validate."""
        if overrides.get("llm") not in (None, *LLM_PROVIDERS):
            raise UserError(f"--llm {overrides['llm']}: choose {' or '.join(LLM_PROVIDERS)}")
        if overrides.get("executor") not in (None, *EXECUTORS):
            raise UserError(f"--executor {overrides['executor']}: choose {' or '.join(EXECUTORS)}")
        if (
            overrides.get("budget_seconds") is not None
            and overrides.get("budget_tokens") is not None
        ):
            raise UserError("give --budget-seconds or --budget-tokens, not both")
        data = self.model_dump(mode="python")
        for key, value in (
            ("iterations", overrides.get("iterations")),
            ("parallel", overrides.get("parallel")),
            ("executor", overrides.get("executor")),
        ):
            if value is not None:
                data[key] = value
        if overrides.get("budget_seconds") is not None:
            data["objective"].update(budget_mode="seconds", budget=overrides["budget_seconds"])
        if overrides.get("budget_tokens") is not None:
            data["objective"].update(budget_mode="tokens", budget=overrides["budget_tokens"])
        if overrides.get("llm") is not None:
            data["llm"]["provider"] = overrides["llm"]
        return StudyConfig.from_dict(data, source="overrides")


def describe_validation_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """First error as one line: ``unknown key 'iteratons' (did you mean 'iterations'?)``."""
    errors = exc.errors()
    # An unknown key is usually a typo of a missing one: report the typo, it names both.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [str(part) for part in err["loc"]]
    where = ".".join(loc)
    if err["type"] == "extra_forbidden":
        known = _known_keys(model, loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(known)})"
        return f"unknown key '{where}'{hint}"
    if err["type"] == "missing":
        return f"missing key '{where}'; add it to the study file"
    message = err["msg"].removeprefix("Value error, ")
    return f"bad value for '{where}': {message}" if where else message


def _known_keys(model: type[BaseModel], path: list[str]) -> list[str]:
    for part in path:
        field = model.model_fields.get(part)
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
