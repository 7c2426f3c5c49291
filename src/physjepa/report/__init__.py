"""Run reports: a self-contained ``report.html`` built from a run directory."""

from physjepa.report.html import render_report, write_report

__all__ = ["render_report", "write_report"]
