"""Reports derived from journals: one study's report, and the ablation report.

Entry points:
- :func:`write_report` (``bilevel report RUN_DIR``)
- :func:`report_line` (the end of ``bilevel study``: ``console.print(report_line(run_dir))``)
- :func:`write_ablation_report` (``bilevel report OUT`` on a ``bilevel ablation`` folder)
- :func:`load_run` (a journal as :class:`RunData`, for statistics and tools)
"""

from orchestrator.report.ablation import is_ablation_dir, load_ablation, write_ablation_report
from orchestrator.report.data import RunData, load_run
from orchestrator.report.study import ReportPaths, report_line, write_report

__all__ = [
    "ReportPaths",
    "RunData",
    "is_ablation_dir",
    "load_ablation",
    "load_run",
    "report_line",
    "write_ablation_report",
    "write_report",
]
