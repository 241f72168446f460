"""`layerdream demo`: the method on the three toy models, one picture a person reads at a glance.

Rows are concepts, columns are layers grouped by model (toy-aligned | toy-plain | toy-shuffled).
On toy-aligned a "red" image should be red; on the two controls it should not. Every image also lands
in DIR/<model>/ with its JSON (config, seed, versions), so the picture is a measurement, not a sketch.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

DEMO_CONCEPTS = ["red", "blue", "yellow", "triangle", "square", "grass", "night", "summer"]


def register(sub) -> None:
    from .flags import add_quiet_flag, int_list

    p = sub.add_parser("demo", help="synthesise a few concepts on the three toy models and draw one comparison grid",
                       description=__doc__)
    p.add_argument("--out", default="demo", help="output folder (default ./demo)")
    p.add_argument("--concepts", default=",".join(DEMO_CONCEPTS), help="comma-separated toy concepts (rows)")
    p.add_argument("--layer", type=int_list, default=None, help="layers (default: 1, 2 and the last)")
    p.add_argument("--seed", type=int_list, default=[0], help="seed(s), e.g. 0,1 (one grid row per concept and seed)")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (default: the fast preset's)")
    p.add_argument("--models", default="toy-aligned,toy-plain,toy-shuffled",
                   help="comma-separated models, one column group each")
    add_quiet_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import layerdream as ld
    from ..io import ensure_writable_dir
    from ..models.registry import TOY_ROOT, resolve
    from ..toyworld import TOY_MODELS

    concepts = [c.strip() for c in args.concepts.split(",") if c.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    # only the three shipped toy models may be stood in for (an install without checkpoints); any other
    # name is refused now, as `synthesize --model` refuses it, never replaced by a random model
    missing = [m for m in models if m in TOY_MODELS and not (TOY_ROOT / m / "config.json").exists()]
    for name in models:
        if name not in missing:
            resolve(name)  # an unknown toy name, a missing folder: one line, before anything is written
    out = ensure_writable_dir(args.out)
    if missing:
        models = [_fallback_model(out, missing)] + [m for m in models if m not in missing]
    started = time.perf_counter()
    grid: dict[str, dict[int, dict[str, object]]] = {}
    for name in models:
        vlm = ld.load(name, device="cpu")
        layers = args.layer or sorted({1, min(2, vlm.num_layers), vlm.num_layers})
        print(f"{name}: {len(concepts)} concepts x layers {layers}")
        results = ld.synthesize(vlm, concepts, layers=layers, seeds=args.seed, steps=args.steps, progress=not args.quiet)
        (out / Path(name).name).mkdir(exist_ok=True)
        for r in results:
            r.save(out / Path(name).name)
            row = r.label if len(args.seed) == 1 else f"{r.label} s{r.seed}"
            grid.setdefault(Path(name).name, {}).setdefault(r.layer, {})[row] = r
    rows = concepts if len(args.seed) == 1 else [f"{c} s{s}" for c in concepts for s in args.seed]
    figure = draw(grid, rows, out / "demo.png")
    print(f"done in {time.perf_counter() - started:.0f} s: {figure}")
    return 0


def _fallback_model(out: Path, missing: list[str]) -> str:
    from ..models.tiny import build_tiny_gemma3, save_tiny_gemma3

    print(f"toy model(s) {', '.join(missing)} are not installed: building a tiny RANDOM Gemma 3 instead "
          "(pictures will mean nothing; train the toy world with `layerdream toyworld train`)")
    folder = out / "tiny-random-gemma3"
    model, _, processor = build_tiny_gemma3(DEMO_CONCEPTS + ["a", "the", "on", "with"], image_size=64, patch_size=8,
                                            mm_tokens_per_image=16)
    save_tiny_gemma3(folder, model, processor)
    (folder / "baseline_words.txt").write_text("a\nthe\non\nwith\n")
    return str(folder)


def draw(grid: dict, concepts: list[str], path: Path) -> Path:
    """Concepts x (model, layer) grid with cosines in the corner: one PNG, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import atomic_write_bytes

    columns = [(m, l) for m, layers in grid.items() for l in sorted(layers)]
    fig, axes = plt.subplots(len(concepts), len(columns), figsize=(1.25 * len(columns) + 0.8, 1.3 * len(concepts) + 0.6),
                             squeeze=False)
    for j, (model, layer) in enumerate(columns):
        for i, concept in enumerate(concepts):
            ax = axes[i][j]
            ax.set_xticks([]), ax.set_yticks([])
            result = grid[model][layer].get(concept)
            if result is not None:
                ax.imshow(result.image.permute(1, 2, 0).numpy())
                ax.text(1, 6, f"{result.cosine_final:.2f}", color="white", fontsize=6,
                        bbox=dict(facecolor="black", alpha=0.5, pad=1, linewidth=0))
            if i == 0:
                ax.set_title(f"{model}\nlayer {layer}", fontsize=7)
            if j == 0:
                ax.set_ylabel(concept, fontsize=9)
    title = "layerdream demo: images optimised toward each concept's layer-l vector (cosine in corner)"
    if len(columns) < 7:  # a narrow grid: two lines, or the title is cut at both edges
        title = title.replace(": ", ":\n", 1)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())
