"""Reports derived from journals: one study's report, and the ablation report.

Entry points:
- :func:`write_report` (``bilevel report RUN_DIR``; also called at the end of ``bilevel study``)
- :func:`load_run` (a journal as :class:`RunData`, for statistics and tools)
"""

from orchestrator.report.data import RunData, load_run
from orchestrator.report.study import ReportPaths, write_report

__all__ = ["ReportPaths", "RunData", "load_run", "write_report"]
