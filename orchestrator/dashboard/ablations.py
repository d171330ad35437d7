"""The ablation page's table: the report's own statistics, not a second implementation.

Group rows come from :func:`orchestrator.report.ablation.deltas_by_group`,
:func:`orchestrator.stats.summarize_groups` and
:func:`orchestrator.report.ablation.stats_table`, so the dashboard and ``bilevel report``
print the same intervals and p-values beside the paper's figures.
"""

from __future__ import annotations

from typing import Any

from orchestrator import stats
from orchestrator.dashboard.runs import RunsDir
from orchestrator.errors import UserError
from orchestrator.report.ablation import deltas_by_group, load_ablation, stats_table
from orchestrator.report.study import fmt


def ablation_table(runs: RunsDir, name: str) -> dict[str, Any]:
    """Template context: the group table, the runs with links, and the paper's setup."""
    folder = runs.resolve(name)
    if folder is None:
        return {"headers": [], "rows": [], "runs": [], "setup": stats.PAPER_SETUP, "error": ""}
    try:
        members = load_ablation(folder)
    except (UserError, OSError) as exc:  # a damaged or unreadable journal: say so on the page
        return {
            "headers": [],
            "rows": [],
            "runs": [],
            "setup": stats.PAPER_SETUP,
            "error": str(exc),
        }
    headers, body, _ = stats_table(stats.summarize_groups(deltas_by_group(members)))
    return {
        "headers": headers,
        "rows": body,
        "runs": [
            {
                "name": f"{name}/{item.run.run_dir.name}",
                "group": item.group,
                "repeat": item.repeat,
                "trials": len(item.run.trials),
                "baseline": fmt(item.run.baseline_val_bpb),
                "best": fmt(item.run.best_val_bpb),
                "delta": fmt(item.run.delta, signed=True),
                "state": "finished" if item.run.finished else "unfinished",
            }
            for item in members
        ],
        "setup": stats.PAPER_SETUP,
        "bootstrap": stats.BOOTSTRAP_RESAMPLES,
        "error": "",
    }
