"""Readouts for human graders: the marked images a person sees in ``layerdream annotate DIR --lens``.

``layerdream lens --human-sample N`` writes, for a seeded sample of N readouts per lens and layer (the
same sample as the LLM judge's, see ``judging.sample_readouts``), the very image the judge gets
(``judging.marked_png``: the image enlarged with the token's patch boxed in red, beside the patch) into
``OUT/lens_human/``, and a manifest ``items.csv`` that says what each image is.

Why files, not a live model: the annotation server must run without the model, on any machine the
folder is copied to, and show exactly what the judge was shown. The manifest is the contract with the
annotate package (which serves it) and the report (which grades humans against it); neither imports
this module. Columns: ``key`` (``image|layer|token|lens``), ``image``, ``group``, ``layer``, ``token``,
``row``, ``col``, ``lens``, ``candidates`` (a JSON list, rank order), ``png`` (a file name in
``lens_human/``), ``png_sha256``, ``auto`` (the automatic grade, 1/0, empty for unlabelled images).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

from .judging import Readout, marked_png

FOLDER = "lens_human"
MANIFEST = "items.csv"
COLUMNS = ("key", "image", "group", "layer", "token", "row", "col", "lens", "candidates", "png", "png_sha256", "auto")


def item_key(image: str, layer: int, token: int, lens: str) -> str:
    return f"{image}|{layer}|{token}|{lens}"


def write_items(out: str | Path, readouts: Sequence[Readout], rows: Sequence[dict[str, Any]],
                grid: tuple[int, int]) -> Path:
    """Write the marked images (each atomically) and then the manifest; returns the manifest's path.

    ``rows`` are the lens run's candidate rows, for each item's group and automatic grade."""
    from ..io import atomic_write_bytes
    from .run import to_csv

    folder = Path(out) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    info: dict[str, dict[str, Any]] = {}
    for r in rows:
        got = info.setdefault(item_key(r["image"], r["layer"], r["token"], r["lens"]), {"group": r["group"], "hits": []})
        if r["hit"] != "":
            got["hits"].append(int(r["hit"]))
    items = []
    for ro in readouts:
        key = item_key(ro.image_id, ro.layer, ro.token, ro.lens)
        png = marked_png(ro.image, ro.row, ro.col, grid)
        name = hashlib.sha256(key.encode()).hexdigest()[:20] + ".png"  # no concept or image name in the file name
        atomic_write_bytes(folder / name, png)
        hits = info.get(key, {}).get("hits", [])
        items.append({"key": key, "image": ro.image_id, "group": info.get(key, {}).get("group", ""), "layer": ro.layer,
                      "token": ro.token, "row": ro.row, "col": ro.col, "lens": ro.lens,
                      "candidates": json.dumps(ro.candidates, ensure_ascii=False), "png": name,
                      "png_sha256": hashlib.sha256(png).hexdigest(), "auto": int(any(hits)) if hits else ""})
    return atomic_write_bytes(folder / MANIFEST, to_csv(items, COLUMNS))
