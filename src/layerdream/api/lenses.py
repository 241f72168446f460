"""``ld.lens``: lens readouts of image tokens (``layerdream.lens``) as one call, results as DataFrames."""
from __future__ import annotations

import html as _html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .coerce import _pandas
from .display import PNG, _data_uri, keep_matplotlib_backend

if TYPE_CHECKING:  # only for type checkers: importing these costs seconds
    import pandas as pd

    from ..lens.run import LensOutcome
    from ..models.vlm import VLM


@dataclass
class LensResult:
    """What :func:`lens` measured: candidates, rates per lens and layer, neighbour sources, judge-free measures."""

    outcome: LensOutcome
    folder: Path | None

    @property
    def config(self) -> dict[str, Any]:
        return self.outcome.config

    def readouts(self) -> pd.DataFrame:
        """One row per candidate: image, group, layer, token (row, col), lens, rank, candidate, word, score,
        source_layer (contextual), hit (1/0 where the image's content is known)."""
        from ..lens.run import CSV_COLUMNS

        return _pandas().DataFrame(self.outcome.rows, columns=list(CSV_COLUMNS))

    def table(self) -> pd.DataFrame:
        """Interpretable rate (pass@k) per lens, layer, group and category, Wilson 95 %, null beside it."""
        return _pandas().DataFrame(self.outcome.table)

    def sources(self) -> pd.DataFrame:
        """Share of contextual neighbours per (visual layer, text layer), for the images and for uniform
        noise (``images`` = "images" | "noise": the control)."""
        return _pandas().DataFrame(self.outcome.sources, columns=["images", "layer", "text_layer", "neighbours", "share"])

    def measures(self) -> pd.DataFrame:
        """Top-1 retrieval, linear CKA, mutual-kNN per layer, each with N and its permutation null."""
        return _pandas().DataFrame(self.outcome.measures)

    def judged(self) -> pd.DataFrame:
        """The LLM judge's grade of each sampled readout (interpretable 1/0, None with ``error`` on failure)."""
        return _pandas().DataFrame(self.outcome.judged)

    def summary(self) -> list[str]:
        """One line per (lens, layer) of the pooled rows, then one per measure and layer (the CLI prints these)."""
        lines = []
        for r in self.outcome.table:
            if r["category"] != "All":
                continue
            group = "" if r["group"] in ("toyworld", "folder") else f" [{r['group']}]"
            lines.append(f"{r['lens']:>10} layer {r['layer']:>3}{group}: {100 * r['rate']:5.1f}% "
                         f"[{100 * r['ci_lo']:.1f}, {100 * r['ci_hi']:.1f}] of n={r['n_tokens']} tokens; "
                         f"null {100 * r['null_rate']:.1f}%; pass@1 {100 * r['rate_at1']:.1f}%")
        if not self.outcome.table:
            lines.append(f"no automatic grading (unlabelled images): {len(self.outcome.rows)} candidates in lens.csv")
        for r in self.outcome.judged_table:
            rate = "–" if r["rate"] is None else f"{100 * r['rate']:.1f}% [{100 * r['ci_lo']:.1f}, {100 * r['ci_hi']:.1f}]"
            failed = f", {r['errors']} failed" if r["errors"] else ""
            lines.append(f"{r['lens']:>10} layer {r['layer']:>3}: judge says interpretable {rate} of n={r['n']}{failed}")
        for m in self.outcome.measures:
            lines.append(f"{m['measure']:>14} layer {m['layer']:>3}: {m['value']:.3f} (null {m['null_mean']:.3f}, "
                         f"95% {m['null_p95']:.3f}, p={m['p']:.3g}; N={m['N']})")
        return lines

    def plot(self, path: str | os.PathLike[str] | None = None) -> PNG | Path:
        """Rate by layer per lens; written to ``path`` if given, else returned as an inline image."""
        import tempfile

        from ..lens import plots

        with keep_matplotlib_backend():
            if path is not None:
                return plots.rates(self.outcome.table, Path(path))
            with tempfile.TemporaryDirectory(prefix="layerdream-lens-") as tmp:
                return PNG(plots.rates(self.outcome.table, Path(tmp) / "lens_rates.png").read_bytes())

    def _repr_html_(self) -> str:
        lines = "<br>".join(_html.escape(s) for s in self.summary())
        img = f"<img src='{_data_uri(self.plot().data)}' style='max-width:100%'><br>" if self.outcome.table else ""
        return f"<div><b>{_html.escape(str(self.config.get('model')))}</b>: lens readouts ({_html.escape(str(self.config.get('images')))})<br>{img}<code>{lines}</code></div>"

    def __repr__(self) -> str:
        return "\n".join([f"LensResult({self.config.get('model')!r}, {len(self.outcome.rows)} candidates)", *self.summary()])


def lens(model: str | VLM | None = None, *, images: str | os.PathLike[str] | None = None, concepts: Any = "toy",
         layers: Sequence[int] | None = None, lenses: str | Sequence[str] = ("embedding", "logit", "contextual"),
         k: int = 5, tokens: int | str | None = "all", n_images: int = 64, seed: int = 0,
         corpus: str | os.PathLike[str] = "concepts", corpus_limit: int | None = None,
         text_layers: Sequence[int] | None = None, max_contexts: int = 50,
         index_dir: str | os.PathLike[str] | None = None, rebuild_index: bool = False,
         out: str | os.PathLike[str] | None = None, device: str | None = None, dtype: str | None = None,
         prompt_format: str = "chat", measures: bool = True, n_perm: int = 1000, batch: int = 16,
         progress: bool = True, judge: dict[str, Any] | None = None, human_sample: int | None = None) -> LensResult:
    """Read image tokens with the embedding, logit and contextual (LatentLens) lens at every layer.

    ``model``: a name as for :func:`layerdream.load` or a loaded VLM (default toy-aligned, or a RUN's
    model). ``images``: None (the toy world: ``n_images`` images, labels known), a folder (images in
    subfolders named after ``concepts`` are graded), or a sweep RUN (its images; results go to
    ``RUN/lens`` and into its report). ``tokens``: "all" or a seeded sample per image. ``corpus``:
    "concepts" (shipped), "latentlens" (``pip install --no-deps latentlens``) or a text file. ``out``:
    also write the files there. ``judge``: ``{"model": "gpt-5", "base_url": ..., "sample": 20}`` grades a
    seeded sample of readouts per lens and layer with an OpenAI-compatible VLM (LatentLens's protocol);
    ``{"kind": "hf", "model": "path/or/hub-id", "sample": 20}`` with a local transformers VLM.
    ``human_sample``: also write that many readouts per lens and layer (marked images + ``items.csv``
    in ``out/lens_human/``) for people to grade with ``layerdream annotate OUT --lens``.
    Returns a :class:`LensResult` (DataFrames: ``readouts()``, ``table()``, ``sources()``, ``measures()``,
    ``judged()``). docs/lens.md.
    """
    from ..lens.study import run_lens

    outcome = run_lens(model, images=images, concepts=concepts, layers=layers, lenses=lenses, k=k,
                       tokens=None if tokens == "all" else tokens, n_images=n_images, seed=seed, corpus=corpus,
                       corpus_limit=corpus_limit, text_layers=text_layers, max_contexts=max_contexts,
                       index_dir=index_dir, rebuild_index=rebuild_index, out=out, device=device, dtype=dtype,
                       prompt_format=prompt_format, measures=measures, n_perm=n_perm, batch=batch, progress=progress,
                       judge=judge, human_sample=human_sample)
    folder = Path(outcome.files["lens.csv"]).parent if outcome.files else None
    return LensResult(outcome, folder)
