"""Renderers (pure: result -> text), run history, and the one place that writes report files."""

from shadow_audit.report.context import ReportContext
from shadow_audit.report.history import History
from shadow_audit.report.write import FORMATS, publish, render, write_reports

__all__ = ["FORMATS", "History", "ReportContext", "publish", "render", "write_reports"]
