"""B3: wall time and peak memory of the commands a newcomer types first, on the embedded default model.

Each command runs as a fresh child process with the venv's ``layerdream`` into a fresh output folder
(so nothing resumes), the commands interleaved round by round. Peak memory is the child's own
``ru_maxrss`` from ``os.wait4``: the high-water mark of its resident set, without psutil. ``--help``
is there to show the fixed cost of starting Python and importing torch + transformers, which every
command pays before doing any work.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import common


def layerdream_command() -> list[str]:
    """The ``layerdream`` entry point of the interpreter running the suite (the venv's)."""
    script = Path(sys.executable).with_name("layerdream")
    return [str(script)] if script.exists() else [sys.executable, "-m", "layerdream.cli"]


# Runs in a small fresh interpreter (python -S) and starts the real command from there. Linux carries
# the pre-exec high-water mark into ru_maxrss, so a command forked straight from the suite (hundreds
# of MiB of torch already resident) would report the suite's memory, not its own.
_MEASURE = """
import json, os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=sys.stderr)
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps({"seconds": time.perf_counter() - started, "maxrss": usage.ru_maxrss,
                  "returncode": os.waitstatus_to_exitcode(status)}))
"""


def run_child(argv: list[str]) -> dict:
    """Run ``argv`` to completion; its wall time, its own peak RSS, exit code and last stderr line."""
    if not hasattr(os, "wait4"):  # pragma: no cover - Windows: time only
        started = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines = done.stderr.strip().splitlines()
        return {"seconds": time.perf_counter() - started, "peak_rss_bytes": None, "returncode": done.returncode,
                "stderr_last": lines[-1] if lines else ""}
    done = subprocess.run([sys.executable, "-S", "-c", _MEASURE, *argv], capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    try:
        child = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"seconds": None, "peak_rss_bytes": None, "returncode": done.returncode or -1,
                "stderr_last": lines[-1] if lines else "the measuring wrapper printed nothing"}
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    return {"seconds": child["seconds"], "peak_rss_bytes": child["maxrss"] * scale, "returncode": child["returncode"],
            "stderr_last": lines[-1] if lines else ""}


def commands(quick: bool) -> dict[str, list[str]]:
    """Name -> arguments after ``layerdream``; ``{out}`` becomes a fresh folder on every run."""
    synth_steps = ["--steps", "10"] if quick else []
    return {
        "layerdream --help": ["--help"],
        "layerdream synthesize red": ["synthesize", "red", "--out", "{out}", "--quiet", *synth_steps],
        "toy sweep (layer 1, seed 0)": ["sweep", "--model", "toy-aligned", "--concepts", "toy", "--layer", "1",
                                        "--seed", "0", "--out", "{out}", "--steps", "5" if quick else "20",
                                        "--no-progress"],
    }


def run(quick: bool = False, repeats: int | None = None, names: list[str] | None = None) -> dict:
    repeats = repeats or (1 if quick else 3)
    exe = layerdream_command()
    todo = {k: v for k, v in commands(quick).items() if names is None or k in names}
    samples: dict[str, list[dict]] = {name: [] for name in todo}
    scratch = Path(tempfile.mkdtemp(prefix="layerdream-b3-"))
    try:
        for r in range(repeats):
            for i, (name, args) in enumerate(todo.items()):
                out = scratch / f"{i}-{r}"
                argv = exe + [str(out) if a == "{out}" else a for a in args]
                sample = run_child(argv)
                sample["images"] = len(list(out.rglob("*.png"))) if out.exists() else 0
                samples[name].append(sample)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = []
    for name, runs in samples.items():
        ok = [s for s in runs if s["returncode"] == 0]
        row = {"command": name, "argv": " ".join(["layerdream", *todo[name]]), "runs": runs, "failed": len(runs) - len(ok)}
        if ok:
            row |= {"seconds": min(s["seconds"] for s in ok),
                    "median_seconds": statistics.median(s["seconds"] for s in ok),
                    "peak_rss_mib": max(s["peak_rss_bytes"] or 0 for s in ok) / 2**20,
                    "images": ok[-1]["images"]}
        rows.append(row)
    return {"repeats": repeats, "statistic": "best seconds of the rounds, max peak RSS", "rows": rows,
            "environment": {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}}


def report(result: dict) -> str:
    head = (f"B3 embedded default: each command a fresh process, best of {result['repeats']} interleaved runs "
            f"(OMP_NUM_THREADS={result['environment']['OMP_NUM_THREADS'] or 'unset'})")
    rows = []
    for r in result["rows"]:
        if "seconds" not in r:
            rows.append([r["command"], "failed: " + r["runs"][-1]["stderr_last"][:80], "", ""])
            continue
        rows.append([r["command"], f"{r['seconds']:.2f}", f"{r['peak_rss_mib']:.0f}", r["images"]])
    return head + "\n\n" + common.table(["command", "wall s", "peak RSS MiB", "images"], rows)
