"""The four research rounds' structured replies, and the brief every round reads.

An LLM answers each round with JSON validated into one of these models (the LLM client
does the validation and the retries); the built-in agent builds the same models directly.
The journal's ``research_round.payload`` is the model as JSON, so a session can be read
back round by round whoever wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contract.hooks import Hook, Trial
from contract.space import Param
from orchestrator.levels.policy import SearchPolicy

ROUNDS = ("explore", "critique", "specify", "generate")


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Hypothesis(_Reply):
    title: str
    field: str = Field(description="the field of optimisation or science it comes from")
    idea: str = Field(description="what the mechanism would do to this search")
    expected_effect: str = ""


class ExploreReply(_Reply):
    """Round 1: ideas from other fields for how this search could work better."""

    diagnosis: str = Field(default="", description="what the trace says is wrong or missing")
    hypotheses: list[Hypothesis] = Field(min_length=1)


class Score(_Reply):
    """One hypothesis judged on three separate axes, each 0-10, and their total (0-30)."""

    title: str
    gain: float = Field(ge=0, le=10, description="expected improvement of the metric here")
    feasibility: float = Field(
        ge=0, le=10, description="as a pure function of the context, with the allowed imports"
    )
    novelty: float = Field(ge=0, le=10, description="10: no overlap with active mechanisms")
    total: float | None = Field(default=None, description="gain + feasibility + novelty")
    reason: str = ""

    @model_validator(mode="after")
    def _total_is_the_sum(self) -> Score:
        # The total is arithmetic, not a fourth opinion: a model's own sum is replaced.
        self.total = round(self.gain + self.feasibility + self.novelty, 4)
        return self


class CritiqueReply(_Reply):
    """Round 2: each hypothesis scored; one selected."""

    scores: list[Score] = Field(default_factory=list)
    selected: str = Field(description="title of the hypothesis to build")
    reason: str = ""


class SpecifyReply(_Reply):
    """Round 3: the mechanism's name, hooks, what it reads, what it imports."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,47}$", description="snake_case, unique")
    class_name: str = Field(default="", description="the Mechanism subclass name")
    hooks: list[Hook] = Field(min_length=1)
    reads: list[str] = Field(default_factory=list, description="Context fields it uses")
    packages: list[str] = Field(default_factory=list, description="imports it needs")
    supersedes: list[str] = Field(default_factory=list, description="active mechanisms it replaces")
    description: str = ""


class GenerateReply(_Reply):
    """Round 4 (and each repair): one complete Python module."""

    source: str = Field(min_length=1)
    notes: str = ""


@dataclass(frozen=True)
class ActiveSummary:
    """An active mechanism as the prompts show it: what it is and what it did."""

    name: str
    sha: str
    active_from: int
    fired: int  # trials whose planning it fired in
    chosen: int  # trials that ran its own candidate
    kept: int  # of the trials it fired in, how many became the new best
    failures: int = 0


@dataclass(frozen=True)
class Brief:
    """A snapshot of the study for one research session (taken at its start, so the
    background session never reads state the study loop is changing)."""

    session: int
    trigger: str
    iteration: int
    objective: str
    space: list[Param]  # the policy's freezes applied
    history: list[Trial]  # every finished trial, oldest first
    best: Trial | None
    active: list[ActiveSummary]
    api_source: str
    allowlist: list[str]
    rejected: list[str] = field(default_factory=list)  # names rejected earlier this study
    promoted: list[str] = field(default_factory=list)  # names ever promoted this study
    # The study's facts (budget, the objective's fixed facts, noise) as Level 1 sees them.
    facts: list[str] = field(default_factory=list)
    # The search policy in force when the session started (frozen set, focus, mode).
    policy: SearchPolicy | None = None  # None: the defaults
    # The study's metric and its direction (not always val_bpb, not always minimised); history
    # values are in its units.
    metric: str = "val_bpb"
    # The constraints between parameters, one line each (the preset's and the study's).
    constraints: list[str] = field(default_factory=list)
    direction: str = "minimize"
