"""`bilevel ablation FILE`: the paper's groups and two controls, paired, resumable, with stats."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from orchestrator.ablation_groups import DEFAULT_GROUPS, DEFAULT_REPEATS, GROUPS

if TYPE_CHECKING:
    from orchestrator.ablation import RunPlan

# Where runs go when --out is not given: beside the studies' own runs/<name>.
DEFAULT_OUT_ROOT = Path("runs")


def register(app: typer.Typer) -> None:
    @app.command("ablation")
    def ablation_command(
        study_file: Path = typer.Argument(..., help="the study file every group starts from"),
        groups: str = typer.Option(
            DEFAULT_GROUPS,
            "--groups",
            help="comma-separated: " + "; ".join(f"{g.name}: {g.levels}" for g in GROUPS.values()),
        ),
        repeats: int = typer.Option(
            DEFAULT_REPEATS,
            "--repeats",
            min=1,
            help="runs per group; repeat k uses seed+k in every group",
        ),
        out: Path | None = typer.Option(
            None, "--out", help="ablation folder (default runs/<study>-ablation); re-run to resume"
        ),
        iterations: int | None = typer.Option(None, "--iterations", min=1, help="trials per run"),
        budget_seconds: float | None = typer.Option(
            None, "--budget-seconds", min=0.001, help="seconds per trial"
        ),
        budget_tokens: int | None = typer.Option(
            None, "--budget-tokens", min=1, help="tokens per trial"
        ),
        llm: str | None = typer.Option(None, "--llm", help="builtin or openai"),
        executor: str | None = typer.Option(None, "--executor", help="inline or rq"),
        parallel: int | None = typer.Option(
            None, "--parallel", min=1, help="trials in flight per run"
        ),
    ) -> None:
        """Run groups × repeats as separate studies (resumable), then print the statistics
        table beside the paper's and write the ablation report."""
        from orchestrator.ablation import parse_groups, run_ablation
        from orchestrator.config import StudyConfig
        from orchestrator.report.ablation import (
            deltas_by_group,
            load_ablation,
            stats_table,
            write_ablation_report,
        )
        from orchestrator.stats import summarize_groups

        names = parse_groups(groups)
        base = StudyConfig.load(study_file).with_overrides(
            iterations=iterations,
            budget_seconds=budget_seconds,
            budget_tokens=budget_tokens,
            llm=llm,
            executor=executor,
            parallel=parallel,
        )
        folder = out or DEFAULT_OUT_ROOT / f"{base.name}-ablation"

        def progress(position: int, total: int, plan: RunPlan, what: str) -> None:
            typer.echo(
                f"[{position}/{total}] {plan.label} (seed {plan.config.seed}): {what}", err=True
            )

        run_ablation(base, names, repeats, folder, progress=progress)
        runs = [r for r in load_ablation(folder) if r.group in names]
        from orchestrator.report.ablation import better_sign, runs_metric

        metric = runs_metric(runs)
        headers, rows, _ = stats_table(summarize_groups(deltas_by_group(runs)), metric)
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        typer.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
        for row in rows:
            typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        from orchestrator.stats import PAPER_SETUP

        sign = f"Δ = best − baseline {metric.name}, {better_sign(metric)} is better"
        typer.echo(f"paper: {PAPER_SETUP}; {sign}" if metric.name == "val_bpb" else sign)
        paths = write_ablation_report(folder)
        typer.echo(f"report: {paths.html}")
