"""Command A Vision: SigLIP2 (all tokens) -> pixel shuffle x2 -> SwiGLU MLP -> Cohere2.

The real ``Cohere2VisionProcessor`` with a reduced Command-R template (BOS in the template, turn tokens, the
image as ``<|IMG_PATCH|>``, which the processor expands). Its image processor, ``Cohere2VisionImageProcessor``,
is torchvision-only in transformers 5.24 and torchvision does not import here, so the image slot holds
:class:`Cohere2VisionImageProcessorTwin`: the torchvision class's ``_preprocess`` reproduced independently from
its source (``get_all_supported_aspect_ratios`` / ``get_optimal_tiled_canvas``, resize of the image to the
canvas, tiles row-major, a thumbnail when there are several, each tile resized to the tile size (a no-op at
that size, as torchvision's resize is), fused rescale + normalise in float32, ``num_patches``;
``get_number_of_image_patches``), at the class's defaults (CLIP mean/std, BICUBIC, ``crop_to_patches`` on,
1..12 tiles) except the tile: 64 px here (512 released), cut by the tiny tower into 8-px patches (8 x 8,
shuffled to 4 x 4 = 16 tokens), so the image processor's ``patch_size`` (tokens per tile side) is 4 (16
released). tests/models/test_cohere2_vision.py checks the twin on the arithmetic the source documents.
"""
from __future__ import annotations

import numpy as np

from families import save_checkpoint

FAMILY = "cohere2_vision"
CLASS = "Cohere2VisionForConditionalGeneration"

TILE, PATCH = 64, 8
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}<|START_OF_TURN_TOKEN|><|USER_TOKEN|>"
    "{% elif message['role'] == 'system' %}<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>"
    "{% else %}<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|IMG_PATCH|>{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|END_OF_TURN_TOKEN|>{% endfor %}"
    "{% if add_generation_prompt %}<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
IMAGE_SPECIALS = ["<|START_OF_IMG|>", "<|END_OF_IMG|>", "<|IMG_PATCH|>", "<|IMG_LINE_BREAK|>"]
TURN_SPECIALS = ["<|START_OF_TURN_TOKEN|>", "<|END_OF_TURN_TOKEN|>", "<|USER_TOKEN|>", "<|CHATBOT_TOKEN|>",
                 "<|SYSTEM_TOKEN|>"]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def _base():
    from transformers.image_processing_utils import BaseImageProcessor

    return BaseImageProcessor


def _kwargs():
    """The torchvision class's ``valid_kwargs`` (its module cannot be imported here)."""
    from transformers.processing_utils import ImagesKwargs

    class Cohere2VisionTwinKwargs(ImagesKwargs, total=False):
        crop_to_patches: bool
        min_patches: int
        max_patches: int

    return Cohere2VisionTwinKwargs


def aspect_ratios(max_tiles: int) -> list[tuple[int, int]]:
    """(width, height) in tiles with width x height <= max_tiles, width-major (the source's loop order)."""
    return [(w, h) for w in range(1, max_tiles + 1) for h in range(1, max_tiles + 1) if w * h <= max_tiles]


def optimal_canvas(height: int, width: int, tile: int, max_tiles: int) -> tuple[int, int]:
    """(columns, rows): the canvas that needs the least upscaling, else the least downscaling; candidates in
    order of area (a stable sort of :func:`aspect_ratios`), the first on ties. ``min_patches`` is not read (nor
    in the source)."""
    options = sorted(aspect_ratios(max_tiles), key=lambda r: r[0] * r[1])
    scales = [min(c * tile / width, r * tile / height) for c, r in options]
    if all(s < 1 for s in scales):
        return options[int(np.argmax(scales))]
    return options[int(np.argmin([s if s >= 1 else 10e9 for s in scales]))]


class Cohere2VisionImageProcessorTwin(_base()):
    """``Cohere2VisionImageProcessor._preprocess`` (transformers 5.24, torchvision backend), rewritten for tests
    where torchvision cannot be imported. Resizing is torch's antialiased bicubic on the uint8 tensor (what
    torchvision's resize runs on CPU for uint8 BICUBIC); a tensor already at its target size is left as it is."""

    model_input_names = ["pixel_values"]
    valid_kwargs = _kwargs()

    def __init__(self, size=None, crop_to_patches=True, min_patches=1, max_patches=12, patch_size=16,
                 image_mean=CLIP_MEAN, image_std=CLIP_STD, rescale_factor=1 / 255, resample=3, **kwargs):
        kwargs.pop("image_processor_type", None)
        super().__init__(**kwargs)
        self.size = dict(size or {"height": 512, "width": 512})
        self.crop_to_patches, self.min_patches, self.max_patches = crop_to_patches, min_patches, max_patches
        self.patch_size = patch_size
        self.image_mean, self.image_std = list(image_mean), list(image_std)
        self.rescale_factor, self.resample = rescale_factor, resample

    @staticmethod
    def _resize(x, h: int, w: int):
        import torch.nn.functional as F

        if tuple(x.shape[-2:]) == (h, w):
            return x
        return F.interpolate(x, size=(h, w), mode="bicubic", antialias=True, align_corners=False)

    def _tiles(self, x, crop_to_patches: bool, max_patches: int):
        import torch

        tile = self.size["height"]
        if not crop_to_patches:
            return [x[0]]
        cols, rows = optimal_canvas(x.shape[-2], x.shape[-1], tile, max_patches)
        canvas = self._resize(x, rows * tile, cols * tile)[0]
        tiles = [canvas[:, r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] for r in range(rows) for c in range(cols)]
        if len(tiles) != 1:
            tiles.append(self._resize(x, tile, tile)[0])
        return [torch.as_tensor(t) for t in tiles]

    def get_number_of_image_patches(self, height: int, width: int, images_kwargs=None) -> int:
        kw = images_kwargs or {}
        crop, max_patches = kw.get("crop_to_patches", self.crop_to_patches), kw.get("max_patches", self.max_patches)
        if not (crop and max_patches > 1):
            return 1
        cols, rows = optimal_canvas(height, width, self.size["height"], max_patches)
        return 1 + cols * rows if cols * rows > 1 else 1

    def preprocess(self, images, return_tensors=None, do_rescale=True, do_normalize=True, crop_to_patches=None,
                   max_patches=None, **kwargs):
        import torch
        from transformers import BatchFeature

        crop = self.crop_to_patches if crop_to_patches is None else crop_to_patches
        max_patches = self.max_patches if max_patches is None else max_patches
        images = images if isinstance(images, (list, tuple)) else [images]
        images = [im for sub in images for im in (sub if isinstance(sub, (list, tuple)) else [sub])]
        tile = self.size["height"]
        out, counts = [], []
        for image in images:
            x = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)[None]  # uint8
            tiles = [self._resize(t[None], tile, tile)[0] for t in self._tiles(x, crop, max_patches)]
            y = torch.stack(tiles).float()
            if do_rescale and do_normalize:  # fused as the torchvision backend does: (k - 255 mean) / (255 std)
                mean = torch.tensor(self.image_mean).view(1, 3, 1, 1) / self.rescale_factor
                std = torch.tensor(self.image_std).view(1, 3, 1, 1) / self.rescale_factor
                y = (y - mean) / std
            elif do_rescale:
                y = y * self.rescale_factor
            out.append(y)
            counts.append(len(tiles))
        return BatchFeature({"pixel_values": torch.cat(out), "num_patches": counts}, tensor_type=return_tensors)


def register_twin() -> None:
    from transformers import AutoImageProcessor, Cohere2VisionConfig

    AutoImageProcessor.register(Cohere2VisionConfig, image_processor_classes={
        "torchvision": Cohere2VisionImageProcessorTwin, "pil": Cohere2VisionImageProcessorTwin}, exist_ok=True)


def tokenizer():
    from layerdream.models.tiny import build_word_tokenizer

    extra = {"boi_token": "<|START_OF_IMG|>", "eoi_token": "<|END_OF_IMG|>", "image_token": "<|IMG_PATCH|>",
             "img_line_break_token": "<|IMG_LINE_BREAK|>"}
    tok = build_word_tokenizer(WORDS, special_tokens=["<PAD>", "<BOS_TOKEN>", *TURN_SPECIALS, "<UNK>", *IMAGE_SPECIALS],
                               template_words=["\n"], chat_template=CHAT_TEMPLATE, bos_token="<BOS_TOKEN>",
                               eos_token="<|END_OF_TURN_TOKEN|>", pad_token="<PAD>", unk_token="<UNK>",
                               extra_special_tokens=extra)
    tok.add_tokens([*TURN_SPECIALS, *IMAGE_SPECIALS], special_tokens=True)
    return tok


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import Cohere2VisionConfig, Cohere2VisionForConditionalGeneration, Cohere2VisionProcessor

    register_twin()
    tok = tokenizer()
    ids = tok.convert_tokens_to_ids
    image_processor = Cohere2VisionImageProcessorTwin(size={"height": TILE, "width": TILE}, patch_size=TILE // PATCH // 2)
    processor = Cohere2VisionProcessor(image_processor=image_processor, tokenizer=tok, chat_template=CHAT_TEMPLATE)
    config = Cohere2VisionConfig(
        vision_config=dict(model_type="siglip_vision_model", image_size=TILE, patch_size=PATCH, hidden_size=32,
                           intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, vision_use_head=False),
        text_config=dict(model_type="cohere2", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=512, sliding_window=512, layer_types=["full_attention"] * layers,
                         pad_token_id=ids("<PAD>"), bos_token_id=ids("<BOS_TOKEN>"), eos_token_id=ids("<|END_OF_TURN_TOKEN|>")),
        downsample_factor=2, image_token_id=ids("<|IMG_PATCH|>"), alignment_intermediate_size=64,
    )
    torch.manual_seed(seed)
    return Cohere2VisionForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
