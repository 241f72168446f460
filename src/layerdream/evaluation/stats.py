"""Recognition rates with honest intervals, and the tables the report renders.

Two kinds of interval, because they answer different questions (method.md c.4, f #16):

* over **queries** (Wilson 95 % on all graded answers of a cell): how sure are we about this judge's
  rate *for these images*? This is what the paper reports; it ignores that another synthesis seed
  would give other images.
* over **units** (concept x seed; percentile bootstrap over per-unit rates): how much does the rate
  move between images? With one seed this is the spread over concepts only.

Errors (score None) are counted in ``errors`` and left out of ``n``: a judge outage is not a "no".

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
        unit_rates = [sum(v) / len(v) for _, v in sorted(per_unit.items(), key=lambda kv: _sort_key(kv[0]))]
        level = 1 - 2 * (1 - _normal_cdf(z))
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
