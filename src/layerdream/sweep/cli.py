"""``layerdream sweep`` (concepts x layers x seeds into a resumable RUN) and ``layerdream judge RUN``.

Thin: parse, build a :class:`SweepSpec`, call :func:`run_sweep` / :func:`judge_run`. Re-running the
same ``sweep`` command resumes; ``judge`` can run while a sweep is still filling the RUN.
"""
from __future__ import annotations

import argparse
import sys

from ..cli import add_model_flags, add_quiet_flag
from ..synthesis.cli import add_resource_flags, add_synthesis_flags, resource_options, synthesis_options
from ..errors import UserError
from .conceptsets import load_concept_set
from .settings import preset_constants
from .ray_runner import add_ray_flags, runner_from_args
from .sweeper import SweepSpec, run_sweep

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
    runner = runner_from_args(args)  # None without --ray; --ray without Ray installed: one line, exit 2
    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps must be at least 1, got {args.steps}")
    resources = resource_options(args)
    if args.controls_per_category < 1:
        raise UserError("--controls-per-category must be at least 1 (use --no-controls to skip controls)")
    if any(layer < 0 for layer in args.layer):
        raise UserError(f"--layer must be non-negative, got {args.layer}")
    options = synthesis_options(args)
    preset, steps = options.pop("preset"), options.pop("steps")
    preset_constants(preset)  # an unknown preset is refused here, before anything is read or loaded
    if options.get("baseline"):
        options["baseline"] = _baseline_words(options["baseline"])
    spec = SweepSpec(model=args.model, concepts=load_concept_set(args.concepts), layers=args.layer, seeds=args.seed,
                     preset=preset, steps=steps, dtype=args.dtype, controls=args.controls,
                     controls_per_category=args.controls_per_category, options=options)
    batch = resources.pop("batch_size")
    outcome = run_sweep(spec, args.out, device=args.device, batch_size=batch, resources=resources, extend=args.extend,
                        progress=not args.quiet, runner=runner)
    print(f"layerdream sweep: {outcome.ran} images made in {outcome.seconds:.1f}s; "
          f"{outcome.already_done + outcome.ran} of {outcome.total} jobs done in {args.out}"
          + (f"; {outcome.failed} FAILED (re-run the same command to retry them)" if outcome.failed else ""),
          file=sys.stderr)
    toy = spec.concepts.name == "toy"
    print(f"next: layerdream judge {args.out} --judge {'toy' if toy else 'openai --judge-model gpt-5'}"
          f" && layerdream report {args.out}", file=sys.stderr)
    return 0


def _baseline_words(path: str) -> list[str]:
    """Read --baseline once, so the RUN records the words themselves (a file can change between runs)."""
    try:
        words = [w.strip() for w in open(path, encoding="utf-8").read().splitlines() if w.strip()]
    except OSError as err:
        raise UserError(f"cannot read --baseline {path!r} ({err.strerror or err}); pass a text file, one word per line") from None
    if not words:
        raise UserError(f"--baseline {path!r} is empty; give at least a few unrelated words, one per line")
    return words


def register_judge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("judge", help="judge (or re-judge) the images of a sweep RUN; verdicts go into the RUN",
                       description="Judge a sweep RUN (finished or in progress); re-running judges only new images.")
    add_run_judge_arguments(p)
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
    from ..evaluation.cli import judge_from_args, protocols_from_args
    from ..evaluation.grading import grader_label
    from .judging import judge_run
    from .store import Store

    store = Store.open_existing(args.run)  # refuse a bad RUN before building a judge
    try:
        protocols = protocols_from_args(args)
        judge = judge_from_args(args)
        try:
            outcome = judge_run(store, judge, protocols=protocols, n_queries=args.n_queries, rejudge=args.rejudge,
                                progress=not args.quiet)
        finally:
            judge.close()
    finally:
        store.close()
    print(judge_summary(outcome, judge.id, grader_label(judge.grader_id), args.run), file=sys.stderr)
    if outcome.stored and not args.quiet:
        print(rates_summary(args.run, judge.id), file=sys.stderr)
    if outcome.queries and outcome.errors * 2 > outcome.queries:
        raise UserError(
            f"judge {judge.id}: {outcome.errors} of {outcome.queries} queries failed ({outcome.error_examples[0]}); "
            f"fix the judge and re-run `layerdream judge {args.run}`: failed queries are asked again")
    return 0


def rates_summary(run: str, judge_id: str) -> str:
    """What the judge just measured, all categories pooled: concepts beside their controls, per
    protocol and layer, with 95 % Wilson intervals over queries (the report has every category)."""
    from ..report.build import load

    from ..report.tables import ALL

    rows = [r for r in load(run, judge_id)["table"] if r["category"] == ALL]
    lines = [f"recognition rate by layer (all categories; 95 % CI over queries); details: layerdream report {run}"]
    for protocol in dict.fromkeys(r["protocol"] for r in rows):
        cells = {(r["kind"], r["layer"]): r for r in rows if r["protocol"] == protocol}
        for layer in sorted({layer for _, layer in cells}):
            parts = []
            for kind in ("concept", "shuffled", "random"):
                r = cells.get((kind, layer))
                if r and r["rate"] is not None:
                    parts.append(f"{kind} {r['rate']:.2f} [{r['ci_queries_lo']:.2f}, {r['ci_queries_hi']:.2f}] n={r['n']}")
            if parts:
                lines.append(f"  {protocol:<9} layer {layer:>2}: " + "   ".join(parts))
    return "\n".join(lines)


def judge_summary(outcome, judge_id: str, grader: str, run: str) -> str:
    """The terminal's account of one judge run: stored, failed (with an example), kept."""
    if not outcome.queries:
        return f"layerdream judge: nothing to judge in {run} (judge {judge_id}); every image has error-free verdicts"
    failed = ""
    if outcome.errors:
        failed = (f"; {outcome.errors} of {outcome.queries} queries FAILED, e.g. {outcome.error_examples[0][:160]!r} "
                  "(asked again on the next `layerdream judge`)")
    kept = f"; kept earlier verdicts of {outcome.kept} image/protocol pair(s) whose new queries failed" if outcome.kept else ""
    return (f"layerdream judge: {outcome.images} images, {outcome.queries} queries, {outcome.stored} verdicts stored "
            f"in {run} (judge {judge_id}; grader: {grader}){failed}{kept}")
