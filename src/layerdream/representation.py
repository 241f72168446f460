"""The image-side representation of real images: what `align` and notebooks score."""
from __future__ import annotations

import torch

from .errors import UserError
from .models import VLM
from .synthesis.objective import aggregate, centre


def image_representation(vlm: VLM, images: torch.Tensor, layer: int, targets: torch.Tensor | None = None,
                         aggregation: str = "mean", sigma: float | None = None, tau: float = 0.1,
                         per_position: bool = False) -> torch.Tensor:
    """r_ℓ(I) for real images (N,3,H,W) in [0,1]: gray-centred, aggregated; (N, d) fp32, no grad.

    ``aggregation="mean"`` needs no target; the paper's attention weighting ("paper"/"prior") needs the
    concept vector each image is scored against (``targets`` (N, d)).
    """
    vlm.check_layer(layer)
    with torch.no_grad():
        z = centre(vlm.image_tokens(images, layer), vlm.gray_reference(layer), per_position)
        if aggregation != "mean" and targets is None:
            raise UserError("attention aggregation needs target vectors; use aggregation='mean'")
        tgt = targets.to(z.device) if targets is not None else None
        rep = aggregate(z, tgt, vlm.grid, sigma=sigma or max(vlm.grid), tau=tau, weighting=aggregation)
    return rep.cpu()
