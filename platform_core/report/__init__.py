"""The planner's report of a run: one self-contained HTML page, CSV and Excel export.

``echelon report OUT`` (see ``docs/report.md``): :func:`build_report` writes
``OUT/report.html``; :func:`export_csv` and :func:`export_xlsx` write
``OUT/recommendations.csv``, ``OUT/exceptions.csv`` and ``OUT/report.xlsx``.
"""

from platform_core.report.export import export_csv, export_xlsx
from platform_core.report.outputs import ReportInputError, RunOutputs, load_run_outputs
from platform_core.report.render import ReportResult, build_report

__all__ = ["build_report", "ReportResult", "export_csv", "export_xlsx", "load_run_outputs", "RunOutputs",
           "ReportInputError"]
