"""The ``clip`` judge: zero-shot CLIP/SigLIP through transformers' own classes (no open_clip, which
drags in a different torch). The "answer" is the best-matching candidate concept; score 1 iff the
target concept ranks first among the candidates (normally all concepts of the sweep, so chance is
1/len(candidates)). Deterministic, so asked once per image and protocol.

Protocols: stringent ranks against all candidates; lenient ranks only against candidates of the
item's own category when the item says which those are (``candidate_categories``), the analogue of
the category hint; without that mapping, or when the concept is alone in its category, both protocols
are the same ranking.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

from ..errors import UserError
from .types import Answer, Judge, JudgeItem, Query

CLIP_PROMPT_VERSION = "clip-rank-v1"
DEFAULT_TEMPLATE = "an image of {}"


def _features(out: Any) -> Any:
    """transformers 5 returns a ModelOutput (projected features in pooler_output); older, a tensor."""
    return out if hasattr(out, "norm") else out.pooler_output


class ClipJudge(Judge):
    deterministic = True
    prompt_version = CLIP_PROMPT_VERSION
    grader = None

    def __init__(self, model: str = "openai/clip-vit-base-patch32", device: str | None = None,
                 template: str = DEFAULT_TEMPLATE, batch_size: int = 32) -> None:
        import torch
        from transformers import AutoModel, AutoProcessor

        if "{}" not in template:
            raise UserError(f"--clip-template must contain '{{}}' where the concept goes, got {template!r}")
        try:
            self.model = AutoModel.from_pretrained(model)
            self.processor = AutoProcessor.from_pretrained(model)
        except (OSError, ValueError) as err:
            raise UserError(f"cannot load CLIP/SigLIP model {model!r} ({str(err).splitlines()[0]}); pass a local folder or hub id with --judge-model") from None
        if not hasattr(self.model, "get_text_features") or not hasattr(self.model, "get_image_features"):
            raise UserError(f"{model!r} is not a CLIP-style dual encoder ({type(self.model).__name__}); use a CLIP or SigLIP model")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        self.template = template
        self.batch_size = batch_size
        self.siglip = "siglip" in str(getattr(self.model.config, "model_type", ""))
        self.id = f"clip:{model}"
        self._text_cache: dict[str, Any] = {}

    def candidates(self, item: JudgeItem, protocol: str) -> list[str]:
        cands = list(dict.fromkeys([*item.candidates, item.concept]))
        if protocol == "lenient" and item.candidate_categories:
            cat = item.candidate_categories.get(item.concept, item.category)
            same = [c for c in cands if c == item.concept or item.candidate_categories.get(c) == cat]
            if len(same) >= 2:  # alone in its category: a trivial rank 1 would fake recognition
                cands = same
        return sorted(cands)

    def prompt(self, item: JudgeItem, protocol: str) -> str:
        cands = self.candidates(item, protocol)
        if len(cands) < 2:
            raise UserError(f"the clip judge needs other concepts to rank {item.concept!r} against; give the items candidates")
        digest = hashlib.sha256("\n".join(cands).encode()).hexdigest()[:12]
        return f"rank among {len(cands)} candidates (sha {digest}) with template {self.template!r}"

    def _text_features(self, concepts: Sequence[str]) -> Any:
        import torch

        missing = [c for c in concepts if c not in self._text_cache]
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start : start + self.batch_size]
            texts = [self.template.format(c) for c in chunk]
            padding = "max_length" if self.siglip else True
            inputs = self.processor(text=texts, padding=padding, truncation=True, return_tensors="pt").to(self.device)
            with torch.no_grad():
                feats = _features(self.model.get_text_features(**inputs)).float()
            feats = torch.nn.functional.normalize(feats, dim=-1).cpu()
            self._text_cache.update(zip(chunk, feats))
        return torch.stack([self._text_cache[c] for c in concepts])

    def _image_features(self, paths: Sequence[str]) -> Any:
        import torch
        from PIL import Image

        feats = []
        for start in range(0, len(paths), self.batch_size):
            images = []
            for p in paths[start : start + self.batch_size]:
                with Image.open(p) as img:
                    images.append(img.convert("RGB"))
            inputs = self.processor(images=images, return_tensors="pt").to(self.device)
            with torch.no_grad():
                f = _features(self.model.get_image_features(**inputs)).float()
            feats.append(torch.nn.functional.normalize(f, dim=-1).cpu())
        return torch.cat(feats)

    def answer(self, queries: Sequence[Query], progress: bool = False) -> list[Answer]:
        paths = list(dict.fromkeys(q.item.image_path for q in queries))
        if not paths:
            return []
        image_feats = dict(zip(paths, self._image_features(paths)))
        out = []
        for q in queries:
            cands = self.candidates(q.item, q.protocol)
            sims = self._text_features(cands) @ image_feats[q.item.image_path]
            target = sims[cands.index(q.item.concept)]
            # Ties count against the concept: a constant (broken) model must not score by sort order.
            rank = int((sims >= target).sum())
            best = cands[int(sims.argmax())]
            out.append(Answer(text=best, score=int(rank == 1), rank=rank))
        return out
