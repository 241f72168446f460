"""Read images with the three lenses at every requested layer and grade the readouts.

One forward per image batch gives every requested layer (early exit at the deepest). For each image
token (all, or a seeded sample of positions, the same for every layer so a token can be followed
through the layers) and each layer: the embedding lens, the logit lens, and the contextual lens
(neighbours merged over the index's text layers, each with the text layer it comes from).

Written to ``out`` (atomically; a RUN's default is ``RUN/lens/``):
``lens.csv`` (one row per candidate), ``lens_table.csv`` (interpretable rate per lens, layer, group
and category with Wilson 95 % intervals, and the mismatched-label null beside it), ``lens_sources.csv``
(share of contextual neighbours by visual layer x text layer, for the images and for 4 uniform-noise
images as a control), ``lens_measures.csv`` (judge-free
retrieval, CKA, mutual-kNN with nulls, when images are labelled), ``lens.json`` (config, versions,
timing) and the figures ``lens_rates.png``, ``lens_sources.png``; with an LLM judge also
``lens_judged.csv`` (one row per judged readout) and ``lens_judged_table.csv`` (its rate per lens and layer).
"""
from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ..errors import UserError
from . import readouts
from .grading import Grader
from .images import LensImages, model_inputs
from .index import ContextualIndex
from .readouts import LENSES

ALL = "All"
CSV_COLUMNS = ("image", "group", "layer", "token", "row", "col", "lens", "rank", "candidate", "word", "score",
               "source_layer", "hit")


@dataclass
class LensOutcome:
    """Everything a lens run produced, as plain rows (the API turns them into DataFrames)."""

    rows: list[dict[str, Any]]
    table: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    measures: list[dict[str, Any]]
    config: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)
    judged: list[dict[str, Any]] = field(default_factory=list)  # LLM judge's grades of sampled readouts
    judged_table: list[dict[str, Any]] = field(default_factory=list)


def parse_lenses(lenses: str | Sequence[str]) -> list[str]:
    items = lenses.split(",") if isinstance(lenses, str) else list(lenses)
    out = list(dict.fromkeys(str(x).strip() for x in items if str(x).strip()))
    bad = [x for x in out if x not in LENSES]
    if bad or not out:
        raise UserError(f"--lens must be a comma list of {', '.join(LENSES)}, got {lenses!r}")
    return out


def token_sample(n_tokens: int, tokens: int | str | None, seed: int) -> torch.Tensor:
    """Image-token positions to read: all (``None``/"all") or a seeded sample of ``tokens``, sorted."""
    if tokens is None or tokens == "all":
        return torch.arange(n_tokens)
    if not isinstance(tokens, int) or tokens < 1:
        raise UserError(f"--tokens must be 'all' or a positive number, got {tokens!r}")
    if tokens >= n_tokens:
        return torch.arange(n_tokens)
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n_tokens, generator=g)[:tokens].sort().values


def read_images(vlm: Any, data: LensImages, layers: Sequence[int], lenses: Sequence[str], *, k: int = 5,
                tokens: int | str | None = None, seed: int = 0, index: ContextualIndex | None = None,
                batch: int = 16, prompt_format: str = "chat", progress: bool = True,
                measures: bool = True, n_perm: int = 1000) -> LensOutcome:
    """The readouts, graded; see the module docstring. ``index`` is needed for the contextual lens."""
    from ..progress import bar

    if "contextual" in lenses and index is None:
        raise UserError("the contextual lens needs an index (build_index)")
    for layer in layers:
        vlm.check_layer(layer)
    layers = sorted(set(layers))
    rows_, cols_ = vlm.grid
    n_tok = rows_ * cols_
    positions = token_sample(n_tok, tokens, seed)
    grader = Grader(data.categories, data.synonyms) if data.labelled else None
    null_labels = grader.mismatched(data.labels, seed) if grader else [set() for _ in data.labels]
    names = list(data.categories)
    reps: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}
    gray = None
    if measures and grader and names:
        g = torch.full((1, 3, vlm.image_size, vlm.image_size), 0.5)
        gray = vlm.image_tokens_at(g, layers, prompt_format)
    out_rows: list[dict[str, Any]] = []
    hits: dict[tuple, list[tuple[int, int, int, set[str], set[str]]]] = {}
    pbar = bar(len(data.ids), "lens readout", unit="img", enabled=progress)
    t0 = time.perf_counter()
    try:
        for start in range(0, len(data.ids), batch):
            x = model_inputs(vlm, data, start, start + batch)
            states = vlm.image_tokens_at(x, layers, prompt_format)
            for layer in layers:
                z = states[layer]
                if gray is not None:
                    reps[layer].append(F.normalize((z - gray[layer]).mean(1), dim=-1).cpu())
                flat = z[:, positions].reshape(-1, z.shape[-1])
                for lens in lenses:
                    _readout(vlm, lens, flat, k, index, data, start, x.shape[0], positions, layer, vlm.grid,
                             grader, null_labels, out_rows, hits)
            pbar.update(x.shape[0])
    finally:
        pbar.close()
    seconds = time.perf_counter() - t0
    table = rate_table(hits, lenses, layers, data)
    sources = []
    if "contextual" in lenses:
        sources = [{"images": "images", **r} for r in source_table(out_rows)]
        sources += [{"images": "noise", **r} for r in noise_sources(vlm, layers, index, k, positions, prompt_format, seed)]
    measure_rows: list[dict[str, Any]] = []
    if gray is not None:
        from ..concepts import concept_vectors
        from ..diagnostics.measures import judge_free

        # a RUN's control images (random directions, shuffled concepts) show no concept: not in the measures
        keep = [i for i, g in enumerate(data.groups) if not g.startswith(("random", "shuffled")) and data.labels[i]]
        labels = [data.labels[i] for i in keep]
        known = [c for c in names if any(c in lab for lab in labels)]
        for layer in layers:
            v = concept_vectors(vlm, names, layer, prompt_format=prompt_format)
            measure_rows += judge_free(torch.cat(reps[layer])[keep], labels, v, names, layer, n_perm=n_perm, seed=seed)
        for r in measure_rows:
            r["concepts_with_images"] = len(known)
    config = {"images": data.source, "n_images": len(data.ids), "layers": layers, "lenses": list(lenses), "k": k,
              "tokens": "all" if len(positions) == n_tok else int(len(positions)), "tokens_per_image": n_tok,
              "seed": seed, "prompt_format": vlm.resolve_prompt_format(prompt_format), "readout_seconds": seconds,
              "images_per_second": len(data.ids) / seconds if seconds > 0 else None,
              "grading": "automatic: a candidate is one of the image's concept words or synonyms (pass@k); "
                         "null: the same readouts against mismatched labels (another concept of each category)"
                         if grader else "none (unlabelled images)"}
    return LensOutcome(out_rows, table, sources, measure_rows, config)


def _readout(vlm: Any, lens: str, flat: torch.Tensor, k: int, index: ContextualIndex | None, data: LensImages,
             start: int, n: int, positions: torch.Tensor, layer: int, grid: tuple[int, int], grader: Grader | None,
             null_labels: list[set[str]], out_rows: list, hits: dict) -> None:
    """Top-k of one lens for a batch's sampled tokens at one layer: CSV rows and the per-token grades."""
    if lens == "contextual":
        assert index is not None
        nb = index.search(flat, k)
        words = [[index.word(e) for e in row] for row in nb.entries.tolist()]
        cands = [[index.token_text(e) for e in row] for row in nb.entries.tolist()]
        scores, src = nb.scores, nb.layers
    else:
        top = readouts.embedding_lens(vlm, flat, k) if lens == "embedding" else readouts.logit_lens(vlm, flat, k)
        text = readouts.token_text(vlm, top.ids)
        kk = top.ids.shape[1]
        cands = [text[i * kk:(i + 1) * kk] for i in range(top.ids.shape[0])]
        words, scores, src = cands, top.scores, None
    p = len(positions)
    cols = grid[1]
    for i in range(flat.shape[0]):
        img = start + i // p
        pos = int(positions[i % p])
        labels, null = data.labels[img], null_labels[img]
        got = grader.hits(words[i], labels) if grader else set()
        got1 = grader.hits(words[i][:1], labels) if grader else set()
        nul = grader.hits(words[i], null) if grader else set()
        if grader and labels:
            hits.setdefault((lens, layer, data.groups[img]), []).append((img, pos, int(bool(got1)), got, nul))
        for rank in range(len(words[i])):
            out_rows.append({"image": data.ids[img], "group": data.groups[img], "layer": layer, "token": pos,
                             "row": pos // cols, "col": pos % cols, "lens": lens, "rank": rank + 1,
                             "candidate": cands[i][rank], "word": words[i][rank], "score": round(float(scores[i, rank]), 5),
                             "source_layer": "" if src is None else int(src[i, rank]),
                             "hit": "" if not grader or not labels else int(bool(grader.hits([words[i][rank]], labels)))})


def _wilson(k: int, n: int) -> tuple[float | None, float | None]:
    from ..evaluation.stats import wilson_interval

    return wilson_interval(k, n) if n else (None, None)


def rate_table(hits: dict, lenses: Sequence[str], layers: Sequence[int], data: LensImages) -> list[dict[str, Any]]:
    """Interpretable rate (pass@k) per (lens, layer, group, category), Wilson 95 %, with its null."""
    out = []
    cats = list(dict.fromkeys(data.categories.values()))
    for (lens, layer, group), items in sorted(hits.items(), key=lambda kv: (list(lenses).index(kv[0][0]), kv[0][1], kv[0][2])):
        for cat in [ALL, *cats]:
            if cat == ALL:
                sel = [(h1, bool(g), bool(nl)) for _, _, h1, g, nl in items]
            else:
                sel = [(0, any(data.categories.get(c) == cat for c in g), any(data.categories.get(c) == cat for c in nl))
                       for _, _, _, g, nl in items]
            n = len(sel)
            k_any, k_null = sum(g for _, g, _ in sel), sum(nl for _, _, nl in sel)
            lo, hi = _wilson(k_any, n)
            nlo, nhi = _wilson(k_null, n)
            row = {"lens": lens, "layer": layer, "group": group, "category": cat, "n_tokens": n,
                   "images": len({i for i, *_ in items}), "k": k_any, "rate": k_any / n if n else None,
                   "ci_lo": lo, "ci_hi": hi, "null_k": k_null, "null_rate": k_null / n if n else None,
                   "null_ci_lo": nlo, "null_ci_hi": nhi}
            if cat == ALL:
                k1 = sum(h for h, _, _ in sel)
                row["rate_at1"] = k1 / n if n else None
            out.append(row)
    return out


def source_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Share of contextual neighbours per (visual layer, text layer): LatentLens's "mid-layer leap"."""
    counts: dict[tuple[int, int], int] = {}
    totals: dict[int, int] = {}
    for r in rows:
        if r["lens"] != "contextual":
            continue
        key = (r["layer"], int(r["source_layer"]))
        counts[key] = counts.get(key, 0) + 1
        totals[r["layer"]] = totals.get(r["layer"], 0) + 1
    return [{"layer": v, "text_layer": t, "neighbours": c, "share": c / totals[v]} for (v, t), c in sorted(counts.items())]


def noise_sources(vlm: Any, layers: Sequence[int], index: ContextualIndex, k: int, positions: torch.Tensor,
                  prompt_format: str, seed: int, n: int = 4) -> list[dict[str, Any]]:
    """The source table of ``n`` uniform-noise images: the control LatentLens does not draw. Where noise
    shows the same visual-layer -> text-layer pattern as the images, the pattern is the residual
    stream's layer geometry (raw cosine), not content."""
    g = torch.Generator().manual_seed(seed + 7)
    x = torch.rand(n, 3, vlm.image_size, vlm.image_size, generator=g)
    states = vlm.image_tokens_at(x, list(layers), prompt_format)
    rows = []
    for layer in layers:
        nb = index.search(states[layer][:, positions].reshape(-1, states[layer].shape[-1]), k)
        rows += [{"lens": "contextual", "layer": layer, "source_layer": s} for s in nb.layers.flatten().tolist()]
    return source_table(rows)


def to_csv(rows: list[dict[str, Any]], columns: Sequence[str] | None = None) -> bytes:
    buf = io.StringIO()
    if not rows and not columns:
        return b""
    writer = csv.DictWriter(buf, fieldnames=list(columns or rows[0]), extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue().encode()


def save(outcome: LensOutcome, out: str | Path, title: str = "") -> dict[str, Path]:
    """Write every file of the run into ``out`` (each atomically; the figures last)."""
    from ..io import atomic_write_bytes, atomic_write_json, ensure_writable_dir, versions
    from . import plots

    folder = ensure_writable_dir(out)
    files = {"lens.csv": atomic_write_bytes(folder / "lens.csv", to_csv(outcome.rows, CSV_COLUMNS))}
    if outcome.table:
        cols = list(dict.fromkeys(k for r in outcome.table for k in r))
        files["lens_table.csv"] = atomic_write_bytes(folder / "lens_table.csv", to_csv(outcome.table, cols))
    if outcome.sources:
        files["lens_sources.csv"] = atomic_write_bytes(folder / "lens_sources.csv", to_csv(outcome.sources))
    if outcome.measures:
        cols = list(dict.fromkeys(k for r in outcome.measures for k in r))
        files["lens_measures.csv"] = atomic_write_bytes(folder / "lens_measures.csv", to_csv(outcome.measures, cols))
    if outcome.judged:
        files["lens_judged.csv"] = atomic_write_bytes(folder / "lens_judged.csv", to_csv(outcome.judged))
        files["lens_judged_table.csv"] = atomic_write_bytes(folder / "lens_judged_table.csv", to_csv(outcome.judged_table))
    files["lens.json"] = atomic_write_json(folder / "lens.json", {**outcome.config, "versions": versions()})
    if outcome.table:
        files["lens_rates.png"] = plots.rates(outcome.table, folder / "lens_rates.png", title=title)
    if outcome.sources:
        files["lens_sources.png"] = plots.sources(outcome.sources, folder / "lens_sources.png", title=title)
    outcome.files = files
    return files
