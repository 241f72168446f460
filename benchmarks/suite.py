"""The benchmark suite of issue 9: one command, a markdown table per benchmark, one JSON with every number.

    python benchmarks/suite.py                       # B1-B4 (B4 prints one line where there is no GPU)
    python benchmarks/suite.py --only B1,B3 --quick  # a fast look: fewer repeats, steps and copies
    python benchmarks/suite.py --only B4 --b4-tiny   # B4's code path on a tiny model on the CPU

  B1 early exit at layer 1, middle, last vs model.model and vs the R1-style top-level forward,
     on the real-depth Gemma 3 270M (extra ``realmodel``), beside the FLOP-share ideal
  B2 per-image throughput with B = 1, 4, 16 concepts per forward, set-up reported separately
  B3 wall time and peak RSS of `layerdream synthesize red` and of a small toy sweep
  B4 random-init Gemma 3 4B on a GPU, paper preset, bf16: s/image, memory, plan, % of peak FLOP/s

Every comparison inside a benchmark is measured side by side in one run, interleaved; the ratios are
the claim, absolute seconds depend on the machine. The JSON (``--json``, default
``benchmarks/results/suite-<UTC time>.json``) records the command line, the machine, the versions and
the date, and is rewritten after each benchmark, so an interrupted run keeps what it finished.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # python benchmarks/suite.py: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import batching, common, early_exit, embedded, gpu  # noqa: E402
from layerdream.errors import UserError  # noqa: E402
from layerdream.io import ensure_writable_dir  # noqa: E402

BENCHMARKS = {
    "B1": ("early exit", early_exit),
    "B2": ("batching", batching),
    "B3": ("embedded default", embedded),
    "B4": ("GPU", gpu),
}
RESULTS = Path(__file__).resolve().parent / "results"


class SuiteError(Exception):
    """Bad suite arguments: one line, exit 2 (the same contract as the CLI's UserError)."""


def parse_only(text: str | None) -> list[str]:
    if not text:
        return list(BENCHMARKS)
    names = [t.strip().upper() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        raise SuiteError(f"unknown benchmark {', '.join(unknown) or repr(text)}; choose from {', '.join(BENCHMARKS)}")
    return [n for n in BENCHMARKS if n in names]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchmarks/suite.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated subset, e.g. B1,B3 (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, steps and copies: a fast look, not a claim")
    parser.add_argument("--json", type=Path, help="where to write the JSON (default: benchmarks/results/suite-<time>.json)")
    parser.add_argument("--threads", type=int, help="torch threads in this process (default: torch's own choice)")
    parser.add_argument("--repeats", type=int, help="interleaved rounds for B1-B4 (default 3, quick 1)")
    parser.add_argument("--b1-copies", type=int, help="K copies per B1 step (default 8, quick 2)")
    parser.add_argument("--b2-steps", type=int, help="optimisation steps per B2 image (default 20, quick 5)")
    parser.add_argument("--b4-tiny", action="store_true", help="run B4's code path on a tiny model on the CPU")
    parser.add_argument("--b4-steps", type=int, help="B4 times a run of N and of 2N steps, extrapolates to 600 (default 20)")
    parser.add_argument("--b4-max-memory", type=float, help="B4 memory budget in GiB (default: the engine's, 90%% of the GPU's free memory)")
    return parser


def run_one(name: str, args: argparse.Namespace) -> dict:
    repeats = args.repeats
    if name == "B1":
        return early_exit.run(quick=args.quick, copies=args.b1_copies, repeats=repeats)
    if name == "B2":
        return batching.run(quick=args.quick, steps=args.b2_steps, repeats=repeats)
    if name == "B3":
        return embedded.run(quick=args.quick, repeats=repeats)
    budget = int(args.b4_max_memory * 2**30) if args.b4_max_memory else None
    return gpu.run(quick=args.quick, tiny=args.b4_tiny, steps=args.b4_steps, max_memory=budget, repeats=repeats)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        names = parse_only(args.only)
        if args.threads is not None and args.threads < 1:
            raise SuiteError(f"--threads must be at least 1, got {args.threads}")
        for flag in ("repeats", "b1_copies", "b2_steps", "b4_steps"):
            value = getattr(args, flag)
            if value is not None and value < 1:
                raise SuiteError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
        if args.b4_max_memory is not None and args.b4_max_memory <= 0:
            raise SuiteError(f"--b4-max-memory must be a positive number of GiB, got {args.b4_max_memory}")
        out = args.json or RESULTS / f"suite-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
        if out.is_dir():
            raise SuiteError(f"--json {str(out)!r} is a folder; give a file path such as {out / 'suite.json'}")
        ensure_writable_dir(out.parent, "--json folder")
    except (SuiteError, UserError) as err:
        print(f"benchmarks/suite.py: error: {err}", file=sys.stderr)
        return 2

    import torch

    from layerdream.io import atomic_write_json

    if args.threads:
        torch.set_num_threads(args.threads)
    record = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, "benchmarks/suite.py", *argv]),
        "date": common.now(), "machine": common.machine(), "versions": common.versions(),
        "quick": args.quick, "benchmarks": {},
    }
    atomic_write_json(out, record)
    failed = 0
    for name in names:
        title, module = BENCHMARKS[name]
        print(f"\n## {name} {title}\n", flush=True)
        started = time.perf_counter()
        try:
            result = run_one(name, args)
        except Exception as err:  # one benchmark failing must not lose the others' numbers
            failed += 1
            line = str(err).splitlines()[0] if str(err) else type(err).__name__
            result = {"error": f"{type(err).__name__}: {line}", "traceback": traceback.format_exc()}
            print(f"{name} failed: {result['error']}")
        else:
            print(module.report(result), flush=True)
        result["wall_s"] = time.perf_counter() - started
        record["benchmarks"][name] = result
        atomic_write_json(out, record)
    print(f"\nJSON: {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
