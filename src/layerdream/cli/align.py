"""``layerdream align``: cosine between concept vectors and real images' representations, per layer (thin: ``layerdream.api.align``)."""
from __future__ import annotations

import argparse
import sys

from ..errors import UserError
from .flags import add_model_flags, int_list

EPILOG = """examples:
  layerdream align --model toy-aligned          # toy concepts and images, every layer, -> out/align/
  layerdream align --model toy-shuffled --concepts toy --layer 1,2,3 --out runs/align-shuffled
  layerdream align --model google/gemma-3-4b-it --concepts my.yaml --images photos/ --layer 1,5,10 --out runs/align
--images DIR holds one subfolder per concept (named as the concept or its slug), e.g. photos/apple/1.jpg;
photos are resized once, to the model's own input size. Both aggregations (mean and the paper's
attention weighting) are reported unless --aggregation picks one. From the same forwards, measures.csv:
top-1 retrieval of the true concept among all N concept vectors, linear CKA and mutual-kNN between image
and text side, each with N and a permutation null (docs/lens.md)."""


def _aggregations(text: str) -> list[str]:
    from ..diagnostics.align import AGGREGATIONS

    values = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in AGGREGATIONS]
    if bad or not values:
        raise argparse.ArgumentTypeError(f"expected a comma list of {', '.join(AGGREGATIONS)}, got {text!r}")
    return list(dict.fromkeys(values))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("align", help="cosine analysis: concept vectors vs matching/mismatching/noise images per layer",
                       description=__doc__.splitlines()[0], epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_flags(p)
    p.add_argument("--concepts", default="toy", help="'toy' (default), 'paper', or a .yaml/.csv concepts file")
    p.add_argument("--images", default=None, help="folder with one subfolder of images per concept (default for --concepts toy: the toy world's images)")
    p.add_argument("--layer", type=int_list, default=None, help="layers, e.g. 1,5,10 (default: every layer of the model)")
    p.add_argument("--aggregation", type=_aggregations, default=["mean", "attention"],
                   help="mean, attention (the paper's attention-weighted aggregate), or both: mean,attention (default)")
    p.add_argument("--tau", type=float, default=None,
                   help="temperature of the attention aggregation (default: the paper's tau for each layer)")
    g = p.add_argument_group("concept vectors (as in `layerdream synthesize`)")
    g.add_argument("--prompt-format", choices=["chat", "raw"], default="chat", help="text prompt for concept vectors (default chat)")
    g.add_argument("--baseline", default=None, help="file of baseline words (default: the model's own list, else the paper's 100)")
    p.add_argument("--n-images", type=int, default=64, help="toy world images to sample (default 64)")
    p.add_argument("--n-controls", type=int, default=16, help="noise and gray+noise control images (default 16 each)")
    p.add_argument("--n-perm", type=int, default=1000,
                   help="permutations of each judge-free measure's null: top-1 retrieval, linear CKA, mutual-kNN "
                        "(default 1000; 0 skips the measures)")
    p.add_argument("--seed", type=int_list, default=[0], help="seed for the toy world sample and the controls (one)")
    p.add_argument("--out", default="out/align", help="output folder for alignment.csv and alignment.png (default out/align)")
    p.set_defaults(func=cmd_align)


def cmd_align(args: argparse.Namespace) -> int:
    from ..api import align

    if args.n_images < 1 or args.n_controls < 1:
        raise UserError("--n-images and --n-controls must be at least 1")
    result = align(args.model, args.concepts, images=args.images, layers=args.layer, aggregations=args.aggregation,
                   tau=args.tau, prompt_format=args.prompt_format, baseline=args.baseline, n_images=args.n_images,
                   n_controls=args.n_controls, seed=_one_seed(args.seed), out=args.out, device=args.device, dtype=args.dtype,
                   n_perm=args.n_perm)
    for line in result.summary():
        print(line)
    also = ", measures.csv" if result.measures else ""
    print(f"layerdream align: wrote {args.out}/alignment.csv{also}, alignment.png and alignment.json (config, seed, versions)", file=sys.stderr)
    return 0


def _one_seed(seeds: list[int]) -> int:
    if len(seeds) != 1:
        from ..errors import UserError

        raise UserError(f"align draws one sample: give one --seed, not {','.join(map(str, seeds))}")
    return seeds[0]
