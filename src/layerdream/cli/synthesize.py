"""`layerdream synthesize CONCEPT [CONCEPT ...] --model M --layer L[,L2] --seed S[,S2] --out DIR`."""
from __future__ import annotations

import argparse
import time

from .flags import (add_model_flags, add_quiet_flag, add_resource_flags, add_synthesis_flags, int_list, resource_options,
                    synthesis_options)


def register(sub) -> None:
    p = sub.add_parser("synthesize", help="optimise images toward concept vectors at chosen layers",
                       description="Optimise one image per (concept, layer, seed) toward the concept's layer-l vector.")
    p.add_argument("concepts", nargs="+", metavar="CONCEPT", help="words or phrases, e.g. dog 'spring (season)'")
    add_model_flags(p)
    add_synthesis_flags(p)
    add_resource_flags(p)
    p.add_argument("--out", default="out", help="output folder (default ./out)")
    p.add_argument("--snapshot", type=int_list, default=[], help="also save the image at these steps, e.g. 10,50")
    add_quiet_flag(p)
    p.add_argument("--overwrite", action="store_true",
                   help="redo images already in --out (default: skip those made with the same settings)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import load, synthesize
    from ..errors import UserError
    from ..io import ensure_writable_dir, is_blank
    from ..synthesis.result import check_space, done_in

    opts = synthesis_options(args) | resource_options(args)
    if opts["steps"] is not None and opts["steps"] <= 0:
        raise UserError(f"--steps must be a positive number of optimisation steps, got {opts['steps']}")
    if opts["preset"] not in ("paper", "fast", None):
        raise UserError(f"unknown preset {opts['preset']!r}; choose paper or fast")
    if any(is_blank(c) for c in args.concepts):  # also invisible-only text (a zero-width space)
        raise UserError("empty concept; give a word or phrase such as 'dog'")
    if args.baseline is not None:  # an unreadable word file: one line before the model loads
        from ..concepts import read_baseline_words

        read_baseline_words(args.baseline)
    out = ensure_writable_dir(args.out)
    started = time.perf_counter()
    vlm = load(args.model, device=args.device, dtype=args.dtype)
    check_space(out, vlm.image_size, args.concepts, args.layer, args.seed, args.snapshot, args.overwrite)  # before the compute
    written: list[str] = []

    def save(result) -> None:  # each result is on disk as soon as its batch finishes
        png, _ = result.save(out)
        written.append(str(png))

    results = synthesize(vlm, args.concepts, layers=args.layer, seeds=args.seed, snapshots=args.snapshot,
                         progress=not args.quiet, on_result=save, skip=None if args.overwrite else done_in(out), **opts)
    for r in results:
        print(f"{r.label!r:>20} layer {r.layer:>2} seed {r.seed}: cosine {r.cosine_initial:+.3f} -> {r.cosine_final:+.3f}"
              f"  {out / (r.stem() + '.png')}")
    # synthesize makes a repeated concept, layer or seed once (and says so): count what was asked once
    skipped = len(dict.fromkeys(c.strip() for c in args.concepts)) * len(set(args.layer)) * len(set(args.seed)) - len(results)
    note = f" ({skipped} already in {out} with the same settings: skipped; --overwrite redoes them)" if skipped else ""
    if results:  # which method ran, and why (the default differs between real checkpoints and toy models)
        cfg = results[0].config
        note += f"; preset {cfg.get('preset')} ({cfg.get('preset_rule')})"
    print(f"{len(results)} image(s) in {time.perf_counter() - started:.1f} s -> {out}{note}")
    return 0
