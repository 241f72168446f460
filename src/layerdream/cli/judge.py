"""``layerdream judge RUN``: judge (or re-judge) the images of a sweep RUN, finished or still filling.

Thin: parse, then the Python API (``layerdream.api.judge_run_with``) does the work, so ``ld.judge`` in a
notebook behaves exactly alike; ``--ray`` makes the answers a Ray stage (``layerdream.sweep.ray_judging``).
"""
from __future__ import annotations

import argparse
import functools
import sys

from . import flags
from .flags import add_judge_flags, add_quiet_flag, add_ray_flags, protocols_from_args, runner_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("judge", help="judge (or re-judge) the images of a sweep RUN; verdicts go into the RUN",
                       description="Judge a sweep RUN (finished or in progress); re-running judges only new images.")
    add_run_judge_arguments(p)
    add_ray_flags(p)  # judging as a Ray stage: each worker holds its own judge (docs/distributed.md)
    p.set_defaults(func=cmd_judge)


def add_run_judge_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="a folder made by `layerdream sweep`")
    add_judge_flags(p)
    p.add_argument("--rejudge", action="store_true",
                   help="judge every image again; each verdict is replaced only when its successor is stored, and "
                        "never by a failed query (answers come from RUN/judge_cache.sqlite where cached; delete that "
                        "file to ask afresh)")
    add_quiet_flag(p)


def cmd_judge(args: argparse.Namespace) -> int:
    from ..api import judge_run_with
    from ..sweep.store import Store

    Store.open_existing(args.run).close()  # refuse a bad (or read-only) RUN before building a judge
    protocols = protocols_from_args(args)
    judge_from_args = flags.judge_from_args  # looked up now: tests replace it
    judge = on_ray(judge_from_args(args), args, judge_from_args)  # --ray: answers on Ray workers
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


def on_ray(local, args: argparse.Namespace, make):
    """``local`` itself without ``--ray``; with it, a :class:`~layerdream.sweep.ray_judging.RayJudge` whose
    workers build ``make(args)``."""
    runner = runner_from_args(args)
    if runner is None:
        return local
    from ..sweep.ray_judging import RayJudge

    return RayJudge(local, functools.partial(make, args), runner)
