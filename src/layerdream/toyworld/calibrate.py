"""Calibration: run the product's synthesis on a toy model and score it with the independent judge.

For each layer and seed it synthesises one image per world concept (the product's own concept
vectors, ``layerdream.synthesize``) plus random-direction controls drawn afresh per (seed, layer)
(reusing directions across runs would make "independent" controls identical). Control ``i`` of seed
``s`` carries the nominal label ``CONCEPTS[(i + n_random*s) % 20]``, so its hit rate is what chance plus
the judge's biases give.

Why per-concept rates beside the judge's base rate: a judge that says "circle" for half of all
smooth images makes "circle" look recognised; a concept only counts if it beats how often the judge
says it on the controls. A second null, the mismatched-target rate, catches models whose syntheses
all look alike; the concept-level sign test reads the result with the effective n (the concepts).
"""
from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import torch

from ..errors import UserError
from . import world


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = hits / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def p_at_least(hits: int, n: int, p0: float) -> float:
    """One-sided exact binomial p-value: P(X >= hits) for X ~ Bin(n, p0)."""
    return float(sum(math.comb(n, k) * p0**k * (1 - p0) ** (n - k) for k in range(hits, n + 1)))


def random_targets(layer: int, seed: int, n: int, d: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1_000_003 * (seed + 1) + 7_919 * layer)
    v = torch.randn(n, d, generator=g)
    v = v / v.norm(dim=-1, keepdim=True)
    return {f"random{i:02d}_s{seed}": v[i] for i in range(n)}


def resumable_records(path, model: str, n_random: int, synth_kw: dict) -> list[dict]:
    """Records of an earlier run into the same folder, to be reused instead of synthesised again.

    A file made with other settings is refused rather than silently overwritten: its numbers are a
    measurement, and mixing or replacing them would lose results.
    """
    if path is None or not Path(path).is_file():
        return []
    try:
        old = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path} ({e}); move it away or choose another --out") from None
    theirs = {"model": old.get("model"), "n_random": old.get("n_random"), "synthesis": old.get("synthesis")}
    ours = {"model": model, "n_random": n_random, "synthesis": synth_kw}
    if theirs != ours:
        raise UserError(f"{path} holds a calibration with other settings ({theirs}); "
                        "choose another --out to keep both, or delete it")
    return list(old.get("records", []))


# The preset the toy world was calibrated with, whatever the model: a study's checkpoint saved as a plain
# transformers folder (say a fully fine-tuned toy-gemma) would otherwise get the real-checkpoint default, paper.
PRESET = "fast"


def run(model: str = "toy-aligned", layers=(1, 2), seeds=tuple(range(12)), n_random: int = 20,
        judge_path=None, progress: Callable[[str], None] = print, partial=None, previous=None,
        dtype: str | None = None, **synth_kw) -> dict:
    """Synthesise and judge; returns raw per-image records and the summary tables.

    With ``partial`` (a JSON path) every finished (layer, seed) is saved there at once, and a rerun
    with the same settings picks up those records (or those of a finished report, ``previous``)
    instead of synthesising them again. ``dtype`` (default fp32 on the CPU): ``bfloat16`` halves the
    cost on CPUs with bf16 matrix units, for the real-LM toy models (recorded in the report).
    """
    import layerdream as ld

    from ..io import atomic_write_json
    from .judge import load_judge

    settings = {**synth_kw, "dtype": dtype} if dtype is not None else dict(synth_kw)  # a resumed run must share them
    old = resumable_records(partial, model, n_random, settings) or resumable_records(previous, model, n_random, settings)
    judge = load_judge(judge_path)
    vlm = ld.load(model, device="cpu", dtype=dtype)
    for layer in layers:  # every layer before any work, not after an hour of the others
        vlm.check_layer(layer)
    per_cell = len(world.CONCEPTS) + n_random
    counts = Counter((r["layer"], r["seed"]) for r in old)
    done = {cell for cell, k in counts.items() if k == per_cell}
    records = [r for r in old if (r["layer"], r["seed"]) in done]
    if done:
        progress(f"  resuming: {len(done)} (layer, seed) cells already measured")
    t0 = time.time()
    for layer in layers:
        for seed in seeds:
            if (layer, seed) in done:
                continue
            targets = random_targets(layer, seed, n_random, vlm.hidden_size)
            results = ld.synthesize(vlm, world.CONCEPTS, layers=[layer], seeds=[seed], targets=targets,
                                    progress=False, preset=PRESET, **synth_kw)
            preds = judge.predict(torch.stack([r.image for r in results]))
            for r, p in zip(results, preds):
                if r.label in world.CONCEPTS:
                    kind, nominal = "concept", r.label
                else:
                    i = int(r.label[6:8]) + n_random * seed  # nominal labels rotate through all concepts
                    kind, nominal = "random", world.CONCEPTS[i % len(world.CONCEPTS)]
                cat = world.concept_category(nominal)
                records.append({"layer": layer, "seed": seed, "kind": kind, "label": r.label, "concept": nominal,
                                "category": cat, "judged": p, "hit": p[cat] == nominal,
                                "cosine_final": r.cosine_final})
            progress(f"  {model} layer {layer} seed {seed}: {len(results)} images ({time.time() - t0:.0f}s)")
            if partial is not None:  # a long calibration keeps what it measured if it is stopped
                atomic_write_json(partial, {"model": model, "n_random": n_random, "synthesis": settings,
                                            "records": records})
    records = [r for r in records if r["layer"] in layers and r["seed"] in seeds]
    records.sort(key=lambda r: (list(layers).index(r["layer"]), r["seed"]))
    return {"model": model, "layers": list(layers), "seeds": list(seeds), "n_random": n_random, "synthesis": settings,
            "records": records, "summary": summarise(records, layers)}


def summarise(records: list[dict], layers) -> dict:
    out = {}
    for layer in layers:
        rec = [r for r in records if r["layer"] == layer]
        row = {}
        for kind in ("concept", "random"):
            cats = {}
            for cat in world.CATEGORIES:
                rs = [r for r in rec if r["kind"] == kind and r["category"] == cat]
                hits = sum(r["hit"] for r in rs)
                cats[cat] = {"hits": hits, "n": len(rs), "rate": hits / len(rs) if rs else None,
                             "ci": wilson(hits, len(rs))}
            rates = [c["rate"] for c in cats.values() if c["rate"] is not None]
            row[kind] = {"categories": cats, "mean_over_categories": sum(rates) / len(rates) if rates else None}
        controls = [r for r in rec if r["kind"] == "random"]
        per_concept = {}
        for c in world.CONCEPTS:
            cat = world.concept_category(c)
            rs = [r for r in rec if r["kind"] == "concept" and r["concept"] == c]
            base = sum(r["judged"][cat] == c for r in controls) / len(controls) if controls else None
            hits = sum(r["hit"] for r in rs)
            per_concept[c] = {"hits": hits, "n": len(rs), "base_rate": base,
                              "rate": hits / len(rs) if rs else None,
                              "p_above_base": p_at_least(hits, len(rs), base) if base is not None and rs else None}
        row["per_concept"] = per_concept
        # Second null, from the concept images themselves: how often an image made for another concept
        # of the category is judged as this one. It catches a model whose syntheses all look alike
        # (every target gives the same round green blob), which random directions need not show.
        for c in world.CONCEPTS:
            cat = world.concept_category(c)
            others = [r for r in rec if r["kind"] == "concept" and r["category"] == cat and r["concept"] != c]
            v = per_concept[c]
            v["mismatch_rate"] = sum(r["judged"][cat] == c for r in others) / len(others) if others else None
            v["p_above_mismatch"] = (p_at_least(v["hits"], v["n"], v["mismatch_rate"])
                                     if v["n"] and v["mismatch_rate"] is not None else None)
        # The null for a category: the judge names each of its concepts as often as it does on the
        # controls. Every control image is judged in every category, so this uses all of them.
        for cat, names in world.CATEGORIES.items():
            cell = row["concept"]["categories"][cat]
            bases = [per_concept[c]["base_rate"] for c in names]
            base = sum(bases) / len(bases) if controls else None
            cell["base_rate"] = base
            cell["p_above_base"] = p_at_least(cell["hits"], cell["n"], base) if base is not None and cell["n"] else None
            mism = [per_concept[c]["mismatch_rate"] for c in names]
            cell["mismatch_rate"] = sum(mism) / len(mism) if None not in mism else None
            cell["p_above_mismatch"] = (p_at_least(cell["hits"], cell["n"], cell["mismatch_rate"])
                                        if cell["mismatch_rate"] is not None and cell["n"] else None)
        # Concept-level sign test, the conservative one: the effective n is the concepts (a seed only
        # changes shifts and noise), so count concepts hit more often than the judge names them anyway.
        if controls:
            above = sum(v["n"] > 0 and v["rate"] > v["base_rate"] for v in per_concept.values())
            row["concepts_above_base"] = {"k": above, "of": len(per_concept),
                                          "p_sign_test": p_at_least(above, len(per_concept), 0.5)}
        out[str(layer)] = row
    out["chance_mean_over_categories"] = sum(1 / len(v) for v in world.CATEGORIES.values()) / len(world.CATEGORIES)
    return out


def _marks(c: dict) -> str:
    """' *' above the random-control base rate, ' †' above the mismatched-target rate too (p < 0.05)."""
    if c.get("p_above_base") is None or c["p_above_base"] >= 0.05:
        return ""
    return " *†" if c.get("p_above_mismatch") is not None and c["p_above_mismatch"] < 0.05 else " *"


def _cell(c: dict, mark: bool = False) -> str:
    if not c["n"]:
        return "-"
    return f"{c['rate']:.2f} [{c['ci'][0]:.2f}, {c['ci'][1]:.2f}] (n={c['n']}){_marks(c) if mark else ''}"


def markdown(report: dict) -> str:
    """Tables for docs/toyworld.md."""
    s = report["summary"]
    overrides = f" {report['synthesis']}" if report.get("synthesis") else ""
    lines = [f"**{report['model']}** (synthesis: preset {PRESET}{overrides}, seeds {report['seeds'][0]}-{report['seeds'][-1]}, "
             f"{report['n_random']} random directions per seed and layer; chance averaged over categories "
             f"{s['chance_mean_over_categories']:.3f})", "",
             "| layer | targets | " + " | ".join(world.CATEGORIES) + " | mean over categories |",
             "|---|---|" + "---|" * len(world.CATEGORIES) + "---|"]
    for layer in report["layers"]:
        for kind in ("concept", "random"):
            row = s[str(layer)][kind]
            cells = [_cell(c, kind == "concept") for c in row["categories"].values()]
            mean = row["mean_over_categories"]
            lines.append(f"| {layer} | {kind} | " + " | ".join(cells) + f" | {mean:.2f} |" if mean is not None
                         else f"| {layer} | {kind} | " + " | ".join(cells) + " | - |")
    base_rows = {}
    for layer in report["layers"]:
        cats = s[str(layer)]["concept"]["categories"].values()
        if all(c.get("base_rate") is not None for c in cats):
            bases = [c["base_rate"] for c in cats]
            base_rows[layer] = " | ".join(f"{b:.2f}" for b in bases) + f" | {sum(bases) / len(bases):.2f} |"
    if len(set(base_rows.values())) == 1 and len(base_rows) > 1:  # balanced targets: 1/K whatever the judge
        base_rows = {"all": next(iter(base_rows.values()))}
    lines += [f"| {layer} | judge base rate | {row}" for layer, row in base_rows.items()]
    for layer in report["layers"]:
        cats = list(s[str(layer)]["concept"]["categories"].values())
        if all(c.get("mismatch_rate") is not None for c in cats):
            rates = [c["mismatch_rate"] for c in cats]
            lines.append(f"| {layer} | mismatched targets | " + " | ".join(f"{r:.2f}" for r in rates)
                         + f" | {sum(rates) / len(rates):.2f} |")
    signs = [(layer, s[str(layer)].get("concepts_above_base")) for layer in report["layers"]]
    if all(v for _, v in signs):
        lines += ["", "Concept level (effective n = concepts): " + "; ".join(
            f"layer {layer}: {v['k']} of {v['of']} concepts above their base rate (sign test p = {v['p_sign_test']:.2g})"
            for layer, v in signs)]
    lines += ["", "95 % Wilson intervals. \\* = above the judge's base rate (how often it names the category's "
              "concepts on all random-direction images), one-sided exact binomial p < 0.05; † = also above the "
              "mismatched-target rate (how often images made for the category's other concepts are judged as "
              "the concept).", "",
              "Per concept: hit rate (n) / judge's base rate on the random controls", "",
              "| layer | " + " | ".join(world.CONCEPTS) + " |", "|---|" + "---|" * len(world.CONCEPTS)]
    for layer in report["layers"]:
        pc = s[str(layer)]["per_concept"]
        cells = [f"{v['rate']:.2f} ({v['n']}) / {v['base_rate']:.2f}{_marks(v)}"
                 if v["n"] and v["base_rate"] is not None else "-" for v in pc.values()]
        lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
