"""`layerdream toyworld train --out DIR` and `layerdream toyworld samples --out FILE.png`."""
from __future__ import annotations

import argparse

from .flags import int_list


def register(sub) -> None:
    p = sub.add_parser("toyworld", help="the toy world: rebuild the shipped toy models and judge, or look at samples",
                       description="The toy world: procedural images with captions, toy Gemma 3 VLMs, an independent judge.")
    tsub = p.add_subparsers(dest="toy_command", required=True, parser_class=type(p))
    t = tsub.add_parser("train", help="train the judge and the three toy VLMs from scratch (resumable)",
                        description="Train every stage into --out; re-running skips finished stages.")
    t.add_argument("--out", required=True, help="output folder (stages/, toy-aligned/, toy-plain/, toy-shuffled/, judge/)")
    t.add_argument("--quick", action="store_true", help="2 steps per stage: checks the pipeline, models are useless")
    t.add_argument("--stage", action="append", default=None, metavar="NAME",
                   help="run only this stage (repeatable); predecessors must be finished. Stages: vision, robust, "
                        "text, aligned, judge, plain-projector, plain, shuffled, export; and, only when named, "
                        "toy-gemma, toy-gemma-aligned, toy-gemma-cotrained (on the real Gemma 3 270M: the realmodel extra)")
    t.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    t.set_defaults(func=run_train)
    s = tsub.add_parser("samples", help="draw a grid of world samples with their captions",
                        description="Draw N world samples (deterministic for --seed) as one PNG with captions.")
    s.add_argument("--out", required=True, help="PNG file to write")
    s.add_argument("-n", type=int, default=16, help="number of samples (1-256, default 16)")
    s.add_argument("--seed", type=int_list, default=[0], help="world seed (default 0); several draw one grid each")
    s.set_defaults(func=run_samples)
    c = tsub.add_parser("calibrate", help="synthesise every world concept plus random controls and score with the judge",
                        description="The acceptance measurement of docs/toyworld.md: product synthesis + toy judge.")
    c.add_argument("--model", default="toy-aligned", help="toy name or checkpoint folder (default toy-aligned)")
    c.add_argument("--layer", type=int_list, default=[1, 2], help="layers, e.g. 1,2 (default 1,2)")
    c.add_argument("--seeds", type=int, default=12, help="seeds 0..N-1 per concept (default 12: 48 images per 4-concept category)")
    c.add_argument("--random", type=int, default=20, help="random-direction controls per (seed, layer) (default 20)")
    c.add_argument("--judge-folder", dest="judge", default=None, help="toy judge checkpoint folder (default: the shipped judge)")
    c.add_argument("--judge", dest="judge", default=None, help=argparse.SUPPRESS)  # the old name of --judge-folder
    c.add_argument("--lr", type=float, default=None, help="synthesis learning rate (default: the preset's)")
    c.add_argument("--steps", type=int, default=None, help="synthesis steps (default: the preset's)")
    c.add_argument("--dtype", choices=["float32", "bfloat16"], default=None,
                   help="model precision (default float32 on the CPU; bfloat16 halves the cost of toy-gemma on "
                        "CPUs with bf16 units)")
    c.add_argument("--out", required=True, help="folder for calibration.json and calibration.md; an interrupted "
                                                 "run resumes from its calibration.partial.json there")
    c.set_defaults(func=run_calibrate)


def run_train(args: argparse.Namespace) -> int:
    from ..io import ensure_writable_dir
    from ..toyworld.train import train_all

    out = ensure_writable_dir(args.out)
    metrics = train_all(out, quick=args.quick, progress=lambda msg: print(msg, flush=True), stages=args.stage,
                        threads=args.threads)
    ran = [n for n in metrics["stages"] if n.startswith("toy-gemma")]
    models = ", ".join(ran) if args.stage and set(args.stage) <= set(ran) else "toy-aligned, toy-plain, toy-shuffled, judge"
    print(f"done: models in {out}/ ({models}); metrics in {out}/metrics.json "
          f"({metrics.get('seconds_this_run', 0):.0f}s this run)")
    return 0


def run_samples(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import UserError
    from ..io import atomic_save_png
    from ..toyworld import world

    if not 1 <= args.n <= 256:
        raise UserError(f"-n must be between 1 and 256, got {args.n}")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must name a .png file, got {args.out!r}")
    if out.parent and not out.parent.exists():
        raise UserError(f"folder {str(out.parent)!r} does not exist; create it or choose another --out")
    for seed in args.seed:  # one grid per seed: out.png for one seed, out_s<seed>.png for several
        path = out if len(args.seed) == 1 else out.with_name(f"{out.stem}_s{seed}{out.suffix}")
        images, _, captions = world.sample(args.n, seed)
        atomic_save_png(path, world.grid_with_captions(images, captions))
        print(f"wrote {path} ({args.n} samples, seed {seed})")
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..io import atomic_write_bytes, atomic_write_json, ensure_writable_dir, versions
    from ..toyworld import calibrate

    if args.seeds < 1 or args.random < 0:
        raise UserError("--seeds must be >= 1 and --random >= 0")
    out = ensure_writable_dir(args.out)
    report = calibrate.run(args.model, layers=args.layer, seeds=range(args.seeds), n_random=args.random,
                           judge_path=args.judge, progress=lambda m: print(m, flush=True),
                           partial=out / "calibration.partial.json", previous=out / "calibration.json", dtype=args.dtype,
                           **{k: v for k, v in (("lr", args.lr), ("steps", args.steps)) if v is not None})
    atomic_write_json(out / "calibration.json", {**report, "versions": versions()})
    md = calibrate.markdown(report)
    atomic_write_bytes(out / "calibration.md", md.encode())
    (out / "calibration.partial.json").unlink(missing_ok=True)  # everything it held is in calibration.json
    print(md)
    return 0
