"""Renderers (pure: result -> text) and the one function that writes report files."""

from shadow_audit.report.write import FORMATS, render, write_reports

__all__ = ["FORMATS", "render", "write_reports"]
