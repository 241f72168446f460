"""The family adapter: the one place that knows how a VLM family takes an image.

Everything generic (early exit, the residual at layer ℓ, text batches) lives in :class:`VLM`;
a family subclasses :class:`FamilyAdapter` and overrides only what differs: its preprocessing, the
extra inputs its forward needs, and its token grid. Gemma 3 is ``models/gemma3.py``; adding a family
is one small file of the same shape plus one line in ``registry.py`` (docs/adding-a-model.md).

What a family can override, in the order a newcomer meets them:
``grid`` (rows, cols of image tokens in sequence order), ``preprocess`` (differentiable pixels),
``image_placeholder`` / ``image_messages`` (the prompt), ``forward_inputs`` (what the forward takes for
N images), ``text_inputs`` (what it takes for text), ``vision_dims`` (for the memory model),
``min_init_noise`` (families that drop an exactly-gray image) and ``result_notes`` (what a result
must say about how layer l was read).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..errors import UserError
from ..interpolation import resize


@dataclass(frozen=True)
class VisionDims:
    """What the memory model needs of a vision tower: tokens through it per image, and its shape."""

    tokens: int
    width: int
    mlp: int
    layers: int
    heads: int


def vision_dims_from_config(vision_config, image_size: int) -> VisionDims:
    """ViT-style configs under their common names (``depth``/``num_heads`` for Qwen's towers)."""
    get = lambda *names: next(getattr(vision_config, n) for n in names if getattr(vision_config, n, None) is not None)  # noqa: E731
    patch = get("patch_size")
    cls = 1 if "clip" in getattr(vision_config, "model_type", "") else 0
    return VisionDims(tokens=(image_size // patch) ** 2 + cls, width=get("hidden_size", "embed_dim"),
                      mlp=get("intermediate_size"), layers=get("num_hidden_layers", "depth"),
                      heads=get("num_attention_heads", "num_heads"))


def resize_to(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N,3,H,W) -> (N,3,size,size). Enlarging (the paper's 448 canvas to an 896 input) uses the same
    matrix-product bilinear resize as the synthesis, which is thread-count independent on CPU and
    deterministic on CUDA (``F.interpolate``'s CUDA backward is refused under ``--deterministic``);
    shrinking keeps ``F.interpolate`` with antialias, which matches PIL to ~1 uint8 step (notes §5)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    if images.shape[-1] <= size and images.shape[-2] <= size:
        return resize(images, size)
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def channel_stats(image_processor) -> tuple[torch.Tensor, torch.Tensor]:
    """The processor's per-channel normalisation as (1, 3, 1, 1) fp32 tensors (mean, std): one reading for
    every adapter, including those whose ``__init__`` reads the geometry their own way."""
    return (torch.tensor(image_processor.image_mean, dtype=torch.float32).view(1, 3, 1, 1),
            torch.tensor(image_processor.image_std, dtype=torch.float32).view(1, 3, 1, 1))


class FamilyAdapter:
    """Defaults that fit any processor with a square ``size`` and per-channel mean/std."""

    model_types: ClassVar[tuple[str, ...]] = ()
    #: inputs from the processor's output that the forward must receive (beyond ids and mask)
    extra_input_names: ClassVar[tuple[str, ...]] = ()
    #: a start image that is exactly gray everywhere is dropped as padding by some families (Idefics3)
    min_init_noise: ClassVar[float] = 0.0
    #: attention masks that the model builds from the prompt can be captured once and reused
    reusable_masks: ClassVar[bool] = True
    #: image tokens sit at places in the image (a patch grid). Families whose image tokens are learned
    #: queries (a perceiver resampler, a Q-Former) have no such layout: the spatial prior is then flat
    #: (every token weighs alike; sigma = inf), ``grid`` is only the tokens' count as rows x cols, and
    #: each result records the rule (``result_notes``)
    spatial_layout: ClassVar[bool] = True
    #: real photos are resized by the image processor itself where it makes one input-sized image (load_photo)
    photo_through_processor: ClassVar[bool] = True
    #: options every direct call of the image processor gets: output-key names only, never values
    #: (Video-LLaVA's still returns the legacy ``pixel_values_images`` unless told otherwise)
    image_processor_kwargs: ClassVar[dict] = {}

    def __init__(self, model, processor):
        self.model = model
        self.processor = processor
        ip = processor.image_processor
        size = ip.size
        if isinstance(size, int):
            self.image_size = size
        else:  # a dict in older processors, a SizeDict in transformers 5
            get = size.get if hasattr(size, "get") else lambda key: getattr(size, key, None)
            self.image_size = int(get("height") or get("shortest_edge"))
        self.mean, self.std = channel_stats(ip)

    # -- what a family overrides -------------------------------------------------------------
    @property
    def grid(self) -> tuple[int, int]:
        """(rows, cols) of image tokens, row-major, as they sit in the sequence."""
        raise NotImplementedError

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Differentiable stand-in for the HF image processor: images (N,3,H,W) in [0,1]."""
        images = resize_to(images, self.image_size)
        mean, std = self.mean.to(images.device), self.std.to(images.device)
        return {"pixel_values": (images - mean) / std}

    def image_messages(self, image) -> list[dict]:
        """The image-only user turn: no text, so no concept can leak into the image tokens."""
        return [{"role": "user", "content": [{"type": "image", "image": image}]}]

    def image_placeholder(self) -> str:
        """The text the processor expands into the image-token block (raw prompts only)."""
        return self.processor.image_token

    def has_chat_template(self) -> bool:
        return bool(getattr(self.processor, "chat_template", None))

    def forward_inputs(self, prompt: dict[str, torch.Tensor], pixels: dict[str, torch.Tensor], n: int) -> dict:
        """The forward's keyword arguments for N images: the (1, T) prompt repeated, plus the pixels."""
        return {k: v.expand(n, -1) for k, v in prompt.items()} | pixels

    def text_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        """The forward's keyword arguments for a padded batch of text prompts (concept vectors)."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self.extra_input_names:
            inputs["token_type_ids"] = torch.zeros_like(input_ids)
        return inputs

    def vision_dims(self) -> VisionDims:
        return vision_dims_from_config(self.model.config.vision_config, self.image_size)

    def photo_resample(self) -> int:
        """The PIL filter this family's processor resizes pictures with (``resample`` of its image
        processor: BILINEAR for Gemma 3, BICUBIC for SigLIP/CLIP/Qwen, LANCZOS for Idefics3)."""
        from PIL import Image

        resample = getattr(self.processor.image_processor, "resample", None)
        return int(getattr(resample, "value", resample)) if resample is not None else int(Image.Resampling.BILINEAR)

    def load_photo(self, image) -> torch.Tensor:
        """A real picture (PIL) as (3, S, S) in [0, 1] at the input size, resized as this family's processor
        resizes it (8-bit, by PIL, as the processor does).

        Where the image processor itself turns a picture into one S x S image (Gemma 3, PaliGemma,
        LLaVA-1.5's shortest edge + centre crop, InternVL's one tile) it is asked to, without rescaling
        or normalising: the model then sees exactly the processor's pixels. Where it makes patches or
        several views (Qwen, Gemma 4, LLaVA-NeXT), or resizes again inside :meth:`preprocess` (Idefics3:
        ``photo_through_processor = False``), the picture goes straight to S x S with the processor's own
        filter; what then differs is in docs/families/.
        """
        import numpy as np

        image = image.convert("RGB")
        size = self.image_size
        if self.photo_through_processor:
            out = self.processor.image_processor(images=image, do_rescale=False, do_normalize=False,
                                                 return_tensors="pt", **self.image_processor_kwargs)["pixel_values"]
            if out.numel() == 3 * size * size and out.shape[-2:] == (size, size):
                return out.reshape(3, size, size).float() / 255
        if image.size != (size, size):
            image = image.resize((size, size), self.photo_resample())
        return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255

    def result_notes(self, layer: int) -> dict:
        """Family facts that change what "layer l" means, recorded in each result's config (none by
        default, so other families' configs and fingerprints stay as they were; Qwen3-VL's DeepStack)."""
        return {}

    # -- generic -----------------------------------------------------------------------------
    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        """Token ids (1, T) of the image prompt, built once through the real processor.

        ``chat``: the processor's own ``apply_chat_template(..., tokenize=True)``, which knows that the
        template already holds ``<bos>`` (rendering to text and tokenising again adds a second one,
        which moves the image tokens' states by 20-40 % in mid layers of a real Gemma 3).
        ``raw`` (pretrained checkpoints without a template): ``<bos>`` + the image placeholder, the
        same shape as the text side's raw prompt ``<bos>`` + word.
        """
        from PIL import Image

        gray = Image.new("RGB", (self.image_size, self.image_size), (128, 128, 128))
        if prompt_format == "chat":
            enc = self.processor.apply_chat_template(self.image_messages(gray), add_generation_prompt=True,
                                                     tokenize=True, return_dict=True, return_tensors="pt")
        else:
            text = (self.processor.tokenizer.bos_token or "") + self.image_placeholder()
            enc = self.processor(text=text, images=gray, return_tensors="pt", add_special_tokens=False)
        prompt = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        for name in self.extra_input_names:
            prompt[name] = enc[name]
        return prompt

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Sequence positions of the image tokens in a (1, T) prompt."""
        positions = (input_ids[0] == self.model.config.image_token_id).nonzero().flatten()
        expected = self.grid[0] * self.grid[1]
        if positions.numel() != expected:
            raise RuntimeError(f"found {positions.numel()} image tokens in the prompt, expected {expected}")
        return positions


class TextOnlyAdapter:
    """For language-model-only checkpoints: concept vectors work, image synthesis does not."""

    image_size = 0
    grid = (0, 0)

    def __init__(self, model, processor):
        self.model = model

    def text_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def _no_images(self, *args, **kwargs):
        raise UserError("this checkpoint has no vision tower (text-only); use a VLM for image synthesis")

    preprocess = image_prompt = image_positions = forward_inputs = vision_dims = _no_images
