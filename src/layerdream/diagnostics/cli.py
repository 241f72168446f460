"""``layerdream align``: cosine between concept vectors and real images' representations, per layer."""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from ..cli import add_model_flags, int_list
from ..errors import UserError

EPILOG = """examples:
  layerdream align --model toy-aligned          # toy concepts and images, every layer, -> out/align/
  layerdream align --model toy-shuffled --concepts toy --layer 1,2,3 --out runs/align-shuffled
  layerdream align --model google/gemma-3-4b-it --concepts my.yaml --images photos/ --layer 1,5,10 --out runs/align
--images DIR holds one subfolder per concept (named as the concept or its slug), e.g. photos/apple/1.jpg."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("align", help="cosine analysis: concept vectors vs matching/mismatching/noise images per layer",
                       description=__doc__.splitlines()[0], epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_flags(p)
    p.add_argument("--concepts", default="toy", help="'toy' (default), 'paper', or a .yaml/.csv concepts file")
    p.add_argument("--images", default=None, help="folder with one subfolder of images per concept (default for --concepts toy: the toy world's images)")
    p.add_argument("--layer", type=int_list, default=None, help="layers, e.g. 1,5,10 (default: every layer of the model)")
    p.add_argument("--n-images", type=int, default=64, help="toy world images to sample (default 64)")
    p.add_argument("--n-controls", type=int, default=16, help="noise and gray+noise control images (default 16 each)")
    p.add_argument("--seed", type=int, default=0, help="seed for the toy world sample and the controls")
    p.add_argument("--out", default="out/align", help="output folder for alignment.csv and alignment.png (default out/align)")
    p.set_defaults(func=cmd_align)


def cmd_align(args: argparse.Namespace) -> int:
    from ..io import atomic_write_bytes, ensure_writable_dir
    from ..sweep.conceptsets import load_concept_set
    from .align import alignment, images_from_dir, images_from_toyworld, plot

    if args.n_images < 1 or args.n_controls < 1:
        raise UserError("--n-images and --n-controls must be at least 1")
    cs = load_concept_set(args.concepts)
    out = ensure_writable_dir(args.out)
    names = [c.name for c in cs.concepts]
    if args.images:
        data = images_from_dir(args.images, names)
    elif args.concepts == "toy":
        data = images_from_toyworld(args.n_images, args.seed)
    else:
        raise UserError("--images DIR is needed (only --concepts toy has default images: the toy world's)")
    import layerdream as ld

    vlm = ld.load(args.model, device=args.device, dtype=args.dtype)
    layers = args.layer or list(range(1, vlm.num_layers + 1))
    rows = alignment(vlm, names, {c.name: c.category for c in cs.concepts}, data, layers, args.n_controls, args.seed)
    if not rows:
        raise UserError("no concept has a matching image; check the subfolder names against the concepts")
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(Path(out) / "alignment.csv", buf.getvalue().encode())
    plot(rows, Path(out) / "alignment.png", title=f"{vlm.name}: text-image alignment ({data.source})")
    for r in rows:
        if r["concept"] == "All":
            print(f"layer {r['layer']:>3}: matching {r['matching']:+.3f}  mismatching {r['mismatching']:+.3f}  "
                  f"noise {r['noise']:+.3f}  gray+noise {r['gray_noise']:+.3f}  margin {r['margin']:+.3f}")
    print(f"layerdream align: wrote {out}/alignment.csv and alignment.png", file=sys.stderr)
    return 0
