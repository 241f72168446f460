"""Recognition tables from a RUN: rate per (kind, category, layer, protocol) with two 95% intervals.

Two intervals because they answer different questions:

* **over queries** (the paper's): k positive answers of n answers in the cell, Wilson. It says how
  sure we are about *these* images' rate, and ignores that another seed would give other images.
* **over images** (seeds x concepts): each image counts once, as recognised when most of its
  answers are positive (rate > 1/2); Wilson over images. With several seeds this carries the
  optimisation-seed variance that method.md (d.3) notes the paper's intervals leave out.

* **over concepts** (``ci_concepts``): the rate's percentile bootstrap resampling concepts, each with
  all its seeds' images (``evaluation.stats.cluster_bootstrap_rate``): the interval for a claim about
  concepts, and the one the terminal shows first. A control's clusters are its own images (random)
  or its donors (shuffled: a shuffled image is its donor's image).

Controls (random / shuffled) get the same rows, so every table carries its own chance line. A
control's ``base_rate`` is the judge's base rate for its category: its answers graded against every
label of the category (``label_scores``), not only the one it was asked about. :func:`control_tests`
tests concept images against control images per category x layer (one-sided permutation test).
Verdicts with ``score`` None (judge errors) are counted as missing, never as 0.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

ALL = "All"
KIND_ORDER = {"concept": 0, "random": 1, "shuffled": 2, "weighting-mean": 3, "weighting-noprior": 4}
CONTROLS = ("random", "shuffled")


@dataclass
class Cell:
    """One row of the recognition table."""

    kind: str
    category: str
    layer: int
    protocol: str
    images: int = 0
    k: int = 0  # positive answers
    n: int = 0  # scored answers
    images_recognised: int = 0
    images_scored: int = 0
    errors: int = 0
    seed_rates: dict[int, float] = field(default_factory=dict)
    clusters: dict[str, list[int]] = field(default_factory=dict)  # concept (or control unit) -> [k, n]
    base_scores: list[float] = field(default_factory=list)  # controls: per image, the mean over every label

    def as_row(self) -> dict[str, Any]:
        from ..evaluation.stats import cluster_bootstrap_rate, wilson_interval

        q_lo, q_hi = wilson_interval(self.k, self.n) if self.n else (None, None)
        i_lo, i_hi = wilson_interval(self.images_recognised, self.images_scored) if self.images_scored else (None, None)
        c_lo, c_hi = (cluster_bootstrap_rate([(c, k, n) for c, (k, n) in self.clusters.items()], n_boot=1000)
                      if len(self.clusters) > 1 else (None, None))
        return {
            "kind": self.kind, "category": self.category, "layer": self.layer, "protocol": self.protocol,
            "images": self.images, "k": self.k, "n": self.n, "rate": (self.k / self.n) if self.n else None,
            "ci_queries_lo": q_lo, "ci_queries_hi": q_hi,
            "images_recognised": self.images_recognised, "images_scored": self.images_scored,
            "image_rate": (self.images_recognised / self.images_scored) if self.images_scored else None,
            "ci_images_lo": i_lo, "ci_images_hi": i_hi, "errors": self.errors,
            "seed_rates": {str(s): round(r, 4) for s, r in sorted(self.seed_rates.items())},
            "concepts": len(self.clusters), "ci_concepts_lo": c_lo, "ci_concepts_hi": c_hi,
            "base_rate": (sum(self.base_scores) / len(self.base_scores)) if self.base_scores else None,
            "base_images": len(self.base_scores),
        }


def per_image(verdicts: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, int]]:
    """(job key, protocol) -> {k, n, errors} over that image's queries."""
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"k": 0, "n": 0, "errors": 0})
    for v in verdicts:
        agg = out[(v["key"], v["protocol"])]
        if v["score"] is None:
            agg["errors"] += 1
        else:
            agg["n"] += 1
            agg["k"] += int(v["score"])
    return dict(out)


def cluster_of(r: dict[str, Any]) -> str:
    """The unit a bootstrap over concepts resamples: the concept; a shuffled control's donor (its image
    is the donor's); a random control's own image (every random direction is independent)."""
    return r["source"] if r["kind"] == "shuffled" else r["key"] if r["kind"] == "random" else r["concept"]


def base_rates(label_scores: Iterable[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """(job key, protocol) -> mean score over every query and every label of the control's category."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for s in label_scores:
        if s.get("score") is not None:
            agg = sums[(s["key"], s["protocol"])]
            agg[0] += int(s["score"])
            agg[1] += 1
    return {pair: k / n for pair, (k, n) in sums.items() if n}


def recognition_table(results: list[dict[str, Any]], verdicts: list[dict[str, Any]],
                      categories: list[str] | None = None,
                      label_scores: Iterable[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Rows for every (kind, category or All, layer, protocol) that has verdicts, in display order
    (``categories``: the concept set's order; default: order of first appearance)."""
    images = per_image(verdicts)
    base = base_rates(label_scores or [])
    protocols = sorted({p for _, p in images}, key=lambda p: (p != "stringent", p))
    cells: dict[tuple[str, str, int, str], Cell] = {}
    seed_counts: dict[tuple[str, str, int, str], dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for r in results:
        for protocol in protocols:
            agg = images.get((r["key"], protocol))
            if agg is None:
                continue
            for category in (r["category"], ALL):
                ck = (r["kind"], category, r["layer"], protocol)
                cell = cells.setdefault(ck, Cell(*ck))
                cell.images += 1
                cell.k += agg["k"]
                cell.n += agg["n"]
                cell.errors += agg["errors"]
                if agg["n"]:
                    unit = cell.clusters.setdefault(cluster_of(r), [0, 0])
                    unit[0] += agg["k"]
                    unit[1] += agg["n"]
                    if (r["key"], protocol) in base:
                        cell.base_scores.append(base[(r["key"], protocol)])
                    cell.images_scored += 1
                    cell.images_recognised += int(agg["k"] / agg["n"] > 0.5)
                    seed_counts[ck][r["seed"]][0] += agg["k"]
                    seed_counts[ck][r["seed"]][1] += agg["n"]
    for ck, per_seed in seed_counts.items():
        cells[ck].seed_rates = {s: k / n for s, (k, n) in per_seed.items() if n}
    order = _category_order(results, categories)
    return [c.as_row() for c in sorted(cells.values(), key=lambda c: (
        protocols.index(c.protocol), KIND_ORDER.get(c.kind, 9), order.get(c.category, 10**6), c.layer))]


def image_values(results: list[dict[str, Any]], verdicts: list[dict[str, Any]],
                 label_scores: Iterable[dict[str, Any]] | None = None) -> dict[tuple[str, str], float]:
    """(job key, protocol) -> the image's rate: k/n for a concept image, the base rate over every label
    of its category for a control (its k/n for the one label where it was not graded so)."""
    base = base_rates(label_scores or [])
    kinds = {r["key"]: r["kind"] for r in results}
    out = {}
    for pair, agg in per_image(verdicts).items():
        if agg["n"] and pair[0] in kinds:
            out[pair] = base.get(pair, agg["k"] / agg["n"]) if kinds[pair[0]] in CONTROLS else agg["k"] / agg["n"]
    return out


def control_tests(results: list[dict[str, Any]], verdicts: list[dict[str, Any]],
                  label_scores: Iterable[dict[str, Any]] | None = None,
                  categories: list[str] | None = None) -> list[dict[str, Any]]:
    """Per (category or All, layer, protocol) and control (random, shuffled, or both pooled as
    ``controls``): is the concept images' rate above the controls'? One-sided permutation test
    (``evaluation.stats.concept_vs_control``): a concept counts once (mean over its seeds' images), a
    control image once (its base rate over every label of its category where graded so, else its rate
    for the label it was asked about). Columns: p, n_concepts, n_controls, concept_rate, control_rate,
    effect (the difference in rate points)."""
    from ..evaluation.stats import concept_vs_control

    images = per_image(verdicts)
    base = base_rates(label_scores or [])
    protocols = sorted({p for _, p in images}, key=lambda p: (p != "stringent", p))
    concept_units: dict[tuple[str, int, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    control_units: dict[tuple[str, int, str, str], list[float]] = defaultdict(list)
    for r in results:
        for protocol in protocols:
            agg = images.get((r["key"], protocol))
            if agg is None or not agg["n"]:
                continue
            rate = agg["k"] / agg["n"]
            for category in (r["category"], ALL):
                if r["kind"] == "concept":
                    concept_units[(category, r["layer"], protocol)][r["concept"]].append(rate)
                elif r["kind"] in CONTROLS:
                    value = base.get((r["key"], protocol), rate)
                    for control in (r["kind"], "controls"):
                        control_units[(category, r["layer"], protocol, control)].append(value)
    order = _category_order(results, categories)
    rows = []
    for (category, layer, protocol, control), values in control_units.items():
        units = concept_units.get((category, layer, protocol))
        if not units:
            continue
        test = concept_vs_control(units, values)
        rows.append({"category": category, "layer": layer, "protocol": protocol, "control": control, **test})
    rank = {"random": 0, "shuffled": 1, "controls": 2}
    return sorted(rows, key=lambda r: (protocols.index(r["protocol"]), order.get(r["category"], 10**6), r["layer"],
                                       rank.get(r["control"], 9)))


def _extra(r: dict[str, Any]) -> dict[str, Any]:
    import json

    extra = r.get("extra")
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            return {}
    return extra if isinstance(extra, dict) else {}


def cosine_table(results: list[dict[str, Any]], categories: list[str] | None = None) -> list[dict[str, Any]]:
    """Mean final cosine per (kind, category, layer): the engine's own score, available before any judge;
    with the mean effective number of tokens the final images' representations rest on (exp of the
    attention weights' entropy; None for images made before it was recorded) and the tokens there are."""
    sums: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    eff: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    tokens: dict[tuple[str, str, int], int] = {}
    for r in results:
        if r.get("cosine_final") is not None:
            extra = _extra(r)
            for category in (r["category"], ALL):
                key = (r["kind"], category, r["layer"])
                sums[key].append(float(r["cosine_final"]))
                if extra.get("effective_tokens") is not None:
                    eff[key].append(float(extra["effective_tokens"]))
                    tokens[key] = int(extra.get("image_tokens") or 0) or tokens.get(key, 0)
    order = _category_order(results, categories)
    return [{"kind": k, "category": c, "layer": l, "images": len(v), "mean_cosine_final": sum(v) / len(v),
             "mean_effective_tokens": (sum(eff[(k, c, l)]) / len(eff[(k, c, l)])) if eff.get((k, c, l)) else None,
             "image_tokens": tokens.get((k, c, l))}
            for (k, c, l), v in sorted(sums.items(), key=lambda kv: (KIND_ORDER.get(kv[0][0], 9), order.get(kv[0][1], 10**6), kv[0][2]))]


def _category_order(results: list[dict[str, Any]], categories: list[str] | None = None) -> dict[str, int]:
    order: dict[str, int] = {c: i for i, c in enumerate(categories or [])}
    for r in results:
        if r["kind"] == "concept":
            order.setdefault(r["category"], len(order))
    for r in results:
        order.setdefault(r["category"], len(order))
    order[ALL] = len(order)
    return order


def grid(rows: list[dict[str, Any]], kind: str, protocol: str) -> tuple[list[str], list[int], dict[tuple[str, int], dict[str, Any]]]:
    """Category x layer view of ``recognition_table`` rows for one kind and protocol."""
    sel = [r for r in rows if r["kind"] == kind and r["protocol"] == protocol]
    categories = list(dict.fromkeys(r["category"] for r in sel))
    layers = sorted({r["layer"] for r in sel})
    return categories, layers, {(r["category"], r["layer"]): r for r in sel}


def current_verdicts(results: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The verdicts about the images the RUN holds now: a verdict for an image since remade (other
    sha256) describes a picture that no longer exists and is left out."""
    sha = {r["key"]: r.get("image_sha256") for r in results}
    return [v for v in verdicts
            if not v.get("image_sha256") or not sha.get(v["key"]) or v["image_sha256"] == sha[v["key"]]]


def identical_protocols(verdicts: list[dict[str, Any]]) -> bool:
    """True when the judge answered both protocols identically for every image and query (the toy
    judge asks one question whatever the protocol): the report then shows one section, not two copies."""
    answers: dict[str, dict[tuple[str, int], tuple]] = defaultdict(dict)
    for v in verdicts:
        answers[v["protocol"]][(v["key"], v["query_index"])] = (v.get("answer"), v["score"], v.get("error"))
    if len(answers) != 2:
        return False
    first, second = answers.values()
    return bool(first) and first == second


def failures(verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    """How many of the verdicts are failed queries (score None), with up to three distinct reasons."""
    failed = [v for v in verdicts if v["score"] is None]
    examples = list(dict.fromkeys(str(v.get("error") or "no score") for v in failed))[:3]
    return {"failed": len(failed), "total": len(verdicts), "examples": examples}


def graders(verdicts: list[dict[str, Any]]) -> list[str]:
    """The grader ids behind the verdicts, most frequent first."""
    counts: dict[str, int] = defaultdict(int)
    for v in verdicts:
        counts[str(v.get("grader") or "")] += 1
    return [g for g, _ in sorted(counts.items(), key=lambda kv: -kv[1])]


# -- human judges (layerdream annotate) -----------------------------------------------------------
# Humans answer once per image (judge ``human:<name>``), so pooling the human judges gives one
# answer per (annotator, image): their rate is Wilson over those answers, i.e. over annotators and
# images. Agreement with a model judge pairs each human answer with the model's decision about the
# same image (yes iff more than half of its scored answers are yes, the rule of "images recognised"),
# and Cohen's kappa corrects the raw agreement for what two raters with those yes-rates would reach
# by chance.

def human_judges(judges: Iterable[str]) -> list[str]:
    """The human annotators' judge ids among ``judges`` (``human:<name>``), in the given order."""
    from ..sweep.store import is_human

    return [j for j in judges if is_human(j)]


def cohen_kappa(both: int, model_only: int, human_only: int, neither: int) -> float | None:
    """Cohen's kappa of a 2x2 confusion table; None when undefined (no pairs, or chance agreement 1)."""
    n = both + model_only + human_only + neither
    if n == 0:
        return None
    po = (both + neither) / n
    model_yes, human_yes = (both + model_only) / n, (both + human_only) / n
    pe = model_yes * human_yes + (1 - model_yes) * (1 - human_yes)
    return None if pe >= 1 else (po - pe) / (1 - pe)


def agreement_table(results: list[dict[str, Any]], model_verdicts: dict[str, list[dict[str, Any]]],
                    human_verdicts: list[dict[str, Any]], categories: list[str] | None = None) -> list[dict[str, Any]]:
    """Per model judge, protocol, category (and All) and layer (and "all"): the confusion counts of the
    judge's image decision against each scored human answer, with Cohen's kappa. Every image counts,
    controls included (they are images both were asked about)."""
    info = {r["key"]: r for r in results}
    order = _category_order(results, categories)
    rows: list[dict[str, Any]] = []
    for judge, verdicts in model_verdicts.items():
        model = per_image(verdicts)
        counts: dict[tuple[str, str, Any], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for h in human_verdicts:
            agg, r = model.get((h["key"], h["protocol"])), info.get(h["key"])
            if h["score"] is None or agg is None or not agg["n"] or r is None:
                continue
            m_yes, h_yes = agg["k"] / agg["n"] > 0.5, bool(h["score"])
            cell = 0 if m_yes and h_yes else 1 if m_yes else 2 if h_yes else 3
            for category in (r["category"], ALL):
                for layer in (r["layer"], "all"):
                    counts[(h["protocol"], category, layer)][cell] += 1
        for (protocol, category, layer), (both, m_only, h_only, neither) in counts.items():
            n = both + m_only + h_only + neither
            rows.append({"judge": judge, "protocol": protocol, "category": category, "layer": layer, "n": n,
                         "both_yes": both, "judge_only": m_only, "humans_only": h_only, "neither": neither,
                         "agreement": (both + neither) / n, "kappa": cohen_kappa(both, m_only, h_only, neither)})
    return sorted(rows, key=lambda r: (r["judge"], (r["protocol"] != "stringent", r["protocol"]),
                                       order.get(r["category"], 10**6), (r["layer"] == "all", r["layer"] if r["layer"] != "all" else 0)))


def disagreements(results: list[dict[str, Any]], model_verdicts: dict[str, list[dict[str, Any]]],
                  human_verdicts: list[dict[str, Any]], top: int = 8) -> list[dict[str, Any]]:
    """Per model judge and protocol, the ``top`` images where the judge's yes-rate and the humans'
    differ most (ties: more human answers first), with every human answer about them."""
    info = {r["key"]: r for r in results}
    humans = per_image(human_verdicts)
    answers: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for h in human_verdicts:
        answers[(h["key"], h["protocol"])].append(
            {"annotator": str(h["judge"]).split(":", 1)[-1], "answer": h.get("answer"), "score": h["score"]})
    out: list[dict[str, Any]] = []
    for judge, verdicts in model_verdicts.items():
        model = per_image(verdicts)
        by_protocol: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for (key, protocol), h in humans.items():
            m = model.get((key, protocol))
            if m is None or not m["n"] or not h["n"] or key not in info:
                continue
            gap = abs(m["k"] / m["n"] - h["k"] / h["n"])
            r = info[key]
            by_protocol[protocol].append({
                "judge": judge, "protocol": protocol, "key": key, "kind": r["kind"], "concept": r["concept"],
                "source": r["source"], "category": r["category"], "layer": r["layer"], "seed": r["seed"],
                "image_path": r["image_path"], "judge_k": m["k"], "judge_n": m["n"], "humans_k": h["k"],
                "humans_n": h["n"], "gap": gap,
                "answers": sorted(answers[(key, protocol)], key=lambda a: a["annotator"])})
        for protocol in sorted(by_protocol, key=lambda p: (p != "stringent", p)):
            ranked = sorted(by_protocol[protocol], key=lambda d: (-d["gap"], -d["humans_n"], d["key"]))
            out += [d for d in ranked[:top] if d["gap"] > 0]
    return out
