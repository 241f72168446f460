"""Figure-3-style plots: recognition rate vs layer, one panel per category.

Styled after the paper's Figure 3 (method.md c.5): a red line with markers and a shaded 95% band.
We add the chance line the paper does not draw: the pooled random-direction and shuffled-concept
controls of the same RUN, in gray, with their own band and their n in the legend (a chance line from
a handful of images is itself uncertain, and the reader must see how much).

The band is the interval for a claim about concepts: the bootstrap over concepts with their seeds
nested (``ci_concepts``, evaluation/stats.py; the paper's Wilson over queries covered 0.46-0.49 at
nominal 95 %, docs/evaluation.md). A cell with a single concept (or control unit) has no such
interval; there the band falls back to Wilson over queries, and the title says so.
Matplotlib's Agg backend only: it runs headless and writes a PNG.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .tables import ALL, grid


def figure3(rows: list[dict[str, Any]], protocol: str, path: str | Path, title: str = "") -> Path | None:
    """Write the figure for one protocol to ``path``; None if there is nothing to plot (no scored query)."""
    fig = figure3_figure(rows, protocol, title)
    if fig is None:
        return None
    from ..io import save_figure

    return save_figure(fig, path)


def _band(ax, xs: list[int], lo: list[float], hi: list[float], **style: Any) -> None:
    """A shaded interval over layers; at a single layer a band has no width, so a short one is drawn
    half a layer either side (else the one-layer plot lost its bands and chance lines: issue 24 item 13)."""
    if len(xs) == 1:
        xs, lo, hi = [xs[0] - 0.35, xs[0] + 0.35], lo * 2, hi * 2
    ax.fill_between(xs, lo, hi, **style)


def _line(ax, xs: list[int], ys: list[float], **style: Any) -> None:
    if len(xs) == 1 and not style.get("marker"):  # one point of a line without markers draws nothing
        xs, ys = [xs[0] - 0.35, xs[0] + 0.35], ys * 2
    ax.plot(xs, ys, **style)


def figure3_figure(rows: list[dict[str, Any]], protocol: str, title: str = ""):
    """The figure for one protocol (a matplotlib Figure; Agg), or None if there is nothing to plot.
    ``{band}`` in ``title`` becomes what the bands show (:func:`band_label`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    categories, layers, cells = grid(rows, "concept", protocol)
    if not any(c["rate"] is not None for c in cells.values()):
        return None  # nothing scored (no verdicts, or every query failed): no empty plot
    _, _, random_cells = grid(rows, "random", protocol)
    _, _, shuffled_cells = grid(rows, "shuffled", protocol)
    ncols = min(4, len(categories))
    nrows = math.ceil(len(categories) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False, sharey=True)
    for ax in axes.flat[len(categories):]:
        ax.set_visible(False)
    used: set[str] = set()  # which intervals the bands show: named in the title
    for ax, category in zip(axes.flat, categories):
        xs = [l for l in layers if (category, l) in cells and cells[(category, l)]["rate"] is not None]
        ys = [cells[(category, l)]["rate"] for l in xs]
        lo, hi = _interval([cells[(category, l)] for l in xs], used)
        _band(ax, xs, lo, hi, color="tab:red", alpha=0.2, linewidth=0)
        _line(ax, xs, ys, color="tab:red", marker="o", markersize=4, linewidth=1.5, label="concept")
        for ctrl, style, name in ((random_cells, "--", "random control"), (shuffled_cells, ":", "shuffled control")):
            cx = [l for l in layers if (ALL, l) in ctrl and ctrl[(ALL, l)]["rate"] is not None]
            if cx:
                cells_c = [ctrl[(ALL, l)] for l in cx]
                _band(ax, cx, *_interval(cells_c, used), color="0.5", alpha=0.12, linewidth=0)
                _line(ax, cx, [c["rate"] for c in cells_c], color="0.45", linestyle=style, linewidth=1.2,
                      label=f"{name} ({_n_range(cells_c)} per layer, all categories)")
        ax.set_title(category, fontsize=10)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xticks(layers)
        if len(layers) == 1:
            ax.set_xlim(layers[0] - 1, layers[0] + 1)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("recognition rate")
    for ax in axes[-1, :]:
        ax.set_xlabel("layer")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    ncol = len(labels) if ncols >= 4 else 1  # long labels (they carry n): one per line on narrow figures
    legend_rows = -(-len(labels) // max(1, ncol))
    panels = fig.get_figheight()
    fig.set_figheight(panels + 0.25 * legend_rows + 0.3)  # the legend gets its own room; the panels keep theirs
    bottom = (0.25 * legend_rows + 0.2) / fig.get_figheight()
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    title = (title or f"Recognition rate by layer ({protocol}; {{band}})").replace("{band}", band_label(used))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, bottom, 1, 0.95))
    return fig


def _interval(cells: list[dict[str, Any]], used: set[str]) -> tuple[list[float], list[float]]:
    """Per cell the bootstrap over concepts, or Wilson over queries where the cell has one concept."""
    lo, hi = [], []
    for c in cells:
        kind = "concepts" if c.get("ci_concepts_lo") is not None else "queries"
        used.add(kind)
        lo.append(c[f"ci_{kind}_lo"])
        hi.append(c[f"ci_{kind}_hi"])
    return lo, hi


def band_label(used: set[str]) -> str:
    """What the shaded bands are, for a title."""
    if used == {"queries"}:
        return "95% Wilson band over queries: one concept per cell"
    if used == {"concepts", "queries"}:
        return "95% band: bootstrap over concepts, Wilson over queries where a cell has one concept"
    return "95% band: bootstrap over concepts, seeds nested"


def _n_range(cells: list[dict[str, Any]]) -> str:
    """ "8 images, q=80" or "6-8 images, q=60-80" over the layers of a chance line."""
    def span(values: list[int]) -> str:
        lo, hi = min(values), max(values)
        return str(lo) if lo == hi else f"{lo}-{hi}"

    return f"{span([c['images'] for c in cells])} images, q={span([c['n'] for c in cells])}"
