"""`bilevel trial`: run one trial of a preset, supervised, and print its result.

Prints a grep-able ``key: value`` block (nanoGPT / autoresearch style) or, with ``--json``,
exactly the TrialResult JSON on stdout; a progress bar goes to stderr while it trains.
Exit code 0 for an ``ok`` trial, 1 for a trial that ran and failed (diverged, oom, crashed,
timeout, or a code trial the causality probe refused), 2 for bad input — which is always
caught before any training starts (a ``--patch`` that does not apply to the recipe too).
``--patch FILE.diff`` runs a code trial: the recipe with the diff applied, trained and
scored in jails by the trusted harness (docs/code-trials.md). ``bilevel trial STUDY.toml
--patch FILE.diff`` runs it exactly as that study would run it: the study's preset, data
set, budget, device, seed and parameter defaults (``--set``, ``--seed`` and the budget
flags override them, as ``bilevel study``'s flags do), refused when the study leaves
``[search] code_trials`` off.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from orchestrator.errors import EXIT_REJECTED, UserError

if TYPE_CHECKING:
    from contract.space import SearchSpace
    from trainer.spec import Device, TrialResult, TrialSpec

DEFAULT_PRESET = "cpu-tiny"
DEFAULT_DATASET = "pinned"  # the same bytes on every machine with the project's lock
# Width of the key column in the summary block, so values line up for humans and `grep`.
SUMMARY_KEY_WIDTH = 15


def parse_assignments(
    space: SearchSpace, assignments: list[str], owner: str = ""
) -> dict[str, Any]:
    """``NAME=VALUE`` strings parsed to each param's type (not yet range-checked); a malformed
    item, an unknown name or an unparsable value is a UserError. ``owner`` names where the
    names come from in the unknown-name message (`` for preset 'cpu-tiny'``)."""
    changes: dict[str, Any] = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UserError(f"--set {item!r} is not NAME=VALUE; write e.g. --set MATRIX_LR=0.02")
        try:
            param = space.param(name)
        except KeyError:
            known = ", ".join(space.names())
            raise UserError(f"unknown parameter {name!r}{owner}; known: {known}") from None
        try:
            changes[name] = param.parse(text.strip())
        except ValueError as exc:
            raise UserError(f"{exc}; pass a {param.kind} value") from None
    return changes


def parse_overrides(preset_name: str, assignments: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings to a config change dict; every problem is a UserError."""
    from trainer.presets import get_preset

    space = get_preset(preset_name).space
    changes: dict[str, Any] = {}
    parsed = parse_assignments(space, assignments, f" for preset {preset_name!r}")
    for name, value in parsed.items():
        param = space.param(name)
        if err := param.check(value):
            raise UserError(f"{err}; pass a valid value (the trainer never clamps)")
        changes[name] = param.coerce(value)
    return changes


def build_spec(
    preset_name: str,
    assignments: list[str],
    budget_seconds: float | None,
    budget_tokens: int | None,
    dataset: str,
    seed: int,
    device: Device,
    patch: str | None = None,
) -> TrialSpec:
    """A validated TrialSpec from command-line values, or a UserError naming the fix."""
    from trainer import datasets
    from trainer.objective import check_spec
    from trainer.presets import PRESETS
    from trainer.spec import Budget, TrialSpec

    preset = PRESETS.get(preset_name)
    if preset is None:
        raise UserError(f"unknown preset {preset_name!r}; choose one of: {', '.join(PRESETS)}")
    if budget_seconds is not None and budget_tokens is not None:
        raise UserError("give either --budget-seconds or --budget-tokens, not both")
    for flag, amount in (("--budget-seconds", budget_seconds), ("--budget-tokens", budget_tokens)):
        if amount is not None and amount <= 0:
            raise UserError(f"{flag} must be positive, got {amount}")
    if budget_tokens is not None:
        budget = Budget(mode="tokens", amount=budget_tokens)
    else:
        budget = Budget(mode="seconds", amount=budget_seconds or preset.budget)
    try:
        datasets.resolve(dataset)
    except datasets.DatasetError as exc:
        raise UserError(str(exc)) from None
    config = preset.space.apply(preset.space.defaults(), parse_overrides(preset_name, assignments))
    spec = TrialSpec(
        trial_id=f"cli-{uuid.uuid4().hex[:12]}",
        index=0,
        preset=preset_name,
        dataset=dataset,
        budget=budget,
        config=config,
        seed=seed,
        device=device,
        patch=patch,
    )
    if errors := check_spec(spec):
        raise UserError("; ".join(errors))
    require_cuda(spec)
    return spec


def require_cuda(spec: TrialSpec) -> None:
    """A UserError when the spec's preset or device needs a CUDA GPU and none is here."""
    from trainer.presets import get_preset

    if get_preset(spec.preset).device == "cuda" or spec.device == "cuda":
        import torch  # only here: the CLI is not the rq worker and may probe CUDA

        if not torch.cuda.is_available():
            raise UserError(
                f"preset {spec.preset!r} needs a CUDA GPU and none is available; "
                f"use --preset {DEFAULT_PRESET} on this machine"
            )


def read_patch(path: Path) -> str:
    """A ``--patch`` file's diff, checked against today's recipe, or a UserError."""
    from orchestrator.patches import patch_refusal

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--patch {path}: cannot read it as UTF-8 text ({exc})") from None
    if problem := patch_refusal(text):
        raise UserError(f"--patch {path}: {problem}")
    return text


def study_spec(
    study_file: Path,
    assignments: list[str],
    budget_seconds: float | None,
    budget_tokens: int | None,
    seed: int | None,
    patch: str | None,
) -> TrialSpec:
    """The spec of one trial as the study in ``study_file`` would dispatch it: its
    objective, data set, budget, device, seed and parameter defaults, ``--set`` changes
    checked against its search space and constraints. A GPT study only: a patch must be
    allowed by the study (``[search] code_trials``)."""
    from contract.constraints import violations
    from orchestrator.config import StudyConfig
    from trainer.objective import check_spec
    from trainer.spec import TrialSpec

    config = StudyConfig.load(study_file).with_overrides(
        budget_seconds=budget_seconds, budget_tokens=budget_tokens
    )
    if config.objective.kind != "gpt":
        raise UserError(
            f"{study_file}: bilevel trial STUDY.toml runs GPT studies; run a "
            f"{config.objective.kind} objective's trial with `bilevel objective`"
        )
    if patch is not None and not config.search.code_trials:
        raise UserError(
            f"{study_file} leaves code trials off: add [search] code_trials = true to run "
            "--patch as this study would"
        )
    space = config.search_space()
    changes = parse_assignments(space, assignments)
    if errors := space.check_changes(changes, allow_frozen=True):
        raise UserError("; ".join(errors) + " (the trainer never clamps)")
    params = space.apply(space.defaults(), changes)
    if broken := violations(config.all_constraints(), params, config.objective_facts()):
        raise UserError(f"the configuration breaks a constraint: {broken[0]}")
    spec = TrialSpec(
        trial_id=f"cli-{uuid.uuid4().hex[:12]}",
        index=0,
        preset=config.objective.preset,
        dataset=config.objective.dataset,
        budget=config.budget(),
        config=params,
        seed=config.seed if seed is None else seed,
        device=config.objective.device,
        patch=patch,
    )
    if errors := check_spec(spec):
        raise UserError("; ".join(errors))
    require_cuda(spec)
    return spec


def summary_block(result: TrialResult) -> str:
    """The grep-able ``key: value`` lines for a TrialResult."""
    spec = result.spec
    rows: list[tuple[str, Any]] = [
        ("val_bpb", f"{result.val_bpb:.6f}" if result.val_bpb is not None else "n/a"),
        ("status", result.status),
        ("steps", result.steps),
        ("tokens", result.tokens),
        ("tokens_per_s", f"{result.tokens_per_s:.0f}"),
        ("train_seconds", f"{result.train_seconds:.2f}"),
        ("peak_mem_mb", f"{result.peak_mem_mb:.1f}"),
        ("mfu", f"{result.mfu:.4f}" if result.mfu is not None else "n/a"),
        ("hardware", result.hardware or "n/a"),
        ("preset", spec.preset),
        ("dataset", spec.dataset),
        ("budget", f"{spec.budget.amount:g} {spec.budget.mode}"),
        ("seed", spec.seed),
        ("trial_id", spec.trial_id),
    ]
    if spec.patch is not None:
        from trainer.patch import patch_sha256

        rows.append(("patch_sha256", patch_sha256(spec.patch)))
    if result.error:
        rows.append(("error", result.error.replace("\n", "\n" + " " * (SUMMARY_KEY_WIDTH + 1))))
    return "---\n" + "\n".join(f"{k + ':':<{SUMMARY_KEY_WIDTH}} {v}" for k, v in rows)


def run_with_progress(spec: TrialSpec) -> TrialResult:
    """Run the trial supervised, drawing a progress bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from contract.progress import FRACTION, LOSS, PHASE, STEP
    from trainer.supervise import run_supervised

    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("starting", total=1.0, detail="")

        def on_progress(info: dict[str, Any]) -> None:
            detail = ""
            if LOSS in info:
                detail = f"step {info[STEP]}  loss {info[LOSS]:.4f}"
            bar.update(
                task, completed=info.get(FRACTION, 0.0), description=info[PHASE], detail=detail
            )

        return run_supervised(spec, on_progress)


def register(app: typer.Typer) -> None:
    @app.command("trial")
    def trial_command(
        study: Path | None = typer.Argument(
            None,
            help="a GPT study file: run the trial exactly as that study would (its preset, "
            "data set, budget, device, seed and defaults)",
        ),
        preset: str | None = typer.Option(
            None, help=f"preset name (cpu-tiny, paper-gpt50m; default {DEFAULT_PRESET})"
        ),
        set_: list[str] = typer.Option([], "--set", help="NAME=VALUE override; repeatable"),
        budget_seconds: float | None = typer.Option(
            None, help="training seconds (default: the preset's)"
        ),
        budget_tokens: int | None = typer.Option(
            None, help="training tokens instead of seconds (rounded up to whole optimizer steps)"
        ),
        dataset: str | None = typer.Option(
            None, help=f"pinned, stdlib, text:PATH or climbmix (default {DEFAULT_DATASET})"
        ),
        seed: int | None = typer.Option(
            None, help="seeds model init and batch order (default 0, or the study's)"
        ),
        device: str | None = typer.Option(None, help="auto, cpu or cuda (default auto)"),
        as_json: bool = typer.Option(False, "--json", help="print the TrialResult JSON only"),
        patch: Path | None = typer.Option(
            None,
            help="a unified diff of trainer/recipe.py: a code trial, the edited recipe jailed",
        ),
    ) -> None:
        """Run one fixed-budget training trial and print its result."""
        from trainer.spec import DEVICES

        if device is not None and device not in DEVICES:
            raise UserError(f"--device {device!r} is not one of auto, cpu, cuda")
        diff = read_patch(patch) if patch is not None else None
        if study is not None:
            given = [f for f, v in (("--preset", preset), ("--dataset", dataset),
                                    ("--device", device)) if v is not None]  # fmt: skip
            if given:
                raise UserError(
                    f"{', '.join(given)} come(s) from the study file {study}; drop the flag "
                    "or edit the study"
                )
            spec = study_spec(study, set_, budget_seconds, budget_tokens, seed, diff)
        else:
            spec = build_spec(
                preset or DEFAULT_PRESET,
                set_,
                budget_seconds,
                budget_tokens,
                dataset or DEFAULT_DATASET,
                0 if seed is None else seed,
                device or "auto",  # checked against DEVICES above
                patch=diff,
            )
        result = run_with_progress(spec)
        if as_json:
            typer.echo(json.dumps(result.model_dump(mode="json")))
        else:
            typer.echo(summary_block(result))
        if result.status != "ok":
            raise typer.Exit(EXIT_REJECTED)
