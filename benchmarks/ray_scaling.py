"""Ray scaling: images/s of one toy sweep on 1 vs 2 Ray CPU workers, beside the local runner.

    python benchmarks/ray_scaling.py                 # 3 interleaved rounds, ~3-4 min on 2 cores
    python benchmarks/ray_scaling.py --quick         # 1 round, fewer steps: a fast look, not a claim

One Ray instance (started here, on 127.0.0.1, with ``--cpus`` CPUs) runs the same sweep (toy-aligned,
the toy concepts, ``--layers``, seed 0, ``--steps`` per image, ``--batch`` concepts per forward) in
three ways, interleaved round by round so that load drift hits all of them alike:

  local        LocalRunner, in this process, 1 torch thread
  ray x1       RayRunner, 1 worker x 1 CPU
  ray x2       RayRunner, 2 workers x 1 CPU each

  idle x1/x2   RayRunner with an engine that only waits (``--idle-ms`` per image) and returns a
               toy-sized image: what the runner itself scales to when workers need no CPU, as
               GPU workers barely do; it isolates Ray and the driver from the cores' contention

The claim is the ratio ray x2 / ray x1 of *steady* images/s: from the first batch sent to the last
result persisted, with every worker's model already loaded (``RayRunner.elapsed``). End-to-end seconds
(worker start and model load included, paid once per sweep) are reported beside it. Tables quote the
best round (other processes only add time); every sample goes to the JSON.

Why a second number, the driver's cost per image: one driver persists every result (PNG, JSON, one
SQLite commit), so it bounds how many workers one driver can feed. It is timed here on an image of
the real Gemma 3 size (896 px); divided into the seconds a GPU spends per image it gives how many GPUs
a single driver keeps busy.
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # python benchmarks/ray_scaling.py: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PAPER_SECONDS_PER_IMAGE = (53.5, 63.7, 100.0)  # docs/performance.md B4: FLOP limits at 989 TFLOP/s, and the goal


def _sweep(out: Path, runner, steps: int, layers: list[int], batch: int) -> tuple[int, float, float, float | None]:
    """(images, steady seconds, end-to-end seconds, worker seconds per image) of one sweep into a fresh RUN.

    Worker seconds per image (busy time summed over workers / images) tells a short core from a slow
    runner: if it grows with the number of workers, the workers were not given free cores."""
    from layerdream.sweep import SweepSpec, load_concept_set, run_sweep

    spec = SweepSpec(model="toy-aligned", concepts=load_concept_set("toy"), layers=layers, seeds=[0], steps=steps,
                     dtype="float32")
    started = time.perf_counter()
    outcome = run_sweep(spec, out, device="cpu", batch_size=batch, runner=runner, progress=False, log=lambda m: None)
    wall = time.perf_counter() - started
    steady = runner.elapsed if getattr(runner, "elapsed", 0) else outcome.seconds
    if outcome.ran != outcome.total or outcome.failed:
        raise RuntimeError(f"sweep made {outcome.ran} of {outcome.total} images, {outcome.failed} failed")
    stats = getattr(runner, "stats", None)
    per_image = sum(s.busy for s in stats) / outcome.ran if stats else None
    return outcome.ran, steady, wall, per_image


class IdleEngine:
    """An ``execute`` that needs no CPU: it waits ``seconds`` per image and returns a 64-px image."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __setstate__(self, state: dict) -> None:  # unpickled in the worker's constructor: import there, not in batch 1
        import torch  # noqa: F401

        import layerdream.synthesis.result  # noqa: F401

        self.__dict__.update(state)

    def __call__(self, batch):
        import torch

        from layerdream.synthesis.result import SynthesisResult

        time.sleep(self.seconds * len(batch))
        return [(job, SynthesisResult(job.label, job.layer, job.seed, "idle", torch.full((3, 64, 64), 0.5), [], 0.0, 0.0,
                                      self.seconds, {"preset": "idle"})) for job in batch]


def _idle_sweep(out: Path, runner, seconds: float, layers: list[int], batch: int) -> tuple[int, float, float, float]:
    from layerdream.sweep import SweepSpec, load_concept_set, run_sweep

    spec = SweepSpec(model="idle", concepts=load_concept_set("toy"), layers=layers, seeds=[0])
    started = time.perf_counter()
    outcome = run_sweep(spec, out, batch_size=batch, runner=runner, execute=IdleEngine(seconds), progress=False,
                        log=lambda m: None)
    wall = time.perf_counter() - started
    if outcome.ran != outcome.total or outcome.failed:
        raise RuntimeError(f"idle sweep made {outcome.ran} of {outcome.total} images, {outcome.failed} failed")
    return outcome.ran, runner.elapsed, wall, sum(s.busy for s in runner.stats) / outcome.ran


def driver_cost_per_image(size: int = 896, n: int = 20) -> list[float]:
    """Seconds the driver spends persisting one result of ``size`` px (PNG + JSON atomically, one commit)."""
    import torch

    from layerdream.sweep.execute import Persist
    from layerdream.sweep.plan import Job
    from layerdream.sweep.store import Store
    from layerdream.synthesis.result import SynthesisResult

    g = torch.Generator().manual_seed(0)
    image = torch.rand(3, size, size, generator=g)
    trajectory = [{"step": i, "loss": -0.5, "cosine": 0.5} for i in range(600)]
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.create_or_open(Path(tmp), {"model": "bench"})
        persist = Persist(store)
        for i in range(n):
            job = Job(kind="concept", concept=f"c{i}", category="x", source=f"c{i}", layer=1, seed=0)
            result = SynthesisResult(f"c{i}", 1, 0, "bench", image, trajectory, 0.0, 0.5, 1.0, {"preset": "paper"})
            started = time.perf_counter()
            persist((job, result))
            samples.append(time.perf_counter() - started)
        store.close()
    return samples


def run(quick: bool = False, repeats: int | None = None, steps: int | None = None, layers: Sequence[int] = (1, 2),
        batch: int = 4, cpus: int = 2, idle_ms: float = 50.0) -> dict:
    import ray
    import torch

    from layerdream.sweep.ray_runner import RayRunner

    torch.set_num_threads(1)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # IdleEngine travels to the workers by value
    repeats = repeats or (1 if quick else 3)
    steps = steps or (5 if quick else 20)
    layers = list(layers)
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep the benchmark's Ray on loopback
    started = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, num_gpus=0, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1", object_store_memory=256 * 2**20, logging_level="ERROR")
    ray_start_s = time.perf_counter() - started
    quiet = dict(cpus_per_worker=1, batch=batch, progress=False, log=lambda m: None)
    toy = lambda runner: lambda out: _sweep(out, runner, steps, layers, batch)  # noqa: E731
    idle = lambda runner: lambda out: _idle_sweep(out, runner, idle_ms / 1000, layers, batch)  # noqa: E731
    ways = {"local": lambda: toy(None), "ray x1": lambda: toy(RayRunner(workers=1, **quiet)),
            "ray x2": lambda: toy(RayRunner(workers=2, **quiet)),
            "idle x1": lambda: idle(RayRunner(workers=1, **quiet)), "idle x2": lambda: idle(RayRunner(workers=2, **quiet))}
    samples: dict[str, list[dict]] = {name: [] for name in ways}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(repeats + 1):  # round 0 warms up (worker processes, imports) and is not kept
                for name, make in ways.items():
                    images, steady, wall, worker_s = make()(Path(tmp) / f"{name}-{round_}".replace(" ", ""))
                    if round_:
                        samples[name].append({"images": images, "steady_s": steady, "wall_s": wall,
                                              "images_per_s": images / steady, "worker_s_per_image": worker_s})
    finally:
        ray.shutdown()
    driver = driver_cost_per_image(n=5 if quick else 20)
    best = {name: max(s["images_per_s"] for s in rows) for name, rows in samples.items()}
    median = {name: statistics.median(s["images_per_s"] for s in rows) for name, rows in samples.items()}
    driver_s = statistics.median(driver)
    worker_s = {name: statistics.median(s["worker_s_per_image"] for s in rows)
                for name, rows in samples.items() if rows[0]["worker_s_per_image"] is not None}
    return {
        "model": "toy-aligned", "concepts": "toy", "layers": layers, "seeds": [0], "steps": steps, "batch": batch,
        "ray_cpus": cpus, "repeats": repeats, "ray_start_s": ray_start_s, "samples": samples,
        "best_images_per_s": best, "median_images_per_s": median, "median_worker_s_per_image": worker_s,
        "ratio_x2_over_x1_best": best["ray x2"] / best["ray x1"],
        "ratio_x2_over_x1_median": median["ray x2"] / median["ray x1"],
        "ratio_x1_over_local_best": best["ray x1"] / best["local"],
        "idle_ms_per_image": idle_ms, "ratio_idle_x2_over_x1_best": best["idle x2"] / best["idle x1"],
        "ratio_idle_x2_over_x1_median": median["idle x2"] / median["idle x1"],
        "driver_persist_s_896px": driver, "driver_persist_s_median": driver_s,
        "gpus_one_driver_feeds": {str(s): s / driver_s for s in PAPER_SECONDS_PER_IMAGE},
    }


def report(result: dict) -> str:
    rows = []
    for name in ("local", "ray x1", "ray x2", "idle x1", "idle x2"):
        s = result["samples"][name]
        base = "idle x1" if name.startswith("idle") else "ray x1"
        rows.append([name, s[0]["images"], common.fmt(result["best_images_per_s"][name], 2),
                     common.fmt(result["median_images_per_s"][name], 2),
                     common.ratio(result["best_images_per_s"][name] / result["best_images_per_s"][base]),
                     common.fmt(min(x["wall_s"] for x in s), 1)])
    lines = [common.table(["way", "images", "images/s (best)", "images/s (median)", "vs x1", "end-to-end s (best)"],
                          rows), "",
             f"ray x2 / ray x1: {result['ratio_x2_over_x1_best']:.2f}x best, {result['ratio_x2_over_x1_median']:.2f}x "
             f"median (ideal 2.00x on {result['ray_cpus']} free cores); Ray start {result['ray_start_s']:.1f}s",
             f"idle engine ({result['idle_ms_per_image']:g} ms/image, no CPU): x2 / x1 "
             f"{result['ratio_idle_x2_over_x1_best']:.2f}x best, {result['ratio_idle_x2_over_x1_median']:.2f}x median",
             "worker seconds per image (median; grows with workers when the cores are not free): "
             + ", ".join(f"{n} {v:.3f}" for n, v in result["median_worker_s_per_image"].items()),
             f"driver cost per 896-px image (PNG + JSON + commit): {1000 * result['driver_persist_s_median']:.0f} ms "
             "median -> one driver keeps "
             + ", ".join(f"{n:.0f} GPUs busy at {s} s/image" for s, n in result["gpus_one_driver_feeds"].items())]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="benchmarks/ray_scaling.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, 5 steps: a fast look, not a claim")
    parser.add_argument("--repeats", type=int, help="interleaved rounds after the warm-up (default 3, quick 1)")
    parser.add_argument("--steps", type=int, help="optimisation steps per image (default 20, quick 5)")
    parser.add_argument("--batch", type=int, default=4, help="concepts per forward (default 4)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the benchmark's Ray instance (default 2)")
    parser.add_argument("--idle-ms", type=float, default=50.0, help="the idle engine's wait per image (default 50)")
    parser.add_argument("--json", type=Path, help="where to write the JSON (default: benchmarks/results/ray-scaling-<time>.json)")
    args = parser.parse_args(argv)
    for flag in ("repeats", "steps", "batch", "cpus"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            print(f"benchmarks/ray_scaling.py: error: --{flag} must be at least 1, got {value}", file=sys.stderr)
            return 2
    try:
        import ray  # noqa: F401
    except ImportError:
        print("benchmarks/ray_scaling.py: error: needs Ray: pip install 'layerdream[ray]'", file=sys.stderr)
        return 2
    from layerdream.io import atomic_write_json

    out = args.json or RESULTS / f"ray-scaling-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    record = {"command": " ".join(shlex.quote(a) for a in [sys.executable, "benchmarks/ray_scaling.py", *argv]),
              "date": common.now(), "machine": common.machine(), "versions": common.versions()}
    record["result"] = run(quick=args.quick, repeats=args.repeats, steps=args.steps, batch=args.batch, cpus=args.cpus,
                           idle_ms=args.idle_ms)
    record["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, record)
    print(report(record["result"]))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
