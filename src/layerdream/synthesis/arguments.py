"""The arguments of :func:`~layerdream.synthesis.loop.synthesize`, checked once on entry.

Every problem a user can fix is one UserError before any compute (a wrong type from Python, a
duplicate, a contradiction), and the CLI, which calls the same function, gets the same lines. What is
only redundant is made once and said: ``synthesize red red`` is one image, not the same one twice.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from .. import checks
from ..errors import UserError
from ..io import is_blank
from ..models.vlm import require_vlm

_log = logging.getLogger("layerdream")


def unique(values: list, what: str) -> list:
    """``values`` without repeats (first occurrence kept, order kept); a note names what was dropped."""
    kept = list(dict.fromkeys(values))
    if len(kept) < len(values):
        twice = [v for v in kept if values.count(v) > 1]
        _log.warning(f"{what} {', '.join(map(repr, twice))} given more than once: made once")
    return kept


def concepts_of(concepts: Any) -> list[str]:
    """A concept or a list of them, stripped (None: none, as with ``()``)."""
    values = checks.texts(concepts, "concepts")
    return [c.strip() for c in values] if not isinstance(concepts, str) else values


def negatives_of(negatives: Mapping[str, float] | Any, concepts: list[str]) -> dict[str, float]:
    """{concept: weight}: a list means weight 0.3 each (DAS's negative-prompt weight).

    A negative that is also a concept being synthesised is refused: that image would be pushed toward
    and away from the same vector (the objective only rescales), which is never what was meant."""
    if negatives is None:
        return {}
    if isinstance(negatives, Mapping):
        out = {checks.text(k, "negatives").strip(): checks.real_number(w, f"negative weight of {k!r}")
               for k, w in negatives.items()}
    else:
        out = dict.fromkeys((n.strip() for n in checks.texts(negatives, "negatives")), 0.3)
    if any(not n for n in out):
        raise UserError("empty negative concept; give a word such as 'text'")
    both = [n for n in out if n in concepts]
    if both:
        raise UserError(f"negative {both[0]!r} is also a concept to synthesise: its image would be pushed toward and "
                        f"away from the same vector; drop --negative {both[0]} or synthesise {both[0]!r} separately")
    return out


def check(vlm: Any, concepts: Any, layers: Any, seeds: Any, steps: Any, batch_size: Any,
          negatives: Any) -> tuple[list[str], list[int], list[int], dict[str, float]]:
    """(concepts, layers, seeds, negatives) as synthesize uses them, or one UserError."""
    require_vlm(vlm, "synthesize")
    concepts = concepts_of(concepts)
    if any(is_blank(c) for c in concepts):  # '', '   ' and invisible-only text such as a zero-width space
        raise UserError("empty concept; give a word or phrase such as 'dog'")
    concepts = unique(concepts, "concept")
    layers = unique(checks.whole_numbers(layers, "layers"), "layer")
    seeds = unique(checks.whole_numbers(seeds, "seeds"), "seed")
    checks.optional_whole_number(steps, "steps")  # its range: presets.validate, in the words of --steps
    if batch_size is not None and not checks.is_whole(batch_size):
        raise UserError(f"batch_size must be a whole number of concepts per forward, got {checks.describe(batch_size)}")
    return concepts, layers, seeds, negatives_of(negatives, concepts)


__all__ = ["check", "unique", "concepts_of", "negatives_of"]
