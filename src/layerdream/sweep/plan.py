"""The job plan: every image a sweep makes, including its controls.

One job = one image = one (target, layer, seed). ``kind`` is

* ``concept``: the concept's own vector, judged against the concept;
* ``random``: a random unit direction, judged against a concept of one category (chance line: what
  the judge says about an image made from nothing in particular);
* ``shuffled``: the vector of *another* concept, judged against the original label (chance line that
  keeps "looks like some real concept" and removes only the match).

Controls are drawn per (seed, layer), so two seeds or two layers never share a random direction or a
shuffle, and the draw is deterministic, so a resumed run re-plans exactly the same jobs. Per layer
and seed there are ``controls_per_category`` random and shuffled jobs per category, which gives every
category x layer cell of the report its own chance line.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .conceptsets import ConceptSet

if TYPE_CHECKING:
    import torch

KINDS = ("concept", "random", "shuffled")
CONTROL_KINDS = ("random", "shuffled")
# Ablation arms: the concept again, made with one method option changed, judged against the concept and
# shown beside the main result (issue 19 item 4). Added to a RUN with --ablation (and --extend).
ARMS = {"weighting-mean": {"weighting": "mean"}, "weighting-noprior": {"weighting": "noprior"}}
ABLATIONS = {"weighting": ("weighting-mean", "weighting-noprior")}


def is_control(kind: str) -> bool:
    return kind in CONTROL_KINDS


def arms_for(ablations: object) -> list[str]:
    """``"weighting"`` (or a list of ablation names or arm kinds) -> the arm kinds, checked."""
    from ..errors import UserError

    if ablations is None or (not isinstance(ablations, str) and not ablations):
        return []
    if not isinstance(ablations, (str, list, tuple, set)):  # ablation=5 was a TypeError
        raise UserError(f"ablation must be a name such as 'weighting' (or a list of names), got {ablations!r}")
    items = [ablations] if isinstance(ablations, str) else list(ablations)
    out: list[str] = []
    for item in items:
        for name in str(item).split(","):
            name = name.strip()
            if name in ABLATIONS:
                out += ABLATIONS[name]
            elif name in ARMS:
                out.append(name)
            elif name:
                raise UserError(f"unknown ablation {name!r}; choose {', '.join(ABLATIONS)} (arms: {', '.join(ARMS)})")
    if not out:  # `--ablation ''` or ',' used to run the sweep without any arm, silently
        raise UserError(f"--ablation {','.join(map(str, items))!r} names no ablation; choose {', '.join(ABLATIONS)}")
    return sorted(set(out))


@dataclass(frozen=True)
class Job:
    """One image to make. ``concept`` is the label the judge must find; ``source`` is what made it."""

    kind: str
    concept: str
    category: str
    layer: int
    seed: int
    source: str  # concept kind: the concept; shuffled: the donor concept; random: "random#<i>"

    @property
    def key(self) -> str:
        """Unique and stable across runs: the store's primary key."""
        return f"{self.kind}|{self.concept}|{self.source}|L{self.layer}|s{self.seed}"

    @property
    def label(self) -> str:
        """The label handed to the engine (unique within a batch)."""
        if self.kind == "concept":
            return self.concept
        if self.kind in ARMS:
            return f"{self.kind}:{self.concept}"
        return f"{self.kind}:{self.source}->{self.concept}"


def _rng_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (Python's hash() is salted per process, so not that)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def random_direction(seed: int, layer: int, index: int, dim: int) -> "torch.Tensor":
    """Unit vector (dim,) fp32, a pure function of (seed, layer, index): differs across seeds and layers."""
    import torch  # not at import time: `layerdream --help` must not load torch

    gen = torch.Generator().manual_seed(_rng_seed("random-direction", seed, layer, index))
    v = torch.randn(dim, generator=gen, dtype=torch.float32)
    return v / v.norm()


DEFAULT_CONTROLS_PER_CATEGORY = 4  # per category, layer and seed: enough controls for a concept-vs-control test


def plan_jobs(
    concepts: ConceptSet,
    layers: list[int],
    seeds: list[int],
    controls: bool = True,
    controls_per_category: int = DEFAULT_CONTROLS_PER_CATEGORY,
    arms: list[str] | tuple[str, ...] = (),
) -> list[Job]:
    """All jobs, in the order they run: per layer, per seed, concepts first, then controls, then the
    ablation arms (each concept again with the arm's option)."""
    jobs: list[Job] = []
    for layer in layers:
        for seed in seeds:
            jobs += [Job("concept", c.name, c.category, layer, seed, c.name) for c in concepts.concepts]
            if controls:
                jobs += control_jobs(concepts, layer, seed, controls_per_category)
            for arm in arms:
                jobs += [Job(arm, c.name, c.category, layer, seed, c.name) for c in concepts.concepts]
    return jobs


def donors(concepts: ConceptSet, category: str) -> list[str]:
    """The concepts a shuffled control of ``category`` may take its vector from: those of other
    categories (a one-category set: the others of its own)."""
    names = [c.name for c in concepts.concepts]
    members = {c.name for c in concepts.in_category(category)}
    return [n for n in names if n not in members] or names


def shuffled_shortfall(concepts: ConceptSet, per_category: int) -> dict[str, int]:
    """Categories that cannot have ``per_category`` shuffled controls per layer and seed, with how many
    they get: a shuffled image *is* its donor's image, so each needs a donor of its own."""
    out = {}
    for cat in concepts.categories:
        pool = donors(concepts, cat)
        available = len(pool) - (1 if len(concepts.categories) == 1 else 0)  # one category: never the label itself
        if available < per_category:
            out[cat] = max(0, available)
    return out


def control_jobs(concepts: ConceptSet, layer: int, seed: int, per_category: int = 1) -> list[Job]:
    """Random and shuffled controls for one (layer, seed); labels and donors drawn from a (seed, layer) RNG.

    Every shuffled control of a category has its own donor (drawn without replacement): two with one
    donor would be the same image judged twice, which is no second control (and ``--controls-per-category
    1000`` used to give 294 shuffled controls for 4000 random ones without a word; now a category gets
    at most as many as it has donors, :func:`shuffled_shortfall`, and the sweep says so). The first draw
    of each category is the one earlier versions made, so RUNs made with one control per category plan
    the same jobs as before.
    """
    rng = random.Random(_rng_seed("controls", seed, layer))
    out: list[Job] = []
    index = 0
    for category in concepts.categories:
        members = [c.name for c in concepts.in_category(category)]
        for _ in range(per_category):
            label = rng.choice(members)
            out.append(Job("random", label, category, layer, seed, f"random#{index}"))
            index += 1
        left = donors(concepts, category)
        for _ in range(per_category):
            label = rng.choice(members)
            choices = [n for n in left if n != label]  # a one-category set: never the label itself
            if not choices:
                break
            donor = rng.choice(choices)
            left.remove(donor)
            out.append(Job("shuffled", label, category, layer, seed, donor))
    return out
