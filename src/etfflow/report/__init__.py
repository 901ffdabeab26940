"""The dated flow report: one data object (`FlowReport`) rendered as Markdown, HTML or JSON."""

from __future__ import annotations

from etfflow.report.build import FlowReport, ReportOptions, build_report, report_from_store
from etfflow.report.html import render_html
from etfflow.report.markdown import render_markdown

__all__ = [
    "FlowReport",
    "ReportOptions",
    "build_report",
    "render_html",
    "render_markdown",
    "report_from_store",
]
