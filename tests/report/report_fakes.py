"""A self-scoring fake judge (the evaluation package's Judge interface) for report tests: no model needed."""
from __future__ import annotations

import hashlib

from fake_results import FakeResult as _FakeResult  # tests/ is on sys.path (tests/conftest.py's folder)

from layerdream.evaluation import Answer, Judge, recognition_prompt

CONCEPTS = "categories:\n  Animals: [dog, {name: T-rex, synonyms: [tyrannosaurus]}, cat]\n  Seasons: [spring (season), winter]\n"


class FakeJudge(Judge):
    """Says yes with a probability that depends on kind and layer, deterministically per query."""

    id = "fake-judge"
    deterministic = False
    prompt_version = "fake-v1"
    grader = None

    def prompt(self, item, protocol):
        return recognition_prompt(protocol, item.category)

    def answer(self, queries, progress=False):
        out = []
        for q in queries:
            h = int(hashlib.sha256(f"{q.item.key}|{q.protocol}|{q.query_index}".encode()).hexdigest()[:8], 16) / 2**32
            p = 0.7 if q.item.key.startswith("concept|") else 0.15
            p *= 1.0 if q.protocol == "lenient" else 0.6
            yes = h < p
            out.append(Answer(text=q.item.concept if yes else "nothing", score=int(yes)))
        return out


FakeResult = _FakeResult  # tests/fake_results.py: the suite's one fake result


def fake_execute(batch):
    return [(job, FakeResult(job)) for job in batch]
