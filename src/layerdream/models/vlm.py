"""The VLM handle: a frozen model, its processor, its family adapter, and the residual at layer ℓ.

Layer ℓ is HF ``hidden_states[ℓ]``: the output of decoder block ℓ (``layers[ℓ-1]``), which is
TransformerLens' ``blocks.{ℓ-1}.hook_resid_post``. We read it with a forward hook and stop the forward
right there (no later blocks, no final norm, no logits): the objective only needs layer ℓ, and at
layer 1 of a 34-layer model the rest of the language model is pure waste.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from ..errors import UserError


class _StopForward(Exception):
    """Raised by the capture hook once the deepest requested layer has run."""


class VLM:
    """What the engine needs from a loaded checkpoint. Build it with :func:`layerdream.load`."""

    def __init__(self, model, processor, adapter, name: str, path: str | None = None):
        self.model = model
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.adapter = adapter
        self.name = name
        self.path = path
        self.backbone = model.model  # never the top-level forward: it computes full-vocab logits
        self.layers = model.get_decoder().layers
        text_config = model.config.get_text_config()
        self.num_layers = int(text_config.num_hidden_layers)
        self.hidden_size = int(text_config.hidden_size)
        self.cache: dict = {}  # baselines, gray references, prompts: computed once per model
        self._image_prompt = None

    # -- geometry ------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def image_size(self) -> int:
        return self.adapter.image_size

    @property
    def grid(self) -> tuple[int, int]:
        return self.adapter.grid

    def require_vision(self) -> None:
        """Fail with one line, before any work, when the checkpoint is a text-only language model."""
        if self.image_size <= 0:
            raise UserError(f"{self.name} has no vision tower (text-only); use a VLM for image synthesis")

    def check_layer(self, layer: int) -> int:
        if not isinstance(layer, int) or not 1 <= layer <= self.num_layers:
            raise UserError(
                f"layer {layer} is out of range for {self.name}: choose 1..{self.num_layers} "
                f"(layer l is hidden_states[l], the output of decoder block l)"
            )
        return layer

    # -- the residual stream -------------------------------------------------------------------
    @contextmanager
    def _capture(self, layers: list[int]) -> Iterator[dict[int, torch.Tensor]]:
        captured: dict[int, torch.Tensor] = {}
        deepest = max(layers)
        handles = []

        def make_hook(layer: int):
            def hook(module, args, output):
                captured[layer] = output[0] if isinstance(output, tuple) else output
                if layer == deepest:
                    raise _StopForward

            return hook

        for layer in set(layers):
            handles.append(self.layers[layer - 1].register_forward_hook(make_hook(layer)))
        try:
            yield captured
        finally:
            for handle in handles:
                handle.remove()

    def residuals(self, layers: list[int], **inputs) -> dict[int, torch.Tensor]:
        """{ℓ: (B, T, d)} for each requested layer, from one forward that stops after the deepest."""
        for layer in layers:
            self.check_layer(layer)
        with self._capture(layers) as captured:
            try:
                self.backbone(**inputs, use_cache=False)
            except _StopForward:
                pass
        return captured

    def residual(self, layer: int, **inputs) -> torch.Tensor:
        return self.residuals([layer], **inputs)[layer]

    # -- images --------------------------------------------------------------------------------
    def image_prompt(self) -> dict[str, torch.Tensor]:
        if self._image_prompt is None:
            prompt = self.adapter.image_prompt()
            self._image_prompt = {k: v.to(self.device) for k, v in prompt.items()}
            self._image_positions = self.adapter.image_positions(prompt["input_ids"]).to(self.device)
        return self._image_prompt

    def image_tokens(self, images: torch.Tensor, layer: int) -> torch.Tensor:
        """Layer-ℓ states of the image tokens, (N, P, d) in fp32, differentiable w.r.t. ``images``.

        ``images`` is (N, 3, H, W) in [0, 1]; the adapter resizes and normalises it in torch.
        """
        prompt = self.image_prompt()
        n = images.shape[0]
        inputs = {k: v.expand(n, -1) for k, v in prompt.items()}
        pixels = self.adapter.preprocess(images.to(self.device, torch.float32))
        inputs.update({k: v.to(self.dtype) for k, v in pixels.items()})
        masks = self.cache.get(("masks", n))
        if masks is not None:  # the prompt never changes: reuse its attention masks (17% of a toy step)
            inputs["attention_mask"] = masks
            hidden = self.residual(layer, **inputs)
        else:
            hidden = self._residual_capturing_masks(layer, n, inputs)
        return hidden[:, self._image_positions].float()

    def _residual_capturing_masks(self, layer: int, n: int, inputs: dict) -> torch.Tensor:
        """Run once normally and keep the per-layer-type mask dict the model built for this prompt.

        transformers 5 models accept that dict back as ``attention_mask`` and then skip building it
        (Gemma 3's bidirectional image-block mask is built with vmap on every call otherwise).
        """
        def grab(module, args, kwargs):
            mask = kwargs.get("attention_mask")
            if isinstance(mask, dict):
                self.cache[("masks", n)] = {k: (v.detach() if torch.is_tensor(v) else v) for k, v in mask.items()}

        handle = self.model.get_decoder().register_forward_pre_hook(grab, with_kwargs=True)
        try:
            return self.residual(layer, **inputs)
        finally:
            handle.remove()

    def gray_reference(self, layer: int) -> torch.Tensor:
        """(P, d) layer-ℓ image tokens of a uniform gray image: the image-side baseline, cached."""
        key = ("gray", layer)
        if key not in self.cache:
            gray = torch.full((1, 3, self.image_size, self.image_size), 0.5, device=self.device)
            with torch.no_grad():
                self.cache[key] = self.image_tokens(gray, layer)[0]
        return self.cache[key]

    def __repr__(self) -> str:
        return f"VLM({self.name!r}, layers={self.num_layers}, d={self.hidden_size}, image={self.image_size}px, grid={self.grid})"
