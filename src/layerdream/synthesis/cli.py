"""`layerdream synthesize CONCEPT [CONCEPT ...] --model M --layer L[,L2] --seed S[,S2] --out DIR`."""
from __future__ import annotations

import argparse
import time

from ..cli import add_model_flags, add_quiet_flag, int_list


def add_synthesis_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared by every command that synthesises (synthesize, sweep)."""
    parser.add_argument("--layer", type=int_list, default=[1], help="layer(s) l = hidden_states[l], e.g. 1,5,10 (default 1)")
    parser.add_argument("--seed", type=int_list, default=[0], help="seed(s), e.g. 0,1,2 (default 0)")
    parser.add_argument("--preset", default="fast", metavar="{fast,paper}",
                        help="fast (default: 80 steps, K=4, lr 0.3, tau 0.1, native canvas; tuned on the toy world) or "
                             "paper (Appendix E: 600 steps, K=8, 448 canvas, shifts 56, noise 0.1, lr/tau by layer, "
                             "scaled to the model's input size and depth)")
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps (default: the preset's)")
    g = parser.add_argument_group("method options (default: the preset's)")
    g.add_argument("--lr", type=float, default=None, help="SGD learning rate")
    g.add_argument("--tau", type=float, default=None, help="softmax temperature of the attention weights")
    g.add_argument("--copies", type=int, default=None, help="augmented copies per step (K)")
    g.add_argument("--weighting", choices=["paper", "prior", "mean"], default=None,
                   help="paper: softmax((s+logG)/tau); prior: softmax(s/tau+logG); mean: mean pooling")
    g.add_argument("--per-position-centring", action="store_true", default=None,
                   help="centre each image token on the gray image's token at the same position")
    g.add_argument("--upsample", choices=["bilinear", "bicubic"], default=None,
                   help="how each resolution component is upsampled to the canvas (paper: bilinear; DAS: bicubic)")
    g.add_argument("--prompt-format", choices=["chat", "raw"], default=None, help="text prompt for concept vectors")
    g.add_argument("--baseline", default=None, help="file of baseline words (default: the model's own list, else the paper's 100)")
    g.add_argument("--negative", action="append", default=[], metavar="CONCEPT[=W]",
                   help="push away from CONCEPT with weight W (default 0.3), e.g. --negative text=0.3")


def add_resource_flags(parser: argparse.ArgumentParser) -> None:
    """How the work is cut to fit the machine (never what an image looks like): synthesize and sweep."""
    g = parser.add_argument_group("memory (changes speed, never the images)")
    g.add_argument("--batch", type=int, default=None, metavar="B",
                   help="at most B concepts per forward (default: as many as --max-memory allows)")
    g.add_argument("--max-memory", default=None, metavar="SIZE",
                   help="memory budget for activations, e.g. 40GiB (default: 90%% of the free GPU memory, "
                        "or half the available RAM on CPU); the K copies are micro-batched when needed")
    g.add_argument("--checkpoint-vision", choices=["auto", "on", "off"], default="auto",
                   help="recompute the vision tower in backward instead of keeping its activations "
                        "(auto: only when one copy would not fit otherwise)")
    parser.add_argument("--deterministic", action="store_true",
                        help="GPU: deterministic algorithms and cuBLAS workspace, so a rerun gives the same PNG "
                             "(costs speed: docs/reproducibility.md); CPU runs are reproducible without it")


def resource_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of :func:`layerdream.synthesize` that :func:`add_resource_flags` sets."""
    from ..synthesis.memory import parse_bytes

    if args.batch is not None and args.batch < 1:
        from ..errors import UserError

        raise UserError(f"--batch must be at least 1 concept per forward, got {args.batch}")
    ckpt = {"auto": "auto", "on": True, "off": False}[args.checkpoint_vision]
    if args.deterministic:  # cuBLAS reads its workspace setting at its first call: before the model loads
        from .determinism import prepare

        prepare()
    return dict(batch_size=args.batch, max_memory=parse_bytes(args.max_memory), checkpoint_vision=ckpt,
                deterministic=args.deterministic)


def synthesis_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of :func:`layerdream.synthesize` that the flags above set."""
    from ..errors import UserError

    negatives = {}
    for item in args.negative:
        name, _, weight = item.partition("=")
        try:
            negatives[name.strip()] = float(weight) if weight else 0.3
        except ValueError:
            raise UserError(f"--negative {item!r}: the weight after '=' must be a number, e.g. text=0.3") from None
    return dict(
        preset=args.preset, steps=args.steps, lr=args.lr, tau=args.tau, copies=args.copies,
        weighting=args.weighting, per_position_centring=args.per_position_centring, upsample=args.upsample,
        prompt_format=args.prompt_format, baseline=args.baseline, negatives=negatives or None,
    )


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
    from ..io import ensure_writable_dir

    opts = synthesis_options(args) | resource_options(args)
    if opts["steps"] is not None and opts["steps"] <= 0:
        raise UserError(f"--steps must be a positive number of optimisation steps, got {opts['steps']}")
    if opts["preset"] not in ("paper", "fast"):
        raise UserError(f"unknown preset {opts['preset']!r}; choose paper or fast")
    if any(not c.strip() for c in args.concepts):
        raise UserError("empty concept; give a word or phrase such as 'dog'")
    out = ensure_writable_dir(args.out)
    started = time.perf_counter()
    vlm = load(args.model, device=args.device, dtype=args.dtype)
    written: list[str] = []

    def save(result) -> None:  # each result is on disk as soon as its batch finishes
        png, _ = result.save(out)
        written.append(str(png))

    results = synthesize(vlm, args.concepts, layers=args.layer, seeds=args.seed, snapshots=args.snapshot,
                         progress=not args.quiet, on_result=save, skip=None if args.overwrite else done_in(out), **opts)
    for r in results:
        print(f"{r.label!r:>20} layer {r.layer:>2} seed {r.seed}: cosine {r.cosine_initial:+.3f} -> {r.cosine_final:+.3f}"
              f"  {out / (r.stem() + '.png')}")
    skipped = len(args.concepts) * len(args.layer) * len(args.seed) - len(results)
    note = f" ({skipped} already in {out} with the same settings: skipped; --overwrite redoes them)" if skipped else ""
    print(f"{len(results)} image(s) in {time.perf_counter() - started:.1f} s -> {out}{note}")
    return 0


def done_in(out):
    """skip() for synthesize: a result counts as done when its JSON (written last) has the same fingerprint."""
    import json

    from .result import stem

    def skip(label: str, layer: int, seed: int, fingerprint: str) -> bool:
        path = out / f"{stem(label, layer, seed)}.json"
        try:
            return json.loads(path.read_text())["config"].get("fingerprint") == fingerprint and path.with_suffix(".png").exists()
        except (OSError, ValueError, KeyError, TypeError):
            return False

    return skip
