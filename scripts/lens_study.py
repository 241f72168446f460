"""docs/lens.md's results: `ld.lens` on the toy models, beside synthesis recognition from docs/calibration.

    OMP_NUM_THREADS=1 python scripts/lens_study.py --models toy-aligned,toy-plain,toy-shuffled
    OMP_NUM_THREADS=1 python scripts/lens_study.py --models toy-gemma,toy-gemma-aligned --n-images 32   # extra realmodel
    python scripts/lens_study.py --figure-only          # redraw the figures from docs/lens/*/

Per model it writes docs/lens/<model>/ (lens_table.csv, lens_sources.csv, lens_measures.csv, lens.json: the
small files; lens.csv is left out of the docs for size), then the figures from every model found there:
docs/img/lens-vs-synthesis.png (per model: synthesis recognition by layer, pooled over categories, with
its random-direction control, and the three lenses' interpretable rates with their nulls) and
docs/img/lens-sources.png (where contextual neighbours come from, per model).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "lens"
CALIBRATION = ROOT / "docs" / "calibration"
KEEP = ("lens_table.csv", "lens_sources.csv", "lens_measures.csv", "lens.json")
COLOURS = {"synthesis": "tab:red", "contextual": "tab:purple", "embedding": "tab:green", "logit": "tab:orange"}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, c - h), min(1.0, c + h)


def synthesis_rates(model: str) -> dict[str, dict[int, tuple[int, int]]]:
    """kind -> layer -> (hits, n) over docs/calibration/<model>_*.json, each (layer, seed, kind, label) once."""
    seen, out = set(), {}
    for path in sorted(CALIBRATION.glob(f"{model}_*.json")):
        if path.stem[len(model) + 1:].split("_")[0] in ("align",):
            continue
        for r in json.loads(path.read_text()).get("records", []):
            key = (r["layer"], r["seed"], r["kind"], r["label"])
            if key in seen:
                continue
            seen.add(key)
            k, n = out.setdefault(r["kind"], {}).get(r["layer"], (0, 0))
            out[r["kind"]][r["layer"]] = (k + int(bool(r["hit"])), n + 1)
    return out


def read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path) as fh:
        return list(csv.DictReader(fh))


def run_model(model: str, n_images: int, tokens: str, sources_only: bool = False) -> None:
    """``sources_only``: the contextual lens alone, rewriting only lens_sources.csv (the same images and
    seed give the same image rows; the noise control's rows are added)."""
    import layerdream as ld

    with tempfile.TemporaryDirectory(prefix="lens-study-") as tmp:
        result = ld.lens(model, n_images=n_images, tokens=tokens if tokens == "all" else int(tokens), out=tmp,
                         progress=False, lenses="contextual" if sources_only else ("embedding", "logit", "contextual"),
                         measures=not sources_only)
        folder = DOCS / model
        folder.mkdir(parents=True, exist_ok=True)
        for name in (("lens_sources.csv",) if sources_only else KEEP):
            if (Path(tmp) / name).is_file():
                shutil.copy(Path(tmp) / name, folder / name)
    for line in result.summary():
        print(f"{model}: {line}")


def figures() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    order = ["toy-aligned", "toy-plain", "toy-shuffled", "toy-gemma-aligned", "toy-gemma"]
    models = [m for m in order if (DOCS / m / "lens_table.csv").is_file()]
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.8), squeeze=False, sharey=True)
    for ax, model in zip(axes[0], models):
        table = [r for r in read_csv(DOCS / model / "lens_table.csv") if r["category"] == "All"]
        for lens in ("contextual", "embedding", "logit"):
            sel = sorted((r for r in table if r["lens"] == lens), key=lambda r: int(r["layer"]))
            xs = [int(r["layer"]) for r in sel]
            ax.fill_between(xs, [float(r["ci_lo"]) for r in sel], [float(r["ci_hi"]) for r in sel], color=COLOURS[lens], alpha=0.15, lw=0)
            ax.plot(xs, [float(r["rate"]) for r in sel], "-o", ms=3, color=COLOURS[lens], label=f"{lens} lens (pass@5)")
            ax.plot(xs, [float(r["null_rate"]) for r in sel], ":", color=COLOURS[lens], lw=1)
        synth = synthesis_rates(model)
        for kind, style, label in (("concept", "-s", "synthesis: judge recognises the concept"),
                                   ("random", "--", "synthesis: random directions")):
            cells = synth.get(kind, {})
            xs = sorted(cells)
            if not xs:
                continue
            ys = [cells[l][0] / cells[l][1] for l in xs]
            if kind == "concept":
                ci = [wilson(*cells[l]) for l in xs]
                ax.fill_between(xs, [c[0] for c in ci], [c[1] for c in ci], color=COLOURS["synthesis"], alpha=0.15, lw=0)
            ax.plot(xs, ys, style, ms=4, color=COLOURS["synthesis"], lw=1.6 if kind == "concept" else 1, label=label)
        n = max((int(r["n_tokens"]) for r in table), default=0)
        ticks = sorted({int(r["layer"]) for r in table} | set(synth.get("concept", {})))
        ax.set_xticks(ticks if len(ticks) <= 10 else ticks[::2])
        ax.set_title(f"{model}\n(lens: n={n} tokens per point; dotted: null)", fontsize=9)
        ax.set_xlabel("layer")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("rate")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.suptitle("Synthesis recognition (docs/calibration, 95% Wilson) and lens readouts (interpretable image tokens) "
                 "on the same layer axis", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    fig.savefig(ROOT / "docs" / "img" / "lens-vs-synthesis.png", dpi=110)
    plt.close(fig)

    kinds = ["images"] + (["noise"] if any(r.get("images") == "noise" for m in models
                                            for r in read_csv(DOCS / m / "lens_sources.csv")) else [])
    fig, axes = plt.subplots(len(kinds), len(models), figsize=(3.2 * len(models), 3.1 * len(kinds) + 0.3), squeeze=False)
    for (ax, model, kind) in [(axes[i][j], m, k) for i, k in enumerate(kinds) for j, m in enumerate(models)]:
        rows = [r for r in read_csv(DOCS / model / "lens_sources.csv") if r.get("images", "images") == kind]
        vis = sorted({int(r["layer"]) for r in rows})
        txt = sorted({int(r["text_layer"]) for r in rows})
        grid = np.zeros((len(vis), len(txt)))
        for r in rows:
            grid[vis.index(int(r["layer"])), txt.index(int(r["text_layer"]))] = float(r["share"])
        ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto", origin="lower")
        for i in range(len(vis)):
            for j in range(len(txt)):
                ax.text(j, i, f"{100 * grid[i, j]:.0f}", ha="center", va="center", fontsize=6,
                        color="white" if grid[i, j] < 0.6 else "black")
        ax.set_xticks(range(len(txt)), [str(t) for t in txt], fontsize=7)
        ax.set_yticks(range(len(vis)), [str(v) for v in vis], fontsize=7)
        ax.set_xlabel("text layer of the neighbour", fontsize=8)
        ax.set_ylabel("visual layer", fontsize=8)
        ax.set_title(model if kind == "images" else f"{model}: uniform noise (control)", fontsize=9)
    fig.suptitle("Where the contextual lens's top-5 neighbours come from (% per visual layer); bottom: 4 uniform-noise "
                 "images, the control", fontsize=10)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "img" / "lens-sources.png", dpi=110)
    plt.close(fig)


def markdown(layers_shown: dict[str, list[int]] | None = None) -> str:
    """The docs' results table: interpretable % (null %) per model, lens and layer; sources at the end."""
    out = []
    for model in [m for m in ("toy-aligned", "toy-plain", "toy-shuffled", "toy-gemma-aligned", "toy-gemma")
                  if (DOCS / m / "lens_table.csv").is_file()]:
        table = [r for r in read_csv(DOCS / model / "lens_table.csv") if r["category"] == "All"]
        layers = sorted({int(r["layer"]) for r in table})
        if layers_shown and model in layers_shown:
            layers = [l for l in layers if l in layers_shown[model]]
        synth = synthesis_rates(model).get("concept", {})
        out.append(f"\n**{model}** (n = {table[0]['n_tokens']} tokens per cell)\n")
        out.append("| | " + " | ".join(f"L{l}" for l in layers) + " |")
        out.append("|---|" + "---|" * len(layers))
        cells = {(r["lens"], int(r["layer"])): r for r in table}
        for lens in ("embedding", "logit", "contextual"):
            out.append(f"| {lens} | " + " | ".join(
                f"{100 * float(cells[(lens, l)]['rate']):.0f} ({100 * float(cells[(lens, l)]['null_rate']):.0f})"
                if (lens, l) in cells else "–" for l in layers) + " |")
        out.append("| synthesis | " + " | ".join(
            f"{100 * synth[l][0] / synth[l][1]:.0f} (n={synth[l][1]})" if l in synth else "–" for l in layers) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="toy-aligned,toy-plain,toy-shuffled")
    parser.add_argument("--n-images", type=int, default=64)
    parser.add_argument("--tokens", default="all")
    parser.add_argument("--figure-only", action="store_true")
    parser.add_argument("--sources-only", action="store_true", help="contextual lens only: rewrite lens_sources.csv")
    parser.add_argument("--markdown", action="store_true", help="print the docs' results table (from docs/lens/*/)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    if args.markdown:
        print(markdown({m: [1, 2, 4, 6, 8, 9, 12, 13, 16, 18] for m in ("toy-gemma", "toy-gemma-aligned")}))
        return
    if not args.figure_only:
        for model in [m.strip() for m in args.models.split(",") if m.strip()]:
            run_model(model, args.n_images, args.tokens, args.sources_only)
    figures()
    print(f"wrote {ROOT / 'docs' / 'img' / 'lens-vs-synthesis.png'} and lens-sources.png", file=sys.stderr)


if __name__ == "__main__":
    main()
