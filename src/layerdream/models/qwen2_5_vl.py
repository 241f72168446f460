"""Qwen2.5-VL (``Qwen2_5_VLForConditionalGeneration``): only what differs from the default adapter.

Each trap, and what this file does about it:

* **Native resolution.** The processor resizes every image to a size of its own choosing
  (``smart_resize``: sides a multiple of patch x merge = 28 px, pixel count within the checkpoint's
  ``min_pixels``/``max_pixels``), so the token count follows the image. The optimiser needs one fixed
  geometry, so layerdream fixes a square of ``TOKENS_PER_SIDE`` x ``TOKENS_PER_SIDE`` = 16 x 16 = 256
  image tokens (as many as Gemma 3 and one InternVL tile): 448 px for patch 14 / merge 2, moved to the
  nearest side inside the checkpoint's pixel bounds. At that size ``smart_resize`` is the identity,
  so our pixels equal the processor's.
* **Flattened ``pixel_values``.** The processor returns (N·h·w, 3·T·p·p) patches in 2x2 merge-window
  order, the still image repeated over the temporal patch (T = 2). :meth:`preprocess` does the same
  reshape, permute and expand in torch, so gradients reach the image; ``image_grid_thw`` = (1, h, w)
  per image tells the ViT (windowed attention, per image) where one image ends.
* **Token order.** The merger concatenates each 2x2 window of patches, and windows come row-major,
  so the image tokens form a (h/2, w/2) grid in sequence order: :attr:`grid`.
* **3-D M-RoPE.** Image tokens take (t, h, w) positions. The model builds them only when it is given
  ``mm_token_type_ids`` and ``image_grid_thw``; otherwise it silently uses 1-D positions (the layer-1
  states change). We build the positions ourselves, once per prompt, with the model's own pure
  ``get_rope_index``, and pass ``position_ids`` on every call.
* **Stale ``rope_deltas``.** Whenever the model builds positions itself it caches ``rope_deltas`` on
  the module, and the paths that cannot build them (a call by ``inputs_embeds`` without ``input_ids``,
  a generation step) add that cached value instead. A value left there by ``generate()`` or by our
  batch of 8 copies is stale for whatever call comes next: a later batch-1 call by embeddings gets
  wrong positions (or a shape error). Because every image call here passes ``position_ids``, the
  model's position code never runs: it neither reads ``rope_deltas`` nor writes it, so a stale value
  cannot reach our states and our calls leave the user's model as they found it (tested). Text
  calls need nothing: with ``input_ids`` and no image the model uses plain 1-D positions.
* **Two templates.** Hub repos keep the processor's (multimodal) template in the legacy
  ``chat_template.json`` and the tokenizer may carry its own, e.g. the base Qwen2.5 LLM's with another
  default system turn; concept prompts would then differ from the image prompt. The tokenizer gets
  the processor's template (``processors.share_chat_template``).
* **Memory.** The ViT keeps more per token than the memory model's generic ViT block (gated MLP,
  q and k rotated in fp32): :meth:`vision_dims` widens that term to what autograd was measured to
  keep, so the planner does not put 1.6x too many copies on a card.
"""
from __future__ import annotations

import dataclasses

import torch

from .adapter import FamilyAdapter, VisionDims
from .processors import share_chat_template

#: side of the fixed square token grid; 16 x 16 = 256 tokens, within the checkpoint's pixel bounds
TOKENS_PER_SIDE = 16


def fixed_side(unit: int, min_pixels: int | None, max_pixels: int | None, tokens_per_side: int = TOKENS_PER_SIDE) -> int:
    """Tokens per side of the square layerdream fixes: ``tokens_per_side``, moved inside the bounds.

    ``unit`` is the pixels per token side (patch x merge). The result is the largest side <= the
    preferred one whose area fits ``max_pixels``, raised until its area reaches ``min_pixels``, so
    ``smart_resize`` leaves a square of ``side * unit`` pixels exactly as it is.
    """
    side = max(1, tokens_per_side)
    if max_pixels:
        while side > 1 and (side * unit) ** 2 > max_pixels:
            side -= 1
    if min_pixels:
        while (side * unit) ** 2 < min_pixels:
            side += 1
    return side


def row_major_patches(adapter: "Qwen2_5_VLAdapter", images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised patches row-major over the whole image, (N * gh * gw, C * T, p, p), with ``image_grid_thw``.

    For the Qwen-derived towers whose merger folds neighbouring patches itself (a stride-2 convolution,
    a 2 x 2 projector) and so needs them in place, not in Qwen's 2 x 2 merge windows (HunYuan-VL,
    PaddleOCR-VL); each patch is repeated over the temporal axis as the processor does for one image."""
    x = FamilyAdapter.preprocess(adapter, images)["pixel_values"]
    n, c, h, w = x.shape
    p, t = adapter.patch, adapter.temporal
    gh, gw = h // p, w // p
    x = x.reshape(n, c, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5)  # n, gh, gw, c, ph, pw
    x = x.unsqueeze(4).expand(n, gh, gw, c, t, p, p)
    grid_thw = torch.tensor([[1, gh, gw]], dtype=torch.long, device=x.device).expand(n, 3)
    return x.reshape(n * gh * gw, c * t, p, p), grid_thw


class Qwen2_5_VLAdapter(FamilyAdapter):
    model_types = ("qwen2_5_vl",)
    #: the mask dict is built inside the text model, past the point where VLM could capture it
    reusable_masks = False
    #: what one ViT block keeps for backward per token, as (MLP, width) multiples: measured with
    #: autograd's saved-tensor hooks in bf16, ~3 I + 10 D here (gated SiLU MLP: gate, up and their
    #: product; q and k rotated in fp32) where the memory model's ViT block assumes I + 6 D
    vision_block_terms: tuple[int, int] = (3, 10)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        share_chat_template(processor)  # concept prompts use the template the image prompt uses
        ip = processor.image_processor
        vision = model.config.vision_config
        self.patch = int(getattr(ip, "patch_size", None) or vision.patch_size)
        self.merge = int(getattr(ip, "merge_size", None) or vision.spatial_merge_size)
        self.temporal = int(getattr(ip, "temporal_patch_size", None) or vision.temporal_patch_size)
        size = ip.size
        get = size.get if hasattr(size, "get") else lambda key: getattr(size, key, None)
        min_pixels = get("shortest_edge") or getattr(ip, "min_pixels", None)
        max_pixels = get("longest_edge") or getattr(ip, "max_pixels", None)
        self.side = fixed_side(self.patch * self.merge, min_pixels, max_pixels)
        self.image_size = self.side * self.patch * self.merge

    @property
    def grid(self) -> tuple[int, int]:
        return self.side, self.side

    def vision_dims(self) -> VisionDims:
        """The tower's shape for the memory model, its MLP term widened to what this tower really keeps
        (the model counts ``6 * width + mlp`` per token and block; see ``vision_block_terms``)."""
        dims = super().vision_dims()
        mlp_factor, width_factor = self.vision_block_terms
        return dataclasses.replace(dims, mlp=mlp_factor * dims.mlp + (width_factor - 6) * dims.width)

    def image_placeholder(self) -> str:
        # the template's image block; the processor expands the pad token into the image tokens
        start = getattr(self.processor, "vision_start_token", None) or "<|vision_start|>"
        end = getattr(self.processor, "vision_end_token", None) or "<|vision_end|>"
        return start + self.processor.image_token + end

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Resize (only if needed) and normalise as the default, then patchify like the processor."""
        x = super().preprocess(images)["pixel_values"]
        n, c, h, w = x.shape
        p, m, t = self.patch, self.merge, self.temporal
        gh, gw = h // p, w // p
        x = x.reshape(n, c, gh // m, m, p, gw // m, m, p).permute(0, 2, 5, 3, 6, 1, 4, 7)  # n, H, W, mh, mw, c, ph, pw
        x = x.unsqueeze(6).expand(n, gh // m, gw // m, m, m, c, t, p, p)  # a still image repeated over time
        pixel_values = x.reshape(n * gh * gw, c * t * p * p)
        grid_thw = torch.tensor([[1, gh, gw]], dtype=torch.long, device=x.device).expand(n, 3)
        return {"pixel_values": pixel_values, "image_grid_thw": grid_thw}

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        """The processor's prompt plus its 3-D M-RoPE positions, computed once from the prompt itself."""
        return prompt_with_rope_positions(self, super().image_prompt, prompt_format, "image_grid_thw")

    def forward_inputs(self, prompt: dict[str, torch.Tensor], pixels: dict[str, torch.Tensor], n: int) -> dict:
        inputs = {"input_ids": prompt["input_ids"].expand(n, -1), "attention_mask": prompt["attention_mask"].expand(n, -1),
                  "position_ids": prompt["position_ids"].expand(-1, n, -1)}
        return inputs | pixels


def prompt_with_rope_positions(adapter, base_image_prompt, prompt_format: str, grid_input: str) -> dict[str, torch.Tensor]:
    """An image prompt with its M-RoPE ``position_ids`` from the model's own ``get_rope_index``, computed
    once per prompt (never the cached ``rope_deltas``); ``grid_input`` names the processor output the
    index reads the image's grid from (Qwen: ``image_grid_thw``; MiniCPM-V 4.7: ``target_sizes``)."""
    saved = adapter.extra_input_names
    adapter.extra_input_names = ("mm_token_type_ids", grid_input)
    try:
        enc = base_image_prompt(prompt_format)
    finally:
        adapter.extra_input_names = saved
    with torch.no_grad():
        positions, _ = adapter.model.model.get_rope_index(
            enc["input_ids"], mm_token_type_ids=enc["mm_token_type_ids"], **{grid_input: enc[grid_input]},
            attention_mask=enc["attention_mask"])
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "position_ids": positions}
