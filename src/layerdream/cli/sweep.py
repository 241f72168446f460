"""``layerdream sweep`` (concepts x layers x seeds into a resumable RUN).

Thin: parse, then the Python API (``layerdream.api``: ``prepare_sweep`` + ``run_sweep``) does the checks
and the work, so ``ld.sweep`` in a notebook behaves exactly alike. Re-running the same ``sweep`` command
resumes; ``layerdream judge`` (judge.py) can run while a sweep is still filling the RUN.
"""
from __future__ import annotations

import argparse
import sys

from ..sweep.sweeper import run_sweep
from .flags import (add_model_flags, add_quiet_flag, add_ray_flags, add_resource_flags, add_synthesis_flags,
                    resource_options, runner_from_args, synthesis_options)

DESCRIPTION = "``layerdream sweep`` (concepts x layers x seeds into a resumable RUN) and ``layerdream judge RUN``."
SWEEP_EPILOG = """examples:
  layerdream sweep --model toy-aligned --concepts toy --layer 1,2 --seed 0,1 --out runs/toy
  layerdream sweep --model google/gemma-3-4b-it --concepts paper --preset paper --layer 1,5,10,15,20,25,30 --out runs/paper
  layerdream judge runs/toy --judge toy && layerdream report runs/toy
Re-running the same command resumes (images missing or changed since are made again); a RUN made
with other settings is refused (a flag equal to the preset's own value is no other setting)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="synthesise concepts x layers x seeds (+ controls) into a resumable RUN folder",
                       description=DESCRIPTION, epilog=SWEEP_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_flags(p)
    p.add_argument("--concepts", required=True, help="'paper' (105 concepts), 'toy' (toy world), or a .yaml/.csv file")
    p.add_argument("--out", required=True, metavar="RUN", help="RUN folder (created; re-use it to resume)")
    add_synthesis_flags(p)  # --layer --seed --preset --steps and the method options, as in `layerdream synthesize`
    add_resource_flags(p)  # --batch --max-memory --checkpoint-vision, as in `layerdream synthesize`
    add_ray_flags(p)  # --ray [ADDRESS] --workers --gpus-per-worker --cpus-per-worker (docs/distributed.md)
    p.add_argument("--no-controls", dest="controls", action="store_false",
                   help="skip the random-direction and shuffled-concept controls (then tables have no chance line)")
    p.add_argument("--controls-per-category", type=int, default=None, metavar="N",
                   help="random and shuffled controls per category, layer and seed (default 4, enough for the "
                        "concept-vs-control test; an existing RUN keeps its own number); each shuffled control has "
                        "its own donor concept, so a category gets at most as many as there are concepts outside it")
    p.add_argument("--ablation", default=None, metavar="weighting",
                   help="add a standard ablation arm: 'weighting' makes every concept again with mean pooling "
                        "(--weighting mean) and with the spatial prior off (noprior); the report shows them beside "
                        "the main result (add to an existing RUN with --extend)")
    p.add_argument("--extend", action="store_true", help="allow adding layers/seeds (or --ablation arms) to an existing RUN")
    add_quiet_flag(p)
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..api import prepare_sweep

    runner = runner_from_args(args)  # None without --ray; --ray without Ray installed: one line, exit 2
    options = synthesis_options(args)  # --negative is parsed (and refused) here
    resources = resource_options(args)
    preset, steps = options.pop("preset"), options.pop("steps")
    spec, kwargs = prepare_sweep(args.model, args.concepts, out=args.out, layers=args.layer, seeds=args.seed, preset=preset,
                                 steps=steps, dtype=args.dtype, device=args.device, controls=args.controls,
                                 controls_per_category=args.controls_per_category, extend=args.extend,
                                 ablation=args.ablation,
                                 progress=not args.quiet, runner=runner, **resources, **options)
    outcome = run_sweep(spec, args.out, **kwargs)
    print(f"layerdream sweep: {outcome.ran} images made in {outcome.seconds:.1f}s; "
          f"{outcome.already_done + outcome.ran} of {outcome.total} jobs done in {args.out}"
          + (f"; {outcome.failed} FAILED (re-run the same command to retry them)" if outcome.failed else ""),
          file=sys.stderr)
    toy = spec.concepts.name == "toy"
    print(f"next: layerdream judge {args.out} --judge {'toy' if toy else 'openai --judge-model gpt-5'}"
          f" && layerdream report {args.out}", file=sys.stderr)
    return 0
