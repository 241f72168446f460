"""Reports of a sweep RUN: recognition tables with Wilson intervals, Figure-3 plots, a static HTML page.

See docs/report.md. Everything reads only the RUN folder (``build.load``).
"""
from .._lazy import lazy

__getattr__, __dir__ = lazy(__name__, {
    "export": ".build",
    "load": ".build",
    "write_html": ".build",
    "cosine_table": ".tables",
    "recognition_table": ".tables",
})

__all__ = ["load", "export", "write_html", "recognition_table", "cosine_table"]
