"""The VLM handle: a frozen model, its processor, its family adapter, and the residual at layer ℓ.

Layer ℓ is the output of decoder block ℓ (``layers[ℓ-1]``), which is TransformerLens'
``blocks.{ℓ-1}.hook_resid_post`` and HF's ``hidden_states[ℓ]`` for ℓ < N. We read it with a forward
hook and stop the forward right there (no later blocks, no final norm, no logits): the objective only
needs layer ℓ, and at layer 1 of a 34-layer model the rest of the language model is pure waste.

At the last layer ℓ = N this is still the last block's output, *before* the final norm. HF's last
entry ``hidden_states[N]`` is recorded after the norm (``norm(layer N)``), so a tool that reads
``hidden_states[N]`` reads something else there. Concept vectors (``concepts.word_states``) and image
tokens (:meth:`VLM.image_tokens`) both go through :meth:`VLM.residuals`, so the two sides are read at
the same place at every ℓ, N included (tests/models/test_last_layer.py).
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import torch

from ..checks import describe, is_whole
from ..errors import UserError

log = logging.getLogger("layerdream")


def require_vlm(value: object, function: str) -> "VLM":
    """The model argument of a public function: a loaded :class:`VLM`, or one line saying how to get one."""
    if not isinstance(value, VLM):
        example = value if isinstance(value, str) and value else "toy-aligned"
        raise UserError(f"{function}: the first argument must be a loaded model, got {describe(value)}; "
                        f"load it first: vlm = ld.load({example!r}), then ld.{function}(vlm, ...)")
    return value


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
        from .patch_embed import install

        install(model)  # stride = kernel patch convolutions as one matmul: same numbers, cheaper backward (patch_embed.py)
        self.path = path
        # never the top-level forward: it computes full-vocab logits; families whose classes have no
        # `.model` (BLIP-2) give their own backbone and decoder through the adapter
        self.backbone = getattr(adapter, "backbone", None) or model.model
        self.layers = (getattr(adapter, "decoder", None) or model.get_decoder()).layers
        text_config = model.config.get_text_config()
        self.num_layers = int(text_config.num_hidden_layers)
        self.hidden_size = int(text_config.hidden_size)
        self.cache: dict = {}  # baselines, gray references, prompts: computed once per model
        self._prompts: dict[str, tuple[dict[str, torch.Tensor], torch.Tensor]] = {}
        self._told: set[str] = set()

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
        if not is_whole(layer):  # True is an int in Python, but never a layer
            raise UserError(f"layer must be a whole number from 1 to {self.num_layers}, got {describe(layer)}")
        if not 1 <= layer <= self.num_layers:
            raise UserError(
                f"layer {layer} is out of range for {self.name}: choose 1..{self.num_layers} "
                f"(layer l is the output of decoder block l: hidden_states[l] below the last layer, before the final norm at it)"
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

    # -- prompts -------------------------------------------------------------------------------
    def has_chat_template(self) -> bool:
        """Both sides can use the chat template: the tokenizer (text) and, for a VLM, the processor."""
        text_ok = bool(getattr(self.tokenizer, "chat_template", None))
        image_ok = self.image_size <= 0 or self.adapter.has_chat_template()
        return text_ok and image_ok

    def resolve_prompt_format(self, requested: str = "chat") -> str:
        """The format actually used: ``chat`` falls back to ``raw`` (both sides together) when the
        checkpoint has no chat template, as pretrained ``-pt`` checkpoints do; said once per model."""
        if requested not in ("chat", "raw"):
            raise UserError(f"unknown prompt format {requested!r}; choose chat or raw")
        if requested == "chat" and not self.has_chat_template():
            if "raw-fallback" not in self._told:
                self._told.add("raw-fallback")
                log.warning("%s has no chat template (a pretrained -pt checkpoint?): text and image prompts "
                            "use the raw format <bos>+word / <bos>+image, and results record prompt_format=raw", self.name)
            return "raw"
        return requested

    # -- images --------------------------------------------------------------------------------
    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        """The image-only prompt (1, T) in the given format, built once; image positions beside it."""
        prompt_format = self.resolve_prompt_format(prompt_format)
        if prompt_format not in self._prompts:
            prompt = self.adapter.image_prompt(prompt_format)
            positions = self.adapter.image_positions(prompt["input_ids"])
            self._prompts[prompt_format] = ({k: v.to(self.device) for k, v in prompt.items()}, positions.to(self.device))
        return self._prompts[prompt_format][0]

    def image_positions(self, prompt_format: str = "chat") -> torch.Tensor:
        """Sequence positions of the image tokens in the image prompt of that format."""
        self.image_prompt(prompt_format)
        return self._prompts[self.resolve_prompt_format(prompt_format)][1]

    def image_tokens(self, images: torch.Tensor, layer: int, prompt_format: str = "chat") -> torch.Tensor:
        """Layer-ℓ states of the image tokens, (N, P, d) in fp32, differentiable w.r.t. ``images``.

        ``images`` is (N, 3, H, W) in [0, 1]; the adapter resizes and normalises it in torch (fp32),
        the model runs in its own dtype (bf16 on GPU), and the states come back in fp32 so that
        centring, aggregation and the cosine never lose precision.
        """
        prompt_format = self.resolve_prompt_format(prompt_format)
        prompt, positions = self.image_prompt(prompt_format), self.image_positions(prompt_format)
        n = images.shape[0]
        pixels = self.adapter.preprocess(images.to(self.device, torch.float32))
        pixels = {k: v.to(self.dtype) if v.is_floating_point() else v for k, v in pixels.items()}
        inputs = self.adapter.forward_inputs(prompt, pixels, n)
        if not self.adapter.reusable_masks:
            return self.residual(layer, **inputs)[:, positions].float()
        masks = self.cache.get(("masks", prompt_format, n))
        if masks is not None:  # the prompt never changes: reuse its attention masks (17% of a toy step)
            inputs["attention_mask"] = masks
            hidden = self.residual(layer, **inputs)
        else:
            hidden = self._residual_capturing_masks(layer, (prompt_format, n), inputs)
        return hidden[:, positions].float()

    def image_tokens_at(self, images: torch.Tensor, layers: list[int], prompt_format: str = "chat") -> dict[int, torch.Tensor]:
        """{ℓ: (N, P, d) fp32} image-token states at several layers from ONE forward (early exit at the
        deepest): what a lens needs, where :meth:`image_tokens` would run the model once per layer.
        Not differentiable by intent (readouts only)."""
        prompt_format = self.resolve_prompt_format(prompt_format)
        prompt, positions = self.image_prompt(prompt_format), self.image_positions(prompt_format)
        pixels = self.adapter.preprocess(images.to(self.device, torch.float32))
        pixels = {k: v.to(self.dtype) if v.is_floating_point() else v for k, v in pixels.items()}
        inputs = self.adapter.forward_inputs(prompt, pixels, images.shape[0])
        with torch.no_grad():
            hidden = self.residuals(sorted(set(layers)), **inputs)
        return {layer: hidden[layer][:, positions].float() for layer in layers}

    def _residual_capturing_masks(self, layer: int, key: tuple, inputs: dict) -> torch.Tensor:
        """Run once normally and keep the per-layer-type mask dict the model built for this prompt.

        transformers 5 models accept that dict back as ``attention_mask`` and then skip building it
        (Gemma 3's bidirectional image-block mask is built with vmap on every call otherwise).
        """
        def grab(module, args, kwargs):
            mask = kwargs.get("attention_mask")
            if isinstance(mask, dict):
                self.cache[("masks", *key)] = {k: (v.detach() if torch.is_tensor(v) else v) for k, v in mask.items()}

        handle = self.model.get_decoder().register_forward_pre_hook(grab, with_kwargs=True)
        try:
            return self.residual(layer, **inputs)
        finally:
            handle.remove()

    def gray_reference(self, layer: int, prompt_format: str = "chat") -> torch.Tensor:
        """(P, d) fp32 layer-ℓ image tokens of a uniform gray image: the image-side baseline, cached."""
        prompt_format = self.resolve_prompt_format(prompt_format)
        key = ("gray", layer, prompt_format)
        if key not in self.cache:
            gray = torch.full((1, 3, self.image_size, self.image_size), 0.5, device=self.device)
            with torch.no_grad():
                self.cache[key] = self.image_tokens(gray, layer, prompt_format)[0]
        return self.cache[key]

    # -- memory ----------------------------------------------------------------------------------
    def vision_layers(self) -> torch.nn.ModuleList | None:
        """The vision tower's transformer blocks (the bulk of a step's activations), or None."""
        if self.image_size <= 0:
            return None
        tower = self.model.get_encoder(modality="image")
        depth = getattr(getattr(self.model.config, "vision_config", None), "num_hidden_layers", None)
        for module in tower.modules():
            if isinstance(module, torch.nn.ModuleList) and len(module) == depth:
                return module
        return None

    @contextmanager
    def checkpointed_vision(self, enabled: bool = True) -> Iterator[None]:
        """Activation checkpointing of each vision block: keep only block inputs for backward and
        recompute the rest (about +1 vision forward per step, for ~10x less activation memory per block).

        Done with ``torch.utils.checkpoint`` around each block's forward rather than HF's
        ``gradient_checkpointing_enable``, which only acts in training mode; the model stays in eval.
        """
        blocks = self.vision_layers() if enabled else None
        if not blocks:
            if enabled and "no-vision-blocks" not in self._told:
                self._told.add("no-vision-blocks")
                log.warning("%s: the vision tower's blocks were not found, so --checkpoint-vision has no effect "
                            "(its activations are kept)", self.name)
            yield
            return
        from torch.utils.checkpoint import checkpoint

        originals = []
        for block in blocks:
            forward = block.forward
            originals.append((block, forward))

            def wrapped(*args, _forward=forward, **kwargs):
                if not torch.is_grad_enabled():
                    return _forward(*args, **kwargs)
                return checkpoint(_forward, *args, use_reentrant=False, **kwargs)

            block.forward = wrapped
        try:
            yield
        finally:
            for block, forward in originals:
                block.forward = forward

    def __repr__(self) -> str:
        return f"VLM({self.name!r}, layers={self.num_layers}, d={self.hidden_size}, image={self.image_size}px, grid={self.grid})"
