"""The lens figures: interpretable rate by layer per lens (with the mismatched-label null), and the
visual-layer x text-layer heatmap of where contextual neighbours come from. Agg backend, PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Any

COLOURS = {"contextual": "tab:purple", "embedding": "tab:green", "logit": "tab:orange"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def rates(table: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """One panel per group: rate (pass@k) vs layer for each lens, Wilson 95 % band, null dashed."""
    plt = _pyplot()
    rows = [r for r in table if r["category"] == "All" and r["rate"] is not None]
    groups = list(dict.fromkeys(r["group"] for r in rows)) or [""]
    ncols = min(3, len(groups))  # a RUN has a group per kind and synthesis layer: wrap, never shrink
    nrows = (len(groups) + ncols - 1) // ncols
    fig, grid = plt.subplots(nrows, ncols, figsize=(max(6.4, 5.0 * ncols), 3.4 * nrows + 0.4), squeeze=False, sharey=True)
    axes = [list(grid.flat)]
    for ax in axes[0][len(groups):]:
        ax.set_visible(False)
    for ax, group in zip(axes[0], groups):
        for lens in dict.fromkeys(r["lens"] for r in rows):
            sel = sorted((r for r in rows if r["group"] == group and r["lens"] == lens), key=lambda r: r["layer"])
            xs = [r["layer"] for r in sel]
            colour = COLOURS.get(lens, "k")
            ax.fill_between(xs, [r["ci_lo"] for r in sel], [r["ci_hi"] for r in sel], color=colour, alpha=0.18, linewidth=0)
            ax.plot(xs, [r["rate"] for r in sel], "-o", color=colour, markersize=4, label=f"{lens} lens")
            ax.plot(xs, [r["null_rate"] for r in sel], "--", color=colour, linewidth=1, alpha=0.8, label=f"{lens}: null")
        n = max((r["n_tokens"] for r in rows if r["group"] == group), default=0)
        ax.set_title(f"{group} (n={n} tokens per point)", fontsize=9)
        ax.set_xlabel("layer")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.set_xticks(sorted({r["layer"] for r in rows if r["group"] == group}))
    for row in grid:
        row[0].set_ylabel("interpretable tokens (pass@k)")
    axes[0][len(groups) - 1].legend(fontsize=7, loc="best")
    sep = " " if ncols > 1 else "\n"  # one panel is narrow: two lines, never cut at the edges
    fig.suptitle(title or f"Lens readouts: share of image tokens whose top-k names the image's content{sep}"
                 "(95% Wilson band; dashed: mismatched labels)", fontsize=9)
    fig.tight_layout()
    from ..io import save_figure

    return save_figure(fig, path)


def sources(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Heatmaps, one per kind of input (the images; uniform noise, the control): rows = visual
    (image-token) layer, columns = text layer of the contextual neighbour."""
    fig = sources_figure(rows, title)
    from ..io import save_figure

    return save_figure(fig, path)


def sources_figure(rows: list[dict[str, Any]], title: str = "") -> Any:
    """The heatmaps of :func:`sources` as a figure. Constrained layout: with the colorbar and the
    suptitle, tight_layout-free placement had the suptitle over the panel titles and the x labels cut off."""
    import numpy as np

    plt = _pyplot()
    kinds = list(dict.fromkeys(r.get("images", "images") for r in rows))
    vis = sorted({r["layer"] for r in rows})
    txt = sorted({r["text_layer"] for r in rows})
    fig, axes = plt.subplots(1, len(kinds), figsize=(1.6 + (1.2 + 0.55 * len(txt)) * len(kinds), 1.9 + 0.4 * len(vis)),
                             squeeze=False, layout="constrained")
    for ax, kind in zip(axes[0], kinds):
        grid = np.zeros((len(vis), len(txt)))
        for r in rows:
            if r.get("images", "images") == kind:
                grid[vis.index(r["layer"]), txt.index(r["text_layer"])] = r["share"]
        im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto", origin="lower")
        for i in range(len(vis)):
            for j in range(len(txt)):
                ax.text(j, i, f"{100 * grid[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if grid[i, j] < 0.6 else "black")
        ax.set_xticks(range(len(txt)), [str(t) for t in txt])
        ax.set_yticks(range(len(vis)), [str(v) for v in vis])
        ax.set_xlabel("text layer of the neighbour")
        ax.set_ylabel("visual layer")
        ax.set_title("uniform noise (control)" if kind == "noise" else kind, fontsize=9)
    fig.colorbar(im, ax=list(axes[0]), fraction=0.05, label="share of top-k neighbours")
    fig.suptitle(title or "Where contextual neighbours come from (%)", fontsize=9)
    return fig
