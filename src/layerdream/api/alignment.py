"""``ld.align``: the cosine alignment analysis (``diagnostics.align``) as one call, and its result object."""
from __future__ import annotations

import html as _html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import UserError
from .coerce import _int_list, _load, _pandas, baseline_words, concept_set
from .display import PNG, _data_uri, keep_matplotlib_backend

if TYPE_CHECKING:  # only for type checkers: importing these costs seconds
    import pandas as pd

    from ..models.vlm import VLM


@dataclass
class Alignment:
    """The cosine alignment analysis of :func:`align`: one row per (aggregation, layer, concept) + ``All`` rows."""

    rows: list[dict[str, Any]]
    model: str
    source: str
    measures: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # what made the rows: written as alignment.json

    def table(self) -> pd.DataFrame:
        """The rows as a DataFrame (matching, mismatching, noise, gray_noise, margin, n_matching, ...)."""
        return _pandas().DataFrame(self.rows)

    def measures_table(self) -> pd.DataFrame:
        """The judge-free measures per layer (top-1 retrieval, linear CKA, mutual-kNN), each with N and its
        permutation null (null_mean, null_p95, p)."""
        return _pandas().DataFrame(self.measures)

    def summary(self) -> list[str]:
        """One line per (aggregation, layer): the ``All`` row, as ``layerdream align`` prints it; then one
        per judge-free measure and layer."""
        lines = [f"{r['aggregation']:>9} layer {r['layer']:>3}: matching {r['matching']:+.3f}  mismatching {r['mismatching']:+.3f}  "
                 f"noise {r['noise']:+.3f}  gray+noise {r['gray_noise']:+.3f}  margin {r['margin']:+.3f}"
                 for r in self.rows if r["concept"] == "All"]
        for m in self.measures:
            chance = f", chance {m['chance']:.3f}" if "chance" in m else ""
            lines.append(f"{m['measure']:>14} layer {m['layer']:>3}: {m['value']:.3f} (null {m['null_mean']:.3f}, 95% "
                         f"{m['null_p95']:.3f}, p={m['p']:.3g}; N={m['N']}{chance})")
        return lines

    def plot(self, path: str | os.PathLike[str] | None = None) -> PNG | Path:
        """Cosine vs layer per aggregation; written to ``path`` if given, else returned as an inline image."""
        import tempfile

        from ..diagnostics import align as A

        title = f"{self.model}: text-image alignment ({self.source})"
        with keep_matplotlib_backend():
            if path is not None:
                return A.plot(self.rows, Path(path), title=title)
            with tempfile.TemporaryDirectory(prefix="layerdream-align-") as tmp:
                return PNG(A.plot(self.rows, Path(tmp) / "alignment.png", title=title).read_bytes())

    def save(self, out: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``alignment.csv``, ``measures.csv``, ``alignment.png`` and ``alignment.json`` (the config, seed
        and package versions that made them: the CSVs alone did not say) into the folder ``out`` (atomically)."""
        import csv

        from ..io import atomic_write_bytes, atomic_write_json, ensure_writable_dir, versions

        folder = ensure_writable_dir(out)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(self.rows[0]))
        writer.writeheader()
        writer.writerows(self.rows)
        csv_path = atomic_write_bytes(folder / "alignment.csv", buf.getvalue().encode())
        if self.measures:
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for m in self.measures for k in m)))
            writer.writeheader()
            writer.writerows(self.measures)
            atomic_write_bytes(folder / "measures.csv", buf.getvalue().encode())
        atomic_write_json(folder / "alignment.json", {"model": self.model, "source": self.source, **self.config,
                                                      "versions": versions()})
        return csv_path, Path(self.plot(folder / "alignment.png"))

    def _repr_html_(self) -> str:
        lines = "<br>".join(_html.escape(s) for s in self.summary())
        return (f"<div><b>{_html.escape(self.model)}</b>: text-image alignment ({_html.escape(self.source)})<br>"
                f"<img src='{_data_uri(self.plot().data)}' style='max-width:100%'><br><code>{lines}</code></div>")

    def __repr__(self) -> str:
        return "\n".join([f"Alignment({self.model!r}, {len(self.rows)} rows, {self.source})", *self.summary()])


def align(model: str | VLM, concepts: Any = "toy", *, images: str | os.PathLike[str] | None = None,
          layers: Sequence[int] | None = None, aggregations: str | Sequence[str] = ("mean", "attention"),
          tau: float | None = None, prompt_format: str = "chat", baseline: Any = None, n_images: int = 64,
          n_controls: int = 16, seed: int = 0, out: str | os.PathLike[str] | None = None,
          device: str | None = None, dtype: str | None = None, n_perm: int = 1000) -> Alignment:
    """Cosine between concept vectors and real images' representations, per layer: matching vs mismatching
    images vs content-free controls (noise, gray + noise), with both aggregations unless told.

    ``images``: a folder with one subfolder per concept (default for ``concepts="toy"``: the toy world's
    images); checked before the model loads. ``layers``: default every layer. ``out``: also write
    ``alignment.csv``, ``measures.csv`` and ``alignment.png`` there. ``n_perm``: permutations of each
    judge-free measure's null (0: no measures). Returns an :class:`Alignment`.
    """
    from ..diagnostics import align as A

    if n_images < 1 or n_controls < 1:
        raise UserError("--n-images and --n-controls must be at least 1")
    if n_perm < 0:
        raise UserError(f"--n-perm must be 0 (no judge-free measures) or more, got {n_perm}")
    if tau is not None and tau <= 0:
        raise UserError(f"--tau must be positive, got {tau}")
    aggs = [a.strip() for a in aggregations.split(",")] if isinstance(aggregations, str) else list(aggregations)
    bad = [a for a in aggs if a not in A.AGGREGATIONS]
    if bad or not aggs:
        raise UserError(f"unknown aggregation {bad or aggs}; choose from {', '.join(A.AGGREGATIONS)}")
    cs = concept_set(concepts)
    names = [c.name for c in cs.concepts]
    if isinstance(baseline, (str, os.PathLike)):
        baseline = baseline_words(baseline)
    data = None
    if images is not None:  # every file checked, and the margin defined, before the model loads
        A.check_contrast(names, [{c} for _, c in A.scan_image_dir(images, names)])
    elif cs.name == "toy":
        data = A.images_from_toyworld(n_images, seed)
        A.check_contrast(names, data.labels)
    else:
        raise UserError("--images DIR is needed (only --concepts toy has default images: the toy world's)")
    if out is not None:
        from ..io import check_free_space, ensure_writable_dir

        ensure_writable_dir(out)
        check_free_space(out, 64 * 1024, "alignment.csv and alignment.png")  # a full disk: now, not after the forwards
    vlm = _load(model, device, dtype)
    if data is None:
        data = A.images_from_dir(images, names, vlm)  # resized as the model's processor does
    layer_list = _int_list(layers, "layers") if layers is not None else list(range(1, vlm.num_layers + 1))
    rows, measures = A.alignment_with_measures(
        vlm, names, {c.name: c.category for c in cs.concepts}, data, layer_list, n_controls, seed,
        aggregations=list(dict.fromkeys(aggs)), tau=tau, prompt_format=prompt_format, baseline=baseline, n_perm=n_perm)
    if not rows:
        raise UserError("no concept has a matching image; check the subfolder names against the concepts")
    config = {"concepts": cs.name, "n_concepts": len(names), "images": None if images is None else os.fspath(images),
              "layers": layer_list, "aggregations": list(dict.fromkeys(aggs)), "tau": tau if tau is not None else "paper's, by layer",
              "prompt_format": prompt_format, "baseline": "default" if baseline is None else f"{len(baseline)} words",
              "n_images": n_images if images is None else None, "n_controls": n_controls, "n_perm": n_perm, "seed": seed,
              "device": str(vlm.device), "dtype": str(vlm.dtype).replace("torch.", "")}
    result = Alignment(rows, vlm.name, data.source, measures, config)
    if out is not None:
        result.save(out)
    return result
