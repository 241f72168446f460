"""One table and one figure, layer by layer: toy-gemma (LM frozen) vs toy-gemma-aligned (positive
control) vs toy-gemma-cotrained (LM co-trained through LoRA), each measure with its control and interval.

Reads the raw records in docs/calibration/ (written by `layerdream toyworld calibrate`, `layerdream
align` and the training stages' probes), so the figure is rebuilt from what is committed:

    python scripts/toy_gemma_compare.py --out docs/img/toy-gemma-cotrained-layers.png   # prints the table

Measures (all on the same 20 world concepts, concept vectors from each model's own LM):
* probe: within-category retrieval of held-out images' own concepts at layer l, mean over the 4
  categories (chance 0.21); mean ± sd over the seeds there are;
* synthesis: share of the concepts' synthesised images the toy judge names as their concept, pooled
  over the 20 concepts' images [95 % Wilson interval], beside the random-direction controls' rate and
  the concept-level sign test against the model's pooled judge base rate;
* align: margin (matching - mismatching mean cosine) averaged over the 20 concepts ± 1.96 standard errors.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAL = ROOT / "docs" / "calibration"
LAYERS = (1, 2, 4, 6, 9, 12, 18)
MODELS = {  # name -> (calibration files (glob), align csv, probe records)
    "toy-gemma": ("toy-gemma_L*.json", "toy-gemma_deep.json", "toy-gemma_align"),
    "toy-gemma-aligned": ("toy-gemma-aligned_L*.json", "toy-gemma-aligned_deep.json", "toy-gemma-aligned_align"),
    "toy-gemma-cotrained": ("toy-gemma-cotrained_L*.json", "toy-gemma-cotrained_deep.json", "toy-gemma-cotrained_align"),
}


def probes(name: str) -> list[dict]:
    """Probe records of a model's seeds: the study's runs (toy-gemma-study.json: linear_s* = toy-gemma,
    aligned_s* = toy-gemma-aligned, cotrained_s* = toy-gemma-cotrained) and the shipped folder's own seed."""
    from layerdream.toyworld import checkpoint_path

    variant = {"toy-gemma": "linear", "toy-gemma-aligned": "aligned", "toy-gemma-cotrained": "cotrained"}[name]
    study = {}
    for f in sorted(CAL.glob("toy-gemma*-study.json")):
        study.update(json.loads(f.read_text()))
    mine = {int(k.rsplit("_s", 1)[1]): r["probe"] for k, r in study.items() if k.rsplit("_s", 1)[0] == variant}
    info = checkpoint_path(name) / "toyworld.json"
    if info.is_file():  # the shipped model is its recipe's seed (0): counted once, from the study or its own record
        shipped = json.loads(info.read_text())
        mine.setdefault(int(shipped.get("seed", 0)), shipped["training"]["probe"])
    return [mine[s] for s in sorted(mine)]


def synthesis(name: str) -> dict[int, dict]:
    from layerdream.toyworld import world
    from layerdream.toyworld.calibrate import p_at_least, wilson

    pattern, deep, _ = MODELS[name]
    unique = {}
    for f in sorted(set(CAL.glob(pattern)) | ({CAL / deep} if (CAL / deep).is_file() else set())):
        for r in json.loads(f.read_text())["records"]:
            unique[(r["layer"], r["seed"], r["label"])] = r
    records = list(unique.values())
    controls = [r for r in records if r["kind"] == "random"]
    if not controls:
        return {}
    base = {c: sum(r["judged"][world.concept_category(c)] == c for r in controls) / len(controls) for c in world.CONCEPTS}
    out = {}
    for layer in sorted({r["layer"] for r in records}):
        rec = [r for r in records if r["layer"] == layer and r["kind"] == "concept"]
        rand = [r for r in records if r["layer"] == layer and r["kind"] == "random"]
        hits = sum(r["hit"] for r in rec)
        per = {c: [r["hit"] for r in rec if r["concept"] == c] for c in world.CONCEPTS}
        above = sum(sum(h) / len(h) > base[c] for c, h in per.items() if h)
        out[layer] = {"rate": hits / len(rec), "ci": wilson(hits, len(rec)), "n": len(rec),
                      "seeds": len({r["seed"] for r in rec}), "random": sum(r["hit"] for r in rand) / max(1, len(rand)),
                      "n_random": len(rand), "above": above, "p": p_at_least(above, len(per), 0.5)}
    return out


def align(name: str) -> dict[int, dict]:
    f = CAL / MODELS[name][2] / "alignment.csv"
    if not f.is_file():
        return {}
    by_layer: dict[int, list[float]] = {}
    for r in csv.DictReader(open(f)):
        if r["aggregation"] == "mean" and r["concept"] != "All":
            by_layer.setdefault(int(r["layer"]), []).append(float(r["margin"]))
    return {l: {"margin": statistics.mean(m), "se": statistics.stdev(m) / len(m) ** 0.5, "pos": sum(x > 0 for x in m),
                "n": len(m)} for l, m in by_layer.items()}


def probe_stats(runs: list[dict]) -> dict[int, tuple[float, float, int]]:
    out = {}
    for layer in LAYERS:
        xs = [statistics.mean(r["retrieval"][str(layer)].values()) for r in runs if str(layer) in r["retrieval"]]
        if xs:
            out[layer] = (statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0, len(xs))
    return out


def table(data: dict) -> str:
    lines = ["| layer | model | probe retrieval, mean of 4 categories (chance 0.21) | synthesis: judged as the concept "
             "[95 % CI] (random directions) | concepts above the judge's base rate (sign test) | align margin ± 1.96 SE "
             "(concepts > 0) |", "|---|---|---|---|---|---|"]
    for layer in LAYERS:
        for name, d in data.items():
            pr, sy, al = d["probe"].get(layer), d["synthesis"].get(layer), d["align"].get(layer)
            pcell = f"{pr[0]:.2f}" + (f" ± {pr[1]:.2f} ({pr[2]} seeds)" if pr and pr[2] > 1 else " (1 seed)") if pr else "–"
            scell = (f"{sy['rate']:.2f} [{sy['ci'][0]:.2f}, {sy['ci'][1]:.2f}] ({sy['random']:.2f}, n={sy['n_random']}); "
                     f"{sy['seeds']} seed(s)") if sy else "not measured"
            tcell = f"{sy['above']} of 20 (p = {sy['p']:.2g})" if sy else "–"
            acell = f"{al['margin']:+.2f} ± {1.96 * al['se']:.2f} ({al['pos']}/{al['n']})" if al else "not measured"
            lines.append(f"| {layer} | {name} | {pcell} | {scell} | {tcell} | {acell} |")
    return "\n".join(lines)


def figure(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"toy-gemma": "#1f77b4", "toy-gemma-aligned": "#2ca02c", "toy-gemma-cotrained": "#d62728"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, d in data.items():
        c = colours[name]
        ls = sorted(d["probe"])
        axes[0].errorbar(ls, [d["probe"][l][0] for l in ls], yerr=[d["probe"][l][1] for l in ls], color=c, marker="o",
                         capsize=3, label=name)
        ls = sorted(d["synthesis"])
        if ls:
            y = [d["synthesis"][l]["rate"] for l in ls]
            lo = [y[i] - d["synthesis"][l]["ci"][0] for i, l in enumerate(ls)]
            hi = [d["synthesis"][l]["ci"][1] - y[i] for i, l in enumerate(ls)]
            axes[1].errorbar(ls, y, yerr=[lo, hi], color=c, marker="o", capsize=3, label=name)
            axes[1].plot(ls, [d["synthesis"][l]["random"] for l in ls], color=c, ls=":", marker="x", alpha=0.7)
        ls = sorted(d["align"])
        if ls:
            axes[2].errorbar(ls, [d["align"][l]["margin"] for l in ls], yerr=[1.96 * d["align"][l]["se"] for l in ls],
                             color=c, marker="o", ms=3, capsize=2, label=name)
    axes[0].axhline(0.21, color="gray", ls="--", lw=1, label="chance (0.21)")
    axes[1].plot([], [], color="gray", ls=":", marker="x", label="random directions (same colour)")
    axes[2].axhline(0, color="gray", ls="--", lw=1)
    titles = ["probe: real-image retrieval of the own concept", "synthesis: judged as the concept [95 % CI]",
              "align: matching - mismatching cosine ± 1.96 SE"]
    for ax, t in zip(axes, titles):
        ax.set_title(t, fontsize=10)
        ax.set_xlabel("layer (hidden_states[l])")
        ax.set_xticks(LAYERS if ax is not axes[2] else range(1, 19, 2))
        ax.legend(fontsize=7)
    fig.suptitle("Gemma 3 270M: LM frozen (toy-gemma), positive control (toy-gemma-aligned), LM co-trained with LoRA "
                 "(toy-gemma-cotrained)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=None, help="PNG of the figure (omit: table only)")
    args = p.parse_args(argv)
    data = {n: {"probe": probe_stats(probes(n)), "synthesis": synthesis(n), "align": align(n)} for n in MODELS}
    print(table(data))
    if args.out:
        figure(data, args.out)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
