"""Reports derived from journals: one study's report, and the ablation report.

Entry points:
- :func:`write_report` (``bilevel report RUN_DIR``)
- :func:`report_line` (the end of ``bilevel study``: ``console.print(report_line(run_dir))``)
- :func:`load_run` (a journal as :class:`RunData`, for statistics and tools)
"""

from orchestrator.report.data import RunData, load_run
from orchestrator.report.study import ReportPaths, report_line, write_report

__all__ = ["ReportPaths", "RunData", "load_run", "report_line", "write_report"]
