"""Renderers (pure: result -> text), run history, and the one place that writes report files."""

from shadow_audit.report.context import ReportContext
from shadow_audit.report.history import History
from shadow_audit.report.publish import PublishedRun, check_options, publish_run
from shadow_audit.report.view import group_findings, reasons
from shadow_audit.report.write import FORMATS, Published, publish, render, write_reports

__all__ = [
    "FORMATS",
    "History",
    "Published",
    "PublishedRun",
    "ReportContext",
    "check_options",
    "group_findings",
    "publish",
    "publish_run",
    "reasons",
    "render",
    "write_reports",
]
