"""The image-side representation of real images: what `align` and notebooks score."""
from __future__ import annotations

from typing import Any

import torch

from . import checks
from .errors import UserError
from .models import VLM
from .models.vlm import require_vlm
from .synthesis.objective import aggregate, centre

IMAGES = "images: a PIL image, a list of PIL images, or a float tensor (N,3,H,W) or (3,H,W) in [0,1] at vlm.image_size"


def as_pixels(vlm: VLM, images: Any) -> torch.Tensor:
    """``images`` as the (N, 3, S, S) float batch in [0, 1] that the model takes, or one UserError.

    PIL images are converted to RGB and resized as the family's processor resizes them
    (``FamilyAdapter.load_photo``, as ``layerdream align`` does). A tensor is taken as it is, so it must already be right: pixels 0-255, NaNs or
    another size are refused with what to do, never scored as if they were images."""
    size = vlm.image_size
    if _is_pil(images):
        images = [images]
    if isinstance(images, (list, tuple)) and images and all(_is_pil(i) for i in images):
        return torch.stack([vlm.adapter.load_photo(i) for i in images])
    if not isinstance(images, torch.Tensor):
        raise UserError(f"{IMAGES}; got {checks.describe(images)}")
    pixels = images.detach()
    if pixels.dim() == 3:
        pixels = pixels.unsqueeze(0)
    if pixels.dim() != 4 or pixels.shape[1] != 3:
        raise UserError(f"{IMAGES}; got a tensor of shape {tuple(images.shape)}")
    if not pixels.is_floating_point():
        raise UserError(f"images are {pixels.dtype} (0-255?); pass floats in [0,1]: images.float() / 255")
    if not torch.isfinite(pixels).all():
        raise UserError("images hold NaN or infinite values; pass pixels in [0,1]")
    low, high = float(pixels.min()), float(pixels.max())
    if low < -1e-6 or high > 1 + 1e-6:
        hint = " (0-255 pixels? divide by 255)" if high > 1.5 else ""
        raise UserError(f"images must be pixels in [0,1], these span {low:.3g}..{high:.3g}{hint}")
    if tuple(pixels.shape[-2:]) != (size, size):
        raise UserError(f"images are {pixels.shape[-2]}x{pixels.shape[-1]} px, {vlm.name} takes {size}x{size}; "
                        "resize them first, or pass PIL images (resized for you)")
    return pixels


def _is_pil(value: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:
        return False
    return isinstance(value, Image.Image)


def image_representation(vlm: VLM, images: Any, layer: int, targets: torch.Tensor | None = None,
                         aggregation: str = "mean", sigma: float | None = None, tau: float = 0.1,
                         per_position: bool = False) -> torch.Tensor:
    """r_ℓ(I) for real images: gray-centred, aggregated; (N, d) fp32, no grad.

    ``images``: PIL images (resized to ``vlm.image_size``) or a float tensor (N,3,H,W) / (3,H,W) in
    [0,1] at ``vlm.image_size``. ``aggregation="mean"`` needs no target; the paper's attention
    weighting ("paper"/"prior") needs the concept vector each image is scored against (``targets`` (N, d)).
    """
    require_vlm(vlm, "image_representation")
    vlm.check_layer(layer)
    checks.one_of(aggregation, "aggregation", ("mean", "paper", "prior"))
    if aggregation != "mean" and targets is None:
        raise UserError("attention aggregation needs target vectors; use aggregation='mean'")
    pixels = as_pixels(vlm, images).to(vlm.device)
    if targets is not None:
        targets = torch.as_tensor(targets, dtype=torch.float32)
        if targets.dim() == 1:
            targets = targets.expand(pixels.shape[0], -1)
        if tuple(targets.shape) != (pixels.shape[0], vlm.hidden_size):
            raise UserError(f"targets must be ({pixels.shape[0]}, {vlm.hidden_size}): one concept vector per image, "
                            f"got shape {tuple(targets.shape)}")
    with torch.no_grad():
        z = centre(vlm.image_tokens(pixels, layer), vlm.gray_reference(layer), per_position)
        tgt = targets.to(z.device) if targets is not None else None
        rep = aggregate(z, tgt, vlm.grid, sigma=sigma or max(vlm.grid), tau=tau, weighting=aggregation)
    return rep.cpu()
