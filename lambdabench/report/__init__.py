"""Reports: ledger rows + metrics → one Report → table | json | csv | md | html.

build_report() is the only part that reads the ledger; every render_* function is pure (a Report
in, text out), so the CLI does ``print(render(build_report(ledger, [sweep_id]), "table"))``.

Per GPU type (side by side): runs, failures, billed minutes, cost (policy estimate and upper
bound), $/run, effective $/h, throughput (env-steps/s), wall time, $ per million env-steps,
set-up time (boot, SSH wait, setup with image pull and container start) against benchmark time,
and GPU utilisation/energy when telemetry was recorded. Simulated runs are labelled in every format.
"""

from collections.abc import Callable
from typing import Any

from lambdabench.errors import UsageError
from lambdabench.report import model
from lambdabench.report.build import build_report, build_run_report, group_runs
from lambdabench.report.cells import (
    GROUP_COLUMNS,
    RUN_COLUMNS,
    Column,
    format_cell,
    format_seconds,
    format_small_dollars,
)
from lambdabench.report.html import _PALETTE, render_html, report_charts
from lambdabench.report.model import (
    COST_NOTE,
    FORMATS,
    SIMULATED_NOTE,
    GroupReport,
    Report,
    RunReport,
    Video,
    video_from_file,
)
from lambdabench.report.svg import Chart, svg_bar_chart
from lambdabench.report.text import (
    render_csv,
    render_json,
    render_markdown,
    render_table,
)

__all__ = [
    "COST_NOTE",
    "FORMATS",
    "GROUP_COLUMNS",
    "RUN_COLUMNS",
    "SIMULATED_NOTE",
    "_PALETTE",
    "Chart",
    "Column",
    "GroupReport",
    "Report",
    "RunReport",
    "Video",
    "build_report",
    "build_run_report",
    "format_cell",
    "format_seconds",
    "format_small_dollars",
    "group_runs",
    "render",
    "render_csv",
    "render_html",
    "render_json",
    "render_markdown",
    "render_table",
    "report_charts",
    "svg_bar_chart",
    "video_from_file",
]


def render(report: Report, fmt: str, **options: Any) -> str:
    """Render in one of FORMATS (table, json, csv, md, html); options go to that renderer."""
    renderers: dict[str, Callable[..., str]] = {
        "table": render_table,
        "json": render_json,
        "csv": render_csv,
        "md": render_markdown,
        "markdown": render_markdown,
        "html": render_html,
    }
    if fmt not in renderers:
        raise UsageError(f"unknown report format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    return renderers[fmt](report, **options)


model.RENDERER = render  # Report.render() and str(report) use it
