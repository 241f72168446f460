"""Cheap diagnostics of a toy VLM on held-out real images (recorded in each toyworld.json).

* caption accuracy: teacher-forced, does the model name the right concept in "a {c} {s} on {b} in {t}"?
  (it tells us the model reads the image at all);
* real-image alignment per layer: cosine between an image's gray-centred mean image-token state and
  the concept vectors (product definition); within-category argmax accuracy and own-concept cosine.
  Synthesis can only find what this alignment offers, so it predicts where the method can work.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import world
from .lm import _CAT_SLICES, CONCEPT_IDX, Rows, centred_image_reps, concept_targets, forward, image_features

PROBE_SEED = 424_242


@torch.no_grad()
def probe(model, rows: Rows, n: int = 200, seed: int = PROBE_SEED) -> dict:
    model.eval()
    images, factors, _ = world.sample(n, seed)
    caps = rows.encode([world.caption(f, 0) for f in factors])
    b = rows.batch(caps + [[]], [])
    b["img_pos"] = rows.img_pos
    gray = torch.full((1, 3, world.IMAGE_SIZE, world.IMAGE_SIZE), 0.5)
    logits, hs = forward(model, b, image_features(model, torch.cat([images, gray])))
    labels = b["labels"][:n]
    pred = logits[:n].argmax(-1)
    caption_acc = {}
    for cat in world.CATEGORIES:
        hits = []
        for i, f in enumerate(factors):
            tid = rows.encode([f[cat]])[0][0]
            t = (labels[i] == tid).nonzero()[0].item()
            hits.append(float(pred[i, t - 1].item() == tid))
        caption_acc[cat] = round(sum(hits) / n, 3)
    layers = list(range(1, model.config.get_text_config().num_hidden_layers + 1))
    V = concept_targets(model, rows, layers)
    alignment = {}
    for layer in layers:
        z = F.normalize(centred_image_reps(hs, rows.img_pos, n, n, layer), dim=-1)
        cos = z @ V[layer].T
        acc, own = {}, {}
        for cat, sl in _CAT_SLICES.items():
            y = torch.tensor([CONCEPT_IDX[f[cat]] for f in factors])
            acc[cat] = round((cos[:, sl].argmax(-1) + sl.start == y).float().mean().item(), 3)
            own[cat] = round(cos[torch.arange(n), y].mean().item(), 3)
        alignment[str(layer)] = {"within_category_argmax": acc, "own_concept_cosine": own}
    return {"n": n, "seed": seed, "caption_accuracy": caption_acc, "real_image_alignment": alignment}
