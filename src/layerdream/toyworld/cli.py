"""`layerdream toyworld train --out DIR` and `layerdream toyworld samples --out FILE.png`."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("toyworld", help="the toy world: rebuild the shipped toy models and judge, or look at samples",
                       description="The toy world: procedural images with captions, toy Gemma 3 VLMs, an independent judge.")
    tsub = p.add_subparsers(dest="toy_command", required=True, parser_class=type(p))
    t = tsub.add_parser("train", help="train the judge and the three toy VLMs from scratch (resumable)",
                        description="Train every stage into --out; re-running skips finished stages.")
    t.add_argument("--out", required=True, help="output folder (stages/, toy-aligned/, toy-plain/, toy-shuffled/, judge/)")
    t.add_argument("--quick", action="store_true", help="2 steps per stage: checks the pipeline, models are useless")
    t.set_defaults(func=run_train)
    s = tsub.add_parser("samples", help="draw a grid of world samples with their captions",
                        description="Draw N world samples (deterministic for --seed) as one PNG with captions.")
    s.add_argument("--out", required=True, help="PNG file to write")
    s.add_argument("-n", type=int, default=16, help="number of samples (1-256, default 16)")
    s.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    s.set_defaults(func=run_samples)


def run_train(args: argparse.Namespace) -> int:
    from ..io import ensure_writable_dir
    from .train import train_all

    out = ensure_writable_dir(args.out)
    metrics = train_all(out, quick=args.quick, progress=lambda msg: print(msg, flush=True))
    print(f"done: models in {out}/toy-aligned, toy-plain, toy-shuffled, judge; metrics in {out}/metrics.json "
          f"({metrics.get('seconds_this_run', 0):.0f}s this run)")
    return 0


def run_samples(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import UserError
    from ..io import atomic_save_png
    from . import world

    if not 1 <= args.n <= 256:
        raise UserError(f"-n must be between 1 and 256, got {args.n}")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must name a .png file, got {args.out!r}")
    if out.parent and not out.parent.exists():
        raise UserError(f"folder {str(out.parent)!r} does not exist; create it or choose another --out")
    images, _, captions = world.sample(args.n, args.seed)
    atomic_save_png(out, grid_with_captions(images, captions))
    print(f"wrote {out} ({args.n} samples, seed {args.seed})")
    return 0


def grid_with_captions(images, captions, cols: int = 4, scale: int = 3):
    """A PIL grid: each image enlarged ``scale`` times with its caption wrapped underneath."""
    import textwrap

    from PIL import Image, ImageDraw

    n = images.shape[0]
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    side = images.shape[-1] * scale
    cap_h = 40
    canvas = Image.new("RGB", (cols * (side + 8) + 8, rows * (side + cap_h + 8) + 8), "white")
    draw = ImageDraw.Draw(canvas)
    arr = (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, c = divmod(i, cols)
        x, y = 8 + c * (side + 8), 8 + r * (side + cap_h + 8)
        canvas.paste(Image.fromarray(arr[i]).resize((side, side), Image.NEAREST), (x, y))
        text = "\n".join(textwrap.wrap(captions[i], width=side // 6)[:3])
        draw.text((x, y + side + 2), text, fill="black")
    return canvas
