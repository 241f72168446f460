"""Reports of a sweep RUN: recognition tables with Wilson intervals, Figure-3 plots, a static HTML page.

See docs/report.md. Everything reads only the RUN folder (``build.load``).
"""
from .build import export, load, write_html
from .tables import cosine_table, recognition_table

__all__ = ["load", "export", "write_html", "recognition_table", "cosine_table"]
