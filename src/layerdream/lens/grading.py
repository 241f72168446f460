"""Automatic grading of lens readouts where the image's content is known (the toy world, labelled
folders, a sweep RUN's concept images): a readout is *interpretable* when one of its top-k candidates
is one of the image's concept words or their synonyms (LatentLens's pass@k, with the judge replaced
by an exact match, which the toy world allows).

Every rate comes with its null: the same readouts graded against *mismatched* labels (for each of
the image's concepts, another concept of the same category, drawn with a fixed seed). A 90-word toy
vocabulary puts a concept word into a random top-5 often, so the rate alone says little; the gap
to the mismatched rate is the evidence.
"""
from __future__ import annotations

import random
import re
import unicodedata
from typing import Iterable, Sequence

STOP = {"a", "an", "the", "of", "in", "on", "and", "is", "to", "with"}
_EDGE = re.compile(r"^[\W_]+|[\W_]+$", re.UNICODE)


def normalise(text: str) -> str:
    """Lower case, tokenizer word markers (▁, Ġ) and surrounding punctuation removed."""
    text = unicodedata.normalize("NFKC", text).replace("\u2581", " ").replace("\u0120", " ").strip().lower()
    return _EDGE.sub("", text)


def accepted_words(concept: str, synonyms: Iterable[str] = ()) -> set[str]:
    """The words that count as naming ``concept``: itself, its synonyms, and for a phrase its content
    words ("T-rex" -> t-rex, rex; "spring (season)" -> spring; "new york" -> new york, york, new)."""
    out: set[str] = set()
    for name in (concept, *synonyms):
        name = re.sub(r"\s*\(.*?\)\s*", " ", name).strip()  # "spring (season)" -> "spring"
        whole = normalise(name)
        if whole:
            out.add(whole)
        for part in re.split(r"[\s\-]+", name):
            part = normalise(part)
            if len(part) >= 3 and part not in STOP:
                out.add(part)
    return out


class Grader:
    """Grades candidates against an image's concepts; ``synonyms`` maps a concept to its synonyms."""

    def __init__(self, categories: dict[str, str], synonyms: dict[str, Sequence[str]] | None = None):
        self.categories = categories
        self.synonyms = synonyms or {}
        self.words = {c: accepted_words(c, self.synonyms.get(c, ())) for c in categories}

    def hits(self, candidates: Sequence[str], concepts: Iterable[str]) -> set[str]:
        """The image concepts named by at least one candidate."""
        cands = {normalise(c) for c in candidates}
        return {c for c in concepts if self.words.get(c, accepted_words(c)) & cands}

    def mismatched(self, labels: Sequence[set[str]], seed: int = 0) -> list[set[str]]:
        """For each image, its labels with every concept replaced by another of the same category (the
        null); a category with one concept has no substitute and is dropped from the null."""
        by_cat: dict[str, list[str]] = {}
        for c, cat in self.categories.items():
            by_cat.setdefault(cat, []).append(c)
        rng = random.Random(seed)
        out = []
        for lab in labels:
            swapped = set()
            for c in sorted(lab):
                others = [o for o in by_cat.get(self.categories.get(c, ""), []) if o not in lab]
                if others:
                    swapped.add(rng.choice(others))
            out.append(swapped)
        return out


def toy_grader() -> Grader:
    from ..toyworld.world import CATEGORIES

    return Grader({c: cat for cat, names in CATEGORIES.items() for c in names})
