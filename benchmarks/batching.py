"""B2: per-image throughput with B = 1, 4, 16 concepts per forward, through the public API.

``layerdream.synthesize(vlm, concepts, ..., batch_size=B)`` puts B concepts × K copies through one
forward; the images are identical whatever B is (tests/synthesis/test_loop.py), so a faster B is free.
Each round synthesises the same N concepts once per B (interleaved, so load drift hits every B alike)
and, as the naive baseline, once as N separate ``synthesize`` calls.

Set-up is kept out of the per-image number and reported on its own, because it is paid once per call
or once per model, not per image:
  per image     the engine's own time (``SynthesisResult.seconds``, the optimisation of its batch
                divided by the batch's images) summed over the N results, / N
  set-up/call   the call's wall time minus that: concept vectors, preset and checks
  first call    a fresh model's first call minus the same call repeated: lazy initialisation, the gray
                reference and the prompt's masks
"""
from __future__ import annotations

import statistics
import time
from typing import Sequence

from . import common


def _concepts(n: int) -> list[str]:
    from layerdream.toyworld.world import CONCEPTS

    if n > len(CONCEPTS):
        raise ValueError(f"the toy world has {len(CONCEPTS)} concepts, {n} asked for")
    return list(CONCEPTS[:n])


def run(quick: bool = False, model: str = "toy-aligned", sizes: Sequence[int] | None = None, steps: int | None = None,
        repeats: int | None = None) -> dict:
    import layerdream as ld

    sizes = sorted(set(sizes or (1, 4, 16)))
    steps = steps or (5 if quick else 20)
    repeats = repeats or (1 if quick else 3)
    n = max(sizes)
    concepts = _concepts(n)
    started = time.perf_counter()
    vlm = ld.load(model, device="cpu")
    load_s = time.perf_counter() - started
    opts = dict(layers=1, seeds=0, preset="fast", steps=steps, progress=False)

    def call(names: list[str], b: int) -> tuple[float, float]:
        t = time.perf_counter()
        results = ld.synthesize(vlm, names, batch_size=b, **opts)
        wall = time.perf_counter() - t
        engine = min(wall, sum(r.seconds for r in results))
        return wall, engine

    cold, _ = call(concepts[:1], 1)
    warm, _ = call(concepts[:1], 1)
    for b in sizes:  # every batch shape seen once before timing (masks are cached per shape)
        ld.synthesize(vlm, concepts[:b], batch_size=b, **(opts | {"steps": 1}))
    cv = common.timed(lambda: ld.concept_vectors(vlm, concepts, 1))

    per_image: dict[str, list[float]] = {f"B={b}": [] for b in sizes}
    setup: dict[str, list[float]] = {f"B={b}": [] for b in sizes}
    per_image["separate calls"], setup["separate calls"], separate_wall = [], [], []
    for _ in range(repeats):
        for b in sizes:
            wall, engine = call(concepts, b)
            per_image[f"B={b}"].append(engine / n)
            setup[f"B={b}"].append(wall - engine)
        walls, engines = zip(*(call([c], 1) for c in concepts))
        per_image["separate calls"].append(sum(engines) / n)
        setup["separate calls"].append((sum(walls) - sum(engines)) / n)
        separate_wall.append(sum(walls) / n)

    base = min(per_image[f"B={min(sizes)}"])
    rows = []
    for way, values in per_image.items():
        med = min(values)
        rows.append({"way": way, "per_image_s": med, "median_per_image_s": statistics.median(values),
                     "images_per_s": 1 / med, "speedup_vs_B1": base / med,
                     "setup_s_per_call": statistics.median(setup[way]), "samples_per_image_s": values})
    rows[-1]["wall_per_image_s_including_setup"] = min(separate_wall)
    return {
        "model": model, "concepts": n, "copies": 4, "steps": steps, "repeats": repeats,
        "statistic": "best of the interleaved rounds (set-up: median)",
        "rows": rows, "setup": {"load_model_s": load_s, "first_call_overhead_s": cold - warm,
                                "concept_vectors_s": cv},
    }


def report(result: dict) -> str:
    head = (f"B2 batching: {result['model']}, {result['concepts']} concepts x K={result['copies']} copies, "
            f"{result['steps']} steps, preset fast, best of {result['repeats']} interleaved rounds")
    rows = [[r["way"], common.fmt(r["per_image_s"]), f"{r['images_per_s']:.2f}", common.ratio(r["speedup_vs_B1"]),
             common.fmt(r["setup_s_per_call"])] for r in result["rows"]]
    table = common.table(["concepts per forward", "s per image (set-up excluded)", "images/s", "vs B=1",
                          "set-up s per call"], rows)
    s = result["setup"]
    last = result["rows"][-1]
    notes = (f"\nseparate calls, set-up included: {last['wall_per_image_s_including_setup']:.3f} s per image. "
             f"Once per model: load {s['load_model_s']:.2f} s, first-call overhead {s['first_call_overhead_s']:.2f} s, "
             f"concept vectors of all {result['concepts']} concepts {s['concept_vectors_s']:.3f} s")
    return head + "\n\n" + table + "\n" + notes
