"""Display in a notebook: ``ld.show`` (a concept x layer grid), ``PNG`` (an image that shows itself), and
keeping the user's matplotlib backend when the report's headless plotting code runs."""
from __future__ import annotations

import base64
import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..errors import UserError


class PNG:
    """A PNG image that shows itself in Jupyter (``_repr_png_``); ``save(path)`` writes it."""

    def __init__(self, data: bytes):
        self.data = data

    def _repr_png_(self) -> bytes:
        return self.data

    def save(self, path: str | os.PathLike[str]) -> Path:
        from ..io import atomic_write_bytes

        atomic_write_bytes(Path(path), self.data)
        return Path(path)

    def to_pil(self) -> Any:
        from PIL import Image

        return Image.open(io.BytesIO(self.data))

    def __repr__(self) -> str:
        return f"PNG({len(self.data)} bytes)"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


@contextlib.contextmanager
def keep_matplotlib_backend() -> Iterator[None]:
    """The report's plotting code selects matplotlib's Agg backend (headless, for the CLI); in a notebook
    that would silently stop every later figure from showing inline. Put the user's backend back."""
    import matplotlib

    before = dict.__getitem__(matplotlib.rcParams, "backend")
    try:
        yield
    finally:
        after = dict.__getitem__(matplotlib.rcParams, "backend")
        if after != before and isinstance(before, str):
            pyplot = sys.modules.get("matplotlib.pyplot")
            if pyplot is not None:
                pyplot.switch_backend(before)
            else:
                matplotlib.rcParams["backend"] = before


def show(results: Any, *, kind: str = "concept", seed: int | None = None, concepts: Sequence[str] | None = None,
         layers: Sequence[int] | None = None, size: float = 1.6) -> Any:
    """A concept x layer grid of images (matplotlib), the final cosine under each; returns the Figure.

    ``results``: a list of :class:`SynthesisResult`, a :class:`Run` (or its folder), or a DataFrame from
    ``run.results()``. One seed is shown (default the smallest); ``kind`` picks concept images or a
    control kind of a RUN; ``concepts``/``layers`` select and order rows and columns.
    """
    import matplotlib.pyplot as plt

    cells, order = _cells(results, kind)
    if not cells:
        raise UserError(f"nothing to show: no {kind} images")
    seeds = sorted({s for _, _, s in cells})
    seed = seeds[0] if seed is None else seed
    if seed not in seeds:
        raise UserError(f"no images for seed {seed}; seeds: {seeds}")
    picked = {(c, l): v for (c, l, s), v in cells.items() if s == seed}
    shown = {c for c, _ in picked}
    rows = list(concepts) if concepts is not None else [c for c in dict.fromkeys([*order, *(c for c, _ in picked)]) if c in shown]
    cols = list(layers) if layers is not None else sorted({l for _, l in picked})
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(size * len(cols) + 0.8, size * len(rows) + 0.5), squeeze=False)
    for i, concept in enumerate(rows):
        for j, layer in enumerate(cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            cell = picked.get((concept, layer))
            if cell is None:
                ax.set_frame_on(False)
            else:
                image, cosine = cell
                ax.imshow(image(), interpolation="nearest")
                if cosine is not None:
                    ax.set_xlabel(f"cos {cosine:.2f}", fontsize=8)
            if i == 0:
                ax.set_title(f"layer {layer}", fontsize=9)
            if j == 0:
                ax.set_ylabel(concept, fontsize=9)
    fig.suptitle(f"{kind} images, seed {seed}", fontsize=10)
    fig.tight_layout()
    plt.close(fig)  # returned, not also drawn by the inline backend: it shows once
    return fig


def _cells(results: Any, kind: str) -> tuple[dict[tuple[str, int, int], tuple[Callable[[], Any], float | None]], list[str]]:
    """((concept, layer, seed) -> (a function giving the image, final cosine), preferred row order)."""
    from .run import Run  # run.py builds on this module: imported when called

    order: list[str] = []
    if isinstance(results, (str, os.PathLike)):
        results = Run(results)
    if isinstance(results, Run):
        order = [c["name"] for c in results._data()["concepts"]]  # the concept set's order, not the database's
        results = results.results()
    if hasattr(results, "to_dict") and hasattr(results, "columns"):  # a DataFrame from run.results()
        missing = {"concept", "layer", "seed", "image_path"} - set(results.columns)
        if missing:
            raise UserError(f"show(): the DataFrame lacks column(s) {sorted(missing)}; pass run.results()")
        rows = results.to_dict("records")
        return {(r["concept"], int(r["layer"]), int(r["seed"])): (_reader(r["image_path"]), _cos(r.get("cosine_final")))
                for r in rows if r.get("kind", "concept") == kind}, order
    items = [results] if hasattr(results, "to_pil") else list(results)
    if not all(hasattr(r, "to_pil") and hasattr(r, "layer") for r in items):
        raise UserError("show() takes SynthesisResults, a Run (or its folder) or run.results()")
    wanted = {"concept": "concept", "random": "vector", "shuffled": "vector"}.get(kind, kind)
    return {(r.label, r.layer, r.seed): ((lambda r=r: r.to_pil()), _cos(r.cosine_final))
            for r in items if getattr(r, "target", "concept") == wanted}, order


def _reader(path: str) -> Callable[[], Any]:
    def read() -> Any:
        from PIL import Image

        with Image.open(path) as img:
            return img.convert("RGB")

    return read


def _cos(value: Any) -> float | None:
    try:
        return None if value is None or value != value else float(value)
    except (TypeError, ValueError):
        return None
