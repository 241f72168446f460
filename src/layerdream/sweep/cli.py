"""``layerdream sweep`` (concepts x layers x seeds into a resumable RUN) and ``layerdream judge RUN``.

Thin: parse, then the Python API (``layerdream.api``: ``prepare_sweep`` + ``run_sweep``, ``judge_run_with``)
does the checks and the work, so ``ld.sweep``/``ld.judge`` in a notebook behave exactly alike. Re-running
the same ``sweep`` command resumes; ``judge`` can run while a sweep is still filling the RUN.
"""
from __future__ import annotations

import argparse
import sys

from ..cli import add_model_flags, add_quiet_flag
from ..synthesis.cli import add_resource_flags, add_synthesis_flags, resource_options, synthesis_options
from .ray_runner import add_ray_flags, runner_from_args
from .sweeper import run_sweep

SWEEP_EPILOG = """examples:
  layerdream sweep --model toy-aligned --concepts toy --layer 1,2 --seed 0,1 --out runs/toy
  layerdream sweep --model google/gemma-3-4b-it --concepts paper --preset paper --layer 1,5,10,15,20,25,30 --out runs/paper
  layerdream judge runs/toy --judge toy && layerdream report runs/toy
Re-running the same command resumes (images missing or changed since are made again); a RUN made
with other settings is refused (a flag equal to the preset's own value is no other setting)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="synthesise concepts x layers x seeds (+ controls) into a resumable RUN folder",
                       description=__doc__.splitlines()[0], epilog=SWEEP_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_flags(p)
    p.add_argument("--concepts", required=True, help="'paper' (105 concepts), 'toy' (toy world), or a .yaml/.csv file")
    p.add_argument("--out", required=True, metavar="RUN", help="RUN folder (created; re-use it to resume)")
    add_synthesis_flags(p)  # --layer --seed --preset --steps and the method options, as in `layerdream synthesize`
    add_resource_flags(p)  # --batch --max-memory --checkpoint-vision, as in `layerdream synthesize`
    add_ray_flags(p)  # --ray [ADDRESS] --workers --gpus-per-worker --cpus-per-worker (docs/distributed.md)
    p.add_argument("--no-controls", dest="controls", action="store_false",
                   help="skip the random-direction and shuffled-concept controls (then tables have no chance line)")
    p.add_argument("--controls-per-category", type=int, default=1,
                   help="random and shuffled controls per category, layer and seed (default 1)")
    p.add_argument("--extend", action="store_true", help="allow adding layers/seeds to an existing RUN")
    add_quiet_flag(p)
    p.set_defaults(func=cmd_sweep)
    register_judge(sub)


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..api import prepare_sweep

    runner = runner_from_args(args)  # None without --ray; --ray without Ray installed: one line, exit 2
    options = synthesis_options(args)  # --negative is parsed (and refused) here
    resources = resource_options(args)
    preset, steps = options.pop("preset"), options.pop("steps")
    spec, kwargs = prepare_sweep(args.model, args.concepts, out=args.out, layers=args.layer, seeds=args.seed, preset=preset,
                                 steps=steps, dtype=args.dtype, device=args.device, controls=args.controls,
                                 controls_per_category=args.controls_per_category, extend=args.extend,
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


def register_judge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("judge", help="judge (or re-judge) the images of a sweep RUN; verdicts go into the RUN",
                       description="Judge a sweep RUN (finished or in progress); re-running judges only new images.")
    add_run_judge_arguments(p)
    add_ray_flags(p)  # judging as a Ray stage: each worker holds its own judge (docs/distributed.md)
    p.set_defaults(func=cmd_judge)


def add_run_judge_arguments(p: argparse.ArgumentParser) -> None:
    from ..evaluation.cli import add_judge_flags

    p.add_argument("run", metavar="RUN", help="a folder made by `layerdream sweep`")
    add_judge_flags(p)
    p.add_argument("--rejudge", action="store_true",
                   help="judge every image again; each verdict is replaced only when its successor is stored, and "
                        "never by a failed query (answers come from RUN/judge_cache.sqlite where cached; delete that "
                        "file to ask afresh)")
    add_quiet_flag(p)


def cmd_judge(args: argparse.Namespace) -> int:
    from ..api import judge_run_with
    from ..evaluation.cli import judge_from_args, protocols_from_args  # looked up now: tests replace judge_from_args
    from .ray_judging import ray_judge_from_args
    from .store import Store

    Store.open_existing(args.run).close()  # refuse a bad (or read-only) RUN before building a judge
    protocols = protocols_from_args(args)
    judge = ray_judge_from_args(judge_from_args(args), args, judge_from_args)  # --ray: answers on Ray workers
    try:
        result = judge_run_with(args.run, judge, protocols=protocols, n_queries=args.n_queries, rejudge=args.rejudge,
                                progress=not args.quiet)
    finally:
        judge.close()
    print(result.summary(), file=sys.stderr)
    if result.outcome.stored and not args.quiet:
        print(result.rates(), file=sys.stderr)
    result.check()  # more than half the queries failed: exit 2 (the good verdicts are stored)
    return 0
