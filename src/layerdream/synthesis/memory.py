"""Memory as a planned quantity: what one augmented copy costs, and how a batch is cut to fit.

At the paper's setting one 896-px copy through SigLIP-So400m keeps ~0.1 GiB per vision layer for
backward (bf16), ~3 GiB over 27 layers: one concept's K = 8 copies is ~25 GiB, so "8 concepts per
forward" cannot fit any card. Rather than find out by crashing, the loop asks :func:`plan` how many
concepts go through one forward and how many of the K copies go through one micro-batch (gradients
are accumulated over micro-batches: the same image as one big batch, up to float summation order).

The model of saved activations counts what autograd keeps when the weights are frozen (a linear
layer then saves nothing of its input; only nonlinearities, norms and attention keep tensors), per
token, from the config:

* vision block (pre-norm ViT, fused SDPA): the block input for LayerNorm 1, q, k, v, the attention
  output, the LayerNorm 2 input, the MLP's pre-activation -> (6·D + I) elements + fp32 norm stats and
  the attention's log-sum-exp; with ``checkpoint_vision`` only the block input (D) stays;
* language block (Gemma-style, up to ℓ): four RMSNorms that upcast to fp32, q/k norms, q, k, v,
  attention output (+ probabilities, T² per head, when attention is not fused), gated MLP (3·I);
* per concept (not per copy): the multi-resolution parameters with gradient and momentum, the image
  and its upscaled canvas.
:func:`measure_saved_bytes` counts the real thing with autograd's saved-tensor hooks; tests hold the
model to within 25 % of it.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from ..errors import UserError
from ..models.adapter import VisionDims, vision_dims_from_config

GiB = 1024**3
_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 2**10, "m": 1e6, "mb": 1e6, "mib": 2**20,
          "g": 1e9, "gb": 1e9, "gib": 2**30, "t": 1e12, "tb": 1e12, "tib": 2**40}


def parse_bytes(text: str | int | float | None) -> int | None:
    """'40GiB', '40GB', '40g', '512MiB', '1e9' -> bytes (None stays None)."""
    if isinstance(text, bool):
        raise UserError(f"--max-memory {text!r} is not a size; write it like 40GiB, 40GB or 512MiB")
    if text is None or isinstance(text, (int, float)):
        return None if text is None else int(text)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match and match.group(2).lower()
    if not match or unit not in _UNITS or float(match.group(1)) <= 0:
        raise UserError(f"--max-memory {text!r} is not a size; write it like 40GiB, 40GB or 512MiB")
    return int(float(match.group(1)) * _UNITS[unit])


def default_budget(device: torch.device) -> int:
    """Free memory of the device (90 %), or half of the RAM still available on a CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.9)
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        available = int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    return int(available * 0.5)


@dataclass
class CopyCost:
    """Bytes kept for backward by one augmented copy, by part, at one layer."""

    vision: int
    language: int
    other: int
    transient: int  # working set of the largest block while it runs (not saved, but needed at the peak)

    @property
    def saved(self) -> int:
        return self.vision + self.language + self.other

    @property
    def total(self) -> int:
        return self.saved + self.transient


def _element_size(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def copy_cost(config, layer: int, image_size: int, canvas: int, prompt_length: int, dtype: torch.dtype,
              checkpoint_vision: bool = False, fused_attention: bool = True, vision: VisionDims | None = None) -> CopyCost:
    """Saved-for-backward bytes of one copy at ``layer`` (see the module docstring for the terms).

    ``vision`` (the adapter's :meth:`vision_dims`) defaults to reading a ViT-style ``vision_config``."""
    a = _element_size(dtype)
    dims = vision or vision_dims_from_config(config.vision_config, image_size)
    d_v, i_v, heads_v, n = dims.width, dims.mlp, dims.heads, dims.tokens
    block = n * ((6 * d_v + i_v) * a + 4 * 4 + heads_v * 4)
    kept = n * d_v * a if checkpoint_vision else block
    vision_bytes = dims.layers * kept + 3 * image_size**2 * a + n * d_v * a  # + the conv's input, the post-norm
    tc = config.get_text_config()
    d, heads = tc.hidden_size, tc.num_attention_heads
    i_t = getattr(tc, "intermediate_size", None) or getattr(tc, "ffn_dim", None) or 4 * d  # OPT (BLIP-2): ffn_dim
    kv = getattr(tc, "num_key_value_heads", heads) or heads
    hd = getattr(tc, "head_dim", None) or d // heads
    t = prompt_length
    per_token = 4 * d * 4 + (heads + kv) * hd * 4 + 4 * heads * hd * a + heads * 4 + 3 * i_t * a
    probs = 0 if fused_attention else heads * t * t * a
    language = layer * (t * per_token + probs)
    tokens = getattr(config, "mm_tokens_per_image", None) or n
    other = 3 * canvas**2 * 4 + 3 * tokens * d * 4  # the shifted crop; centring, weights and cosine in fp32
    # the largest op's working set; with checkpointing, one block is live again during its recompute
    transient = 2 * n * max(i_v, 3 * d_v) * a + (block if checkpoint_vision else 0)
    return CopyCost(vision=int(vision_bytes), language=int(language), other=int(other), transient=int(transient))


def concept_bytes(cfg) -> int:
    """Per concept, whatever K: θ for every resolution with its gradient and momentum, the image and
    the canvas upscaled for the shifts."""
    params = 3 * sum(r * r for r in cfg.resolutions) * 4 * 3
    return int(params + 3 * cfg.canvas**2 * 4 * 2 + 3 * (cfg.canvas + 2 * cfg.max_shift) ** 2 * 4 * 2)


def draw_bytes(cfg) -> int:
    """Per step, shared by every target of the batch and held whatever the micro-batches: the K copies'
    drawn noise (K x 3 x canvas² fp32) and shifts. Small at K = 8; at ``--copies 100000`` on a 64-px
    canvas it is 4.6 GiB, which the per-copy terms never saw (that run went 3 GiB over its budget)."""
    noise = 3 * cfg.canvas**2 * 4 if cfg.noise > 0 else 0
    return int(cfg.copies * (noise + 2 * 8))


@dataclass
class Plan:
    """How B targets × K copies are cut: ``concepts_per_forward`` targets share a forward, each
    forward carries ``copies_per_micro_batch`` of each target's K copies (gradients accumulate)."""

    concepts_per_forward: int
    copies_per_micro_batch: int
    checkpoint_vision: bool
    bytes_per_copy: int
    bytes_per_concept: int
    budget_bytes: int
    bytes_per_step: int = 0  # the step's drawn augmentations (draw_bytes), shared by the batch

    def predicted_bytes(self) -> int:
        return self.bytes_per_step + self.concepts_per_forward * (self.bytes_per_concept
                                                                 + self.copies_per_micro_batch * self.bytes_per_copy)

    def to_dict(self) -> dict:
        return asdict(self) | {"predicted_bytes": self.predicted_bytes()}


def _fit(budget: int, per_concept: int, per_copy: int, copies: int, n_targets: int, cap: int | None) -> tuple[int, int]:
    """(concepts per forward, copies per micro-batch) under ``budget``; (0, 0) if one copy cannot fit."""
    whole = per_concept + copies * per_copy
    if budget >= whole:
        b = min(n_targets, budget // whole, cap or n_targets)
        return max(1, int(b)), copies
    m = (budget - per_concept) // per_copy
    return (1, int(m)) if m >= 1 else (0, 0)


def plan(vlm, cfg, layer: int, n_targets: int, budget_bytes: int | None = None, batch_size: int | None = None,
         checkpoint_vision: bool | str = "auto") -> Plan:
    """The largest batch that fits the budget (default: :func:`default_budget` of the model's device).

    ``batch_size`` caps concepts per forward. ``checkpoint_vision="auto"`` turns checkpointing on only
    when not even one copy fits without it: where one copy fits, accumulating over small micro-batches
    costs less than recomputing the tower (~+50 % of its compute).
    """
    budget = budget_bytes if budget_bytes is not None else default_budget(vlm.device)
    prompt = vlm.image_prompt(cfg.prompt_format)["input_ids"].shape[1]
    fused = vlm.device.type == "cuda"  # CPU attention with a mask keeps its probabilities; count them (small at T~300)

    dims = vlm.adapter.vision_dims()

    def cost(ckpt: bool) -> int:
        return copy_cost(vlm.model.config, layer, vlm.image_size, cfg.canvas, prompt, vlm.dtype, ckpt, fused, dims).total

    per_concept = concept_bytes(cfg)
    draws = draw_bytes(cfg)
    options = [False, True] if checkpoint_vision == "auto" else [bool(checkpoint_vision)]
    if draws + per_concept + cost(options[-1]) > budget and draws > per_concept + cost(options[-1]):
        # the copies themselves are the problem: say so (raising the budget or checkpointing would not be the fix)
        raise UserError(f"--copies {cfg.copies} needs {draws / GiB:.2f} GiB per step for the copies' noise and shifts alone, "
                        f"and the memory budget is {budget / GiB:.2f} GiB; use fewer --copies (the paper uses 8) "
                        "or raise --max-memory")
    for ckpt in options:
        b, m = _fit(budget - draws, per_concept, cost(ckpt), cfg.copies, n_targets, batch_size)
        if m:
            return Plan(b, m, ckpt, cost(ckpt), per_concept, budget, draws)
    need = draws + per_concept + cost(options[-1])
    raise UserError(f"one augmented copy needs about {need / GiB:.2f} GiB but the memory budget is {budget / GiB:.2f} GiB; "
                    "raise --max-memory, free the device, use --checkpoint-vision or a smaller --dtype")


def measure_saved_bytes(fn: Callable[[], torch.Tensor], exclude: list[torch.Tensor] | None = None) -> int:
    """Bytes of distinct storages autograd saves for backward while ``fn()`` runs (parameters excluded)."""
    skip = {t.untyped_storage().data_ptr() for t in (exclude or [])}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in skip:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return int(sum(seen.values()))


def gib(n: int | float) -> float:
    return round(n / GiB, 2)


__all__ = ["plan", "Plan", "copy_cost", "concept_bytes", "draw_bytes", "parse_bytes", "default_budget", "measure_saved_bytes",
           "CopyCost", "GiB", "gib"]
