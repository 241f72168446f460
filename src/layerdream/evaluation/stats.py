"""Recognition rates with honest intervals, and the tables the report renders.

Two kinds of interval, because they answer different questions (method.md c.4, f #16):

* over **queries** (Wilson 95 % on all graded answers of a cell): how sure are we about this judge's
  rate *for these images*? This is what the paper reports; it ignores that another synthesis seed
  would give other images.
* over **units** (concept x seed; percentile bootstrap over per-unit rates, resampling *concepts*
  with their seeds nested, :func:`cluster_bootstrap_rate`): how much does the rate move between
  concepts and images? Seeds of one concept are not independent draws of concepts, so a concept is
  resampled whole.

Errors (score None) are counted in ``errors`` and left out of ``n``: a judge outage is not a "no".

For claims about concepts ("layer 1 images of animals are recognised"), the unit that varies is the
concept: :func:`cluster_bootstrap_rate` resamples concepts, each with all its seeds' images (seeds
nested in their concept), instead of treating every (concept, seed) image as independent, which
made the spread look smaller when seeds of one concept agree. :func:`permutation_test` is the
one-sided test of concept images against control images (exact when the arrangements are few).

Protocols are never pooled: the stringent and the lenient question measure different things (the
paper reports them apart), so :func:`summarize` always groups by ``protocol`` when the rows carry one,
and :func:`pivot` refuses a summary that mixes protocols unless told which one to show.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Any, Iterable, Sequence

from .types import Verdict


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0.0, 1.0) for n == 0.

    Chosen over Wald because it stays inside [0, 1] and is sensible at 0/10 and 10/10, which are
    common here (a concept recognised in every query, or never).
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} must be between 0 and n={n}")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_mean_interval(values: Sequence[float], level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (deterministic: fixed seed). One value -> (v, v)."""
    if not values:
        return 0.0, 1.0
    if len(values) == 1:
        return float(values[0]), float(values[0])
    rng = random.Random(seed)
    k = len(values)
    means = sorted(sum(values[rng.randrange(k)] for _ in range(k)) / k for _ in range(n_boot))
    lo_i = int(math.floor((1 - level) / 2 * (n_boot - 1)))
    hi_i = int(math.ceil((1 + level) / 2 * (n_boot - 1)))
    return means[lo_i], means[hi_i]


def t_quantile(p: float, df: int) -> float:
    """Student t quantile (Cornish-Fisher expansion around the normal's; exact values for df 1, 2)."""
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) * math.sqrt(2 / (4 * p * (1 - p)))
    z = normal_quantile(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def normal_quantile(p: float) -> float:
    """Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9)."""
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
         -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
         4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    if p < 0.02425:
        q = math.sqrt(-2 * math.log(p))
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    if p > 1 - 0.02425:
        return -normal_quantile(1 - p)
    q = p - 0.5
    r = q * q
    return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1))


def cluster_bootstrap_rate(images: Sequence[tuple[Any, int, int]], level: float = 0.95, n_boot: int = 2000,
                           seed: int = 0, small_sample: bool = True) -> tuple[float, float]:
    """Percentile bootstrap interval of the pooled rate sum(k)/sum(n), resampling *clusters*.

    ``images``: (cluster, k, n) per image, the cluster being the concept (a concept's images at
    several seeds are one cluster: they share the concept, so they are not independent evidence about
    concepts). Each replicate draws as many clusters as there are, with replacement, and takes every
    image of each drawn cluster. Deterministic (fixed seed). No scored image: (0, 1); one cluster: the
    interval of its images alone is unknowable from one concept, so (0, 1) as well.

    With few clusters (a category has ~7 concepts) the percentile bootstrap is too narrow: its
    variance is (m-1)/m of the sample's, and it uses normal rather than t tails. ``small_sample``
    widens both ends about the rate by sqrt(m/(m-1)) * t_{m-1}/z (1.35 at m = 7, 1.02 at m = 105),
    clipped to [0, 1]: in benchmarks/interval_coverage.py this lifts coverage at 7 concepts from
    0.885 to about the nominal 0.95.
    """
    clusters: dict[Any, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for cluster, k, n in images:  # k and n may be fractions: (cluster, rate, 1) bootstraps a mean of rates
        if n:
            clusters[cluster][0] += float(k)
            clusters[cluster][1] += float(n)
    sums = list(clusters.values())
    if len(sums) < 2:
        return 0.0, 1.0
    import numpy as np  # vectorised: a report has hundreds of cells

    m = len(sums)
    ks, ns = np.array([s[0] for s in sums]), np.array([s[1] for s in sums])
    idx = np.random.default_rng(seed).integers(0, m, size=(n_boot, m))
    rates = np.sort(ks[idx].sum(1) / ns[idx].sum(1))
    lo_i = int(math.floor((1 - level) / 2 * (n_boot - 1)))
    hi_i = int(math.ceil((1 + level) / 2 * (n_boot - 1)))
    lo, hi = float(rates[lo_i]), float(rates[hi_i])
    if lo == hi and lo in (0.0, 1.0):  # every concept always (or never) recognised, 5 of 5: no replicate differs,
        # so the bootstrap had no width and printed 100% [100-100], certainty from 5 concepts; Wilson over the m
        # concepts is what m concepts can say
        return wilson_interval(int(lo) * m, m, z=normal_quantile((1 + level) / 2))
    if small_sample:
        rate = sum(k for k, _ in sums) / sum(n for _, n in sums)
        q = (1 + level) / 2
        c = math.sqrt(m / (m - 1)) * t_quantile(q, m - 1) / normal_quantile(q)
        lo, hi = max(0.0, rate - (rate - lo) * c), min(1.0, rate + (hi - rate) * c)
    return lo, hi


def permutation_test(treated: Sequence[float], control: Sequence[float], n_perm: int = 20000, seed: int = 0,
                     exact_limit: int = 50000) -> float | None:
    """One-sided p-value that the mean of ``treated`` exceeds the mean of ``control`` by chance.

    The statistic is the difference of means; under the null the labels "treated"/"control" are
    exchangeable. Exact (every split enumerated) when there are at most ``exact_limit`` splits, else
    ``n_perm`` random splits with p = (1 + #{>= observed}) / (1 + n_perm). None when a side is empty.
    """
    a, b = [float(x) for x in treated], [float(x) for x in control]
    if not a or not b:
        return None
    pooled, na = a + b, len(a)
    total = sum(pooled)
    observed = sum(a) / na - (total - sum(a)) / len(b)
    eps = 1e-12

    def diff(sum_a: float) -> float:
        return sum_a / na - (total - sum_a) / len(b)

    if math.comb(len(pooled), na) <= exact_limit:
        from itertools import combinations

        hits = count = 0
        for idx in combinations(range(len(pooled)), na):
            count += 1
            hits += diff(sum(pooled[i] for i in idx)) >= observed - eps
        return hits / count
    import numpy as np

    values = np.array(pooled)
    perms = np.random.default_rng(seed).permuted(np.tile(values, (n_perm, 1)), axis=1)
    sums = perms[:, :na].sum(1)
    hits = int((sums / na - (total - sums) / len(b) >= observed - eps).sum())
    return (1 + hits) / (1 + n_perm)


def concept_vs_control(concepts: dict[Any, list[float]], controls: Sequence[float], **kw: Any) -> dict[str, Any]:
    """The one-sided test of a cell: concept units against control images.

    ``concepts``: concept -> its images' rates (one per seed); each concept is one unit (the mean of
    its seeds), because seeds of a concept are not independent. ``controls``: one rate per control
    image (a control's base rate over every label of its category, where graded so). Returns p, the
    numbers of units, both rates and the effect (concept rate minus control rate, in rate points).
    """
    units = [sum(v) / len(v) for v in concepts.values() if v]
    ctrl = [float(c) for c in controls]
    p = permutation_test(units, ctrl, **kw)
    c_rate = sum(units) / len(units) if units else None
    k_rate = sum(ctrl) / len(ctrl) if ctrl else None
    return {"p": p, "n_concepts": len(units), "n_controls": len(ctrl), "concept_rate": c_rate, "control_rate": k_rate,
            "effect": None if c_rate is None or k_rate is None else c_rate - k_rate}


def verdict_rows(verdicts: Iterable[Verdict], meta: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Verdicts as dicts, each merged with the caller's metadata for its key (layer, seed, model, ...)."""
    meta = meta or {}
    return [{**v.to_dict(), **meta.get(v.key, {})} for v in verdicts]


def summarize(
    rows: Sequence[dict[str, Any]],
    by: Sequence[str] = ("category", "layer"),
    score: str = "score",
    units: Sequence[str] = ("concept", "seed"),
    z: float = 1.96,
    n_boot: int = 2000,
) -> list[dict[str, Any]]:
    """Aggregate verdict rows per group.

    Each output row: the ``by`` values, ``rate``/``n``/``successes``/``low``/``high`` (Wilson over
    queries), ``errors``, and ``units``/``unit_rate``/``unit_low``/``unit_high`` (bootstrap over
    per-unit rates; a unit is a distinct combination of the ``units`` columns present in the rows).
    Groups are sorted by their ``by`` values (numbers numerically). Rows missing a ``by`` column go
    to group value None. If the rows carry a ``protocol`` and ``by`` does not name it, ``protocol`` is
    put first in ``by``: stringent and lenient answers are never pooled into one rate.
    """
    if "protocol" not in by and any(r.get("protocol") is not None for r in rows):
        by = ("protocol", *by)
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(row.get(b) for b in by)].append(row)
    out = []
    for gkey in sorted(groups, key=_sort_key):
        members = groups[gkey]
        graded = [int(r[score]) for r in members if r.get(score) is not None]
        n, s = len(graded), sum(graded)
        low, high = wilson_interval(s, n, z)
        per_unit: dict[tuple, list[int]] = defaultdict(list)
        for r in members:
            if r.get(score) is not None:
                per_unit[tuple(r.get(u) for u in units)].append(int(r[score]))
        ordered = sorted(per_unit.items(), key=lambda kv: _sort_key(kv[0]))
        unit_rates = [sum(v) / len(v) for _, v in ordered]
        level = 1 - 2 * (1 - _normal_cdf(z))
        if "concept" in units and len({u[units.index("concept")] for u, _ in ordered}) > 1:
            ci = units.index("concept")  # seeds nested in their concept: a concept is resampled whole
            u_low, u_high = cluster_bootstrap_rate([(u[ci], r, 1) for (u, _), r in zip(ordered, unit_rates)],
                                                   level=level, n_boot=n_boot)
        else:
            u_low, u_high = bootstrap_mean_interval(unit_rates, level=level, n_boot=n_boot)
        out.append({
            **dict(zip(by, gkey)),
            "rate": s / n if n else None, "n": n, "successes": s, "low": low, "high": high,
            "errors": len(members) - n,
            "units": len(unit_rates), "unit_rate": sum(unit_rates) / len(unit_rates) if unit_rates else None,
            "unit_low": u_low, "unit_high": u_high,
        })
    return out


def pivot(summary: Sequence[dict[str, Any]], index: str = "category", columns: str = "layer", value: str = "rate",
          protocol: str | None = None) -> list[dict[str, Any]]:
    """A wide table (one row per ``index`` value, one column per ``columns`` value), as in method.md d.2.

    ``protocol`` picks the rows of one protocol; a summary of several protocols needs it (one cell
    cannot hold two protocols' rates, and pooling them is not a rate the paper reports).
    """
    if protocol is not None:
        summary = [r for r in summary if r.get("protocol") == protocol]
    present = {r.get("protocol") for r in summary} - {None}
    if len(present) > 1 and "protocol" not in (index, columns):
        raise ValueError(f"the summary holds protocols {sorted(present)}; pass protocol= to pivot one of them")
    cols = sorted({r.get(columns) for r in summary}, key=lambda c: _sort_key((c,)))
    table: dict[Any, dict[str, Any]] = {}
    for r in summary:
        table.setdefault(r.get(index), {index: r.get(index)})[str(r.get(columns))] = r.get(value)
    return [{index: k, **{str(c): table[k].get(str(c)) for c in cols}} for k in sorted(table, key=lambda k: _sort_key((k,)))]


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _sort_key(values: tuple) -> tuple:
    return tuple((0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v)) for v in values)
