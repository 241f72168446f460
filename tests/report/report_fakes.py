"""A self-scoring fake judge (the evaluation package's Judge interface) for report tests: no model needed."""
from __future__ import annotations

import hashlib

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


class FakeResult:
    """What EngineExecute hands to Persist, minus the engine: a little deterministic image."""

    def __init__(self, job):
        import torch

        g = torch.Generator().manual_seed(int(hashlib.sha256(job.key.encode()).hexdigest()[:8], 16))
        self.label, self.layer, self.seed = job.label, job.layer, job.seed
        self.image = torch.rand(3, 16, 16, generator=g)
        self.cosine_initial, self.cosine_final, self.seconds = 0.0, float(torch.rand(1, generator=g)), 0.01
        self.trajectory, self.config = [], {"preset": "fake"}

    def to_pil(self):
        from PIL import Image

        return Image.fromarray((self.image.permute(1, 2, 0) * 255).byte().numpy())


def fake_execute(batch):
    return [(job, FakeResult(job)) for job in batch]
