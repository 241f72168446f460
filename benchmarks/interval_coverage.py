"""How often each 95 % interval of a recognition rate covers the rate it claims to (issue 19 items 7, 8).

A simulated study: ``m`` concepts, each with its own true recognition probability (Beta(a, b): some
concepts are easy, some hard), ``S`` seeds per concept (each image's probability moves around its
concept's on the logit scale, sd ``seed_sd``), ``q`` judge queries per image. The claim a table makes
is about concepts, so the target is the population's mean image probability E[p]. For each of
``sims`` studies we compute

* ``wilson-queries``: Wilson over all queries of the cell (the paper's interval, the terminal's old one);
* ``boot-images``: bootstrap over (concept, seed) images as if independent (the old unit bootstrap);
* ``boot-concepts``: bootstrap over concepts, seeds nested (:func:`cluster_bootstrap_rate`, now shown first);

and report the fraction that covers E[p] (nominal 0.95) and the mean width. Run:

    PYTHONPATH=src python -m benchmarks.interval_coverage            # ~1 min on one core
    PYTHONPATH=src python -m benchmarks.interval_coverage --sims 200  # quicker
"""
from __future__ import annotations

import argparse
import math
import random

from layerdream.evaluation.stats import bootstrap_mean_interval, cluster_bootstrap_rate, permutation_test, wilson_interval


def _study(rng: random.Random, m: int, seeds: int, queries: int, a: float, b: float, seed_sd: float):
    images = []  # (concept, k, n)
    for c in range(m):
        p_c = rng.betavariate(a, b)
        logit = math.log(max(p_c, 1e-6) / max(1 - p_c, 1e-6))
        for _ in range(seeds):
            p = 1 / (1 + math.exp(-(logit + rng.gauss(0, seed_sd))))
            k = sum(rng.random() < p for _ in range(queries))
            images.append((c, k, queries))
    return images


def _target(a: float, b: float, seed_sd: float, draws: int = 200_000) -> float:
    """E[p] of one image, by Monte Carlo (it is a + b independent of m, S, q)."""
    rng = random.Random(12345)
    total = 0.0
    for _ in range(draws):
        p_c = rng.betavariate(a, b)
        logit = math.log(max(p_c, 1e-6) / max(1 - p_c, 1e-6))
        total += 1 / (1 + math.exp(-(logit + rng.gauss(0, seed_sd))))
    return total / draws


def coverage(m: int, seeds: int, queries: int = 10, a: float = 1.2, b: float = 1.8, seed_sd: float = 1.0,
             sims: int = 400, n_boot: int = 500) -> dict[str, tuple[float, float]]:
    target = _target(a, b, seed_sd)
    rng = random.Random(m * 1000 + seeds)
    hits = {"wilson-queries": 0, "boot-images": 0, "boot-concepts": 0}
    width = dict.fromkeys(hits, 0.0)
    for i in range(sims):
        images = _study(rng, m, seeds, queries, a, b, seed_sd)
        k, n = sum(x[1] for x in images), sum(x[2] for x in images)
        intervals = {
            "wilson-queries": wilson_interval(k, n),
            "boot-images": bootstrap_mean_interval([x[1] / x[2] for x in images], n_boot=n_boot, seed=i),
            "boot-concepts": cluster_bootstrap_rate(images, n_boot=n_boot, seed=i),
        }
        for name, (lo, hi) in intervals.items():
            hits[name] += lo <= target <= hi
            width[name] += hi - lo
    return {name: (hits[name] / sims, width[name] / sims) for name in hits}


def test_size(m: int = 7, controls: int = 8, sims: int = 400, queries: int = 10) -> float:
    """Rejection rate at alpha 0.05 of the concept-vs-control permutation test when concept and control
    images share one distribution (the null): should be at most 0.05."""
    rng = random.Random(7)
    rejected = 0
    for _ in range(sims):
        p = rng.betavariate(1, 4)
        draw = lambda: sum(rng.random() < p for _ in range(queries)) / queries  # noqa: E731
        rejected += (permutation_test([draw() for _ in range(m)], [draw() for _ in range(controls)]) or 1) <= 0.05
    return rejected / sims


def power(m: int = 7, controls: int = 8, lift: float = 0.25, sims: int = 300, queries: int = 10) -> float:
    """Rejection rate when concept images are recognised ``lift`` more often than controls (base 0.15)."""
    rng = random.Random(11)
    rejected = 0
    for _ in range(sims):
        conc = [sum(rng.random() < 0.15 + lift for _ in range(queries)) / queries for _ in range(m)]
        ctrl = [sum(rng.random() < 0.15 for _ in range(queries)) / queries for _ in range(controls)]
        rejected += (permutation_test(conc, ctrl) or 1) <= 0.05
    return rejected / sims


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=400)
    args = ap.parse_args()
    print(f"coverage of E[p] by nominal 95 % intervals ({args.sims} simulated studies each; q = 10 queries per image)")
    print(f"{'concepts':>8} {'seeds':>5}  " + "  ".join(f"{n:>22}" for n in ("wilson-queries", "boot-images", "boot-concepts")))
    for m, s in ((7, 1), (7, 3), (15, 1), (15, 3), (105, 1), (105, 3)):
        res = coverage(m, s, sims=args.sims if m < 100 else max(50, args.sims // 4))
        print(f"{m:>8} {s:>5}  " + "  ".join(f"{c:>9.3f} (width {w:.3f})" for c, w in res.values()))
    print(f"concept-vs-control permutation test, 7 concepts vs 8 controls: size {test_size(sims=args.sims):.3f} "
          f"at alpha 0.05; power {power(sims=args.sims):.3f} for +0.25 over a 0.15 base rate; "
          f"with 1 control per cell (old default 1 random): power {power(controls=1, sims=args.sims):.3f}")


if __name__ == "__main__":
    main()
