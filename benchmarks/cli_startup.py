"""`layerdream --help` of this checkout beside the same command of an earlier revision, in one run.

Why: issue 20 moved every command into ``cli/`` and split the API; ``--help`` must stay as fast (it
imports no torch: tests/test_cli_startup.py says *whether*, this says *how fast*). The earlier
revision's ``src/`` is exported with ``git archive`` into a temporary folder (no checkout, no worktree);
both run as fresh ``python -m layerdream.cli --help`` processes, interleaved round by round so load on
the machine hits both alike. Reported: median and minimum wall seconds per tree and their ratio, and
the same for the in-process part (``import layerdream.cli`` + building and formatting the parser),
which excludes Python's own start.

    python -m benchmarks.cli_startup --against 4044b2c --rounds 20 [--json benchmarks/results/x.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_IN_PROCESS = ("import time; t = time.perf_counter(); import layerdream.cli as c; c.build_parser().format_help(); "
               "print(time.perf_counter() - t)")


def export_src(revision: str, into: Path) -> Path:
    """``src/`` of ``revision`` as plain files under ``into`` (python files only: --help reads no data)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", revision, "src"], check=True,
                             capture_output=True).stdout
    tar = into / "src.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(into, members=[m for m in t.getmembers() if m.isdir() or m.name.endswith(".py")],
                     filter="data")
    return into / "src"


def once(src: Path) -> tuple[float, float]:
    """(wall seconds of ``--help``, in-process seconds) in fresh interpreters importing ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "layerdream.cli", "--help"], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    inner = float(subprocess.run([sys.executable, "-c", _IN_PROCESS], env=env, check=True, capture_output=True,
                                 text=True).stdout)
    return wall, inner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the earlier git revision, e.g. 4044b2c")
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds (default 20)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="layerdream-bench-") as tmp:
        trees = {args.against: export_src(args.against, Path(tmp)), "this checkout": ROOT / "src"}
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, src in trees.items():
                times[name].append(once(src))
    rows = {}
    for name, samples in times.items():
        wall, inner = [s[0] for s in samples], [s[1] for s in samples]
        rows[name] = {"wall_median": statistics.median(wall), "wall_min": min(wall),
                      "inprocess_median": statistics.median(inner), "inprocess_min": min(inner)}
    old, new = rows[args.against], rows["this checkout"]
    ratio = {k: new[k] / old[k] for k in old}
    for name, row in rows.items():
        print(f"{name:>14}: --help wall median {row['wall_median'] * 1000:6.0f} ms (min {row['wall_min'] * 1000:4.0f}); "
              f"in-process median {row['inprocess_median'] * 1000:5.0f} ms (min {row['inprocess_min'] * 1000:4.0f})")
    print(f"{'new / old':>14}: wall median x{ratio['wall_median']:.2f} (min x{ratio['wall_min']:.2f}); "
          f"in-process median x{ratio['inprocess_median']:.2f} (min x{ratio['inprocess_min']:.2f}); {args.rounds} rounds")
    if args.json:
        args.json.write_text(json.dumps({"against": args.against, "rounds": args.rounds, "trees": rows,
                                         "ratio_new_over_old": ratio, "python": sys.version.split()[0],
                                         "cpus": os.cpu_count()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
