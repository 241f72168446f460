"""The ``toy`` judge: the toy world's independent classifier (a CNN trained on the world's own
renderings, never on anything the VLM saw), used to calibrate the pipeline without any API.

Interface it relies on (``layerdream.toyworld.judge.load_judge()``): ``.categories`` (category ->
concepts) and ``.predict(images (N,3,64,64) in [0,1]) -> list[dict category -> predicted concept]``.
The answer for a concept of category C is head C's prediction; score 1 iff it is the concept. The
classifier only answers per category, so both protocols ask the same question (the stringent/lenient
distinction is a property of language prompts; it does not exist for a per-category head).
"""
from __future__ import annotations

from typing import Any, Sequence

from ..errors import UserError
from .types import Answer, Judge, JudgeItem, Query

TOY_PROMPT_VERSION = "toy-head-v1"


class ToyJudge(Judge):
    deterministic = True
    prompt_version = TOY_PROMPT_VERSION
    grader = None

    def __init__(self, classifier: Any | None = None, model: str | None = None, batch_size: int = 64) -> None:
        """``classifier``: an object with the interface above (tests pass a double); else ``model``, a
        folder with judge.json + judge.safetensors, loaded by ``load_judge`` (None: the shipped one)."""
        label = model or ("shipped" if classifier is None else getattr(classifier, "name", type(classifier).__name__))
        if classifier is None:
            try:
                from ..toyworld.judge import load_judge
            except ImportError as err:
                raise UserError(f"the toy judge needs layerdream.toyworld.judge ({err}); update layerdream") from None
            classifier = load_judge(model)
        self.classifier = classifier
        self.batch_size = batch_size
        self.id = f"toy:{label}"
        self._category_of = {c: cat for cat, concepts in classifier.categories.items() for c in concepts}

    def category_of(self, item: JudgeItem) -> str:
        cat = self._category_of.get(item.concept)
        if cat is None:
            known = ", ".join(sorted(self._category_of))
            raise UserError(f"the toy judge knows no concept {item.concept!r}; toy concepts are: {known}")
        return cat

    def prompt(self, item: JudgeItem, protocol: str) -> str:
        return f"head:{self.category_of(item)}"

    def answer(self, queries: Sequence[Query], progress: bool = False) -> list[Answer]:
        import numpy as np
        import torch
        from PIL import Image

        size = int(getattr(self.classifier, "image_size", 64))
        out: list[Answer] = []
        for start in range(0, len(queries), self.batch_size):
            chunk = queries[start : start + self.batch_size]
            arrays = []
            for q in chunk:
                with Image.open(q.item.image_path) as img:
                    img = img.convert("RGB")
                    if img.size != (size, size):
                        img = img.resize((size, size), Image.BILINEAR)
                    arrays.append(np.asarray(img, dtype=np.float32) / 255.0)
            batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
            with torch.no_grad():
                preds = self.classifier.predict(batch)
            for q, pred in zip(chunk, preds):
                guess = pred.get(self.category_of(q.item))
                out.append(Answer(text=guess, score=int(guess == q.item.concept)))
        return out
