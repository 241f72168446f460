"""LFM2-VL (450M layout): SigLIP2 NaFlex tower -> pixel unshuffle 2 + LayerNorm + MLP -> LFM2 (one short-
convolution block, one attention block).

The real ``Lfm2VlProcessor`` with a reduced ChatML template (the released one is the hub repo's, not the
class's). Its image processor, ``Lfm2VlImageProcessor``, is torchvision-only in transformers 5.24 and
torchvision does not import here, so the image slot holds :class:`Lfm2VlImageProcessorTwin`: the torchvision
class's single-tile path (``smart_resize``, the "too large" test, fused rescale + normalise in float32,
``convert_image_to_patches``, zero padding to ``max_num_patches`` with the mask, ``spatial_shapes``, row/col
info) reproduced independently from its source at the class's defaults (512-px tile, patch 16, factor 2,
64..256 tokens, mean/std 0.5, BILINEAR). The tiling path (images over twice the token budget) is not
reproduced: the twin refuses it. tests/models/test_lfm2_vl.py checks the twin's arithmetic.
"""
from __future__ import annotations

import math

import numpy as np

from families import save_checkpoint

FAMILY = "lfm2_vl"
CLASS = "Lfm2VlForConditionalGeneration"

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}"
    "{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|pad|>", "<|startoftext|>", "<|im_end|>", "<|im_start|>", "<image>", "<|image_start|>", "<|image_end|>",
            "<|img_thumbnail|>", "<unk>"]


def _base():
    from transformers.image_processing_utils import BaseImageProcessor

    return BaseImageProcessor


def _kwargs():
    """The torchvision class's ``valid_kwargs`` (its module cannot be imported here): the processor checks
    the image options it passes against them."""
    from transformers.processing_utils import ImagesKwargs

    class Lfm2VlTwinKwargs(ImagesKwargs, total=False):
        downsample_factor: int
        do_image_splitting: bool
        min_tiles: int
        max_tiles: int
        use_thumbnail: bool
        min_image_tokens: int
        max_image_tokens: int
        encoder_patch_size: int
        tile_size: int
        max_pixels_tolerance: float
        do_pad: bool
        return_row_col_info: bool

    return Lfm2VlTwinKwargs


class Lfm2VlImageProcessorTwin(_base()):
    """``Lfm2VlImageProcessor`` (transformers 5.24, torchvision backend), single-tile path, rewritten for tests
    where torchvision cannot be imported. Resizing is torch's antialiased bilinear on the uint8 tensor
    (what torchvision's resize runs on CPU); a square already at its target size is left as it is."""

    model_input_names = ["pixel_values", "pixel_attention_mask", "spatial_shapes"]
    valid_kwargs = _kwargs()

    def __init__(self, downsample_factor=2, do_image_splitting=True, min_tiles=2, max_tiles=10, use_thumbnail=True,
                 min_image_tokens=64, max_image_tokens=256, encoder_patch_size=16, tile_size=512,
                 max_pixels_tolerance=2.0, image_mean=(0.5, 0.5, 0.5), image_std=(0.5, 0.5, 0.5), rescale_factor=1 / 255,
                 resample=2, **kwargs):
        kwargs.pop("image_processor_type", None)
        kwargs.pop("max_num_patches", None)
        super().__init__(**kwargs)
        self.downsample_factor, self.do_image_splitting = downsample_factor, do_image_splitting
        self.min_tiles, self.max_tiles, self.use_thumbnail = min_tiles, max_tiles, use_thumbnail
        self.min_image_tokens, self.max_image_tokens = min_image_tokens, max_image_tokens
        self.encoder_patch_size, self.tile_size, self.max_pixels_tolerance = encoder_patch_size, tile_size, max_pixels_tolerance
        self.image_mean, self.image_std, self.rescale_factor, self.resample = list(image_mean), list(image_std), rescale_factor, resample
        self.size = {"height": tile_size, "width": tile_size}
        self.max_num_patches = max(max_image_tokens * downsample_factor ** 2,
                                   (tile_size // encoder_patch_size) ** 2 if do_image_splitting else 0)

    def target(self, h: int, w: int) -> tuple[int, int]:
        """(height, width) after smart_resize: sides multiples of patch x factor, area within the token budget."""
        unit = self.encoder_patch_size * self.downsample_factor
        lo, hi = self.min_image_tokens * unit ** 2, self.max_image_tokens * unit ** 2
        hb, wb = max(unit, round(h / unit) * unit), max(unit, round(w / unit) * unit)
        if hb * wb > hi:
            beta = math.sqrt(h * w / hi)
            hb, wb = max(unit, math.floor(h / beta / unit) * unit), max(unit, math.floor(w / beta / unit) * unit)
        elif hb * wb < lo:
            beta = math.sqrt(lo / (h * w))
            hb, wb = math.ceil(h * beta / unit) * unit, math.ceil(w * beta / unit) * unit
        return hb, wb

    def too_large(self, h: int, w: int) -> bool:
        unit = self.encoder_patch_size * self.downsample_factor
        hb, wb = max(self.encoder_patch_size, round(h / unit) * unit), max(self.encoder_patch_size, round(w / unit) * unit)
        return hb * wb > self.max_image_tokens * unit ** 2 * self.max_pixels_tolerance

    def preprocess(self, images, return_tensors=None, do_rescale=True, do_normalize=True, return_row_col_info=False,
                   **kwargs):
        import torch
        import torch.nn.functional as F
        from transformers import BatchFeature

        images = images if isinstance(images, (list, tuple)) else [images]
        images = [im for sub in images for im in (sub if isinstance(sub, (list, tuple)) else [sub])]
        p = self.encoder_patch_size
        values, masks, shapes, sizes = [], [], [], []
        for image in images:
            x = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)[None]
            h, w = x.shape[-2:]
            if self.too_large(h, w) and not self.min_tiles == self.max_tiles == 1 and self.do_image_splitting:
                raise NotImplementedError("the test twin reproduces the single-tile path only")
            th, tw = self.target(h, w)
            if (th, tw) != (h, w):
                x = F.interpolate(x, size=(th, tw), mode="bilinear", antialias=True, align_corners=False)
            x = x.float()
            if do_rescale and do_normalize:  # fused as the torchvision backend does: (k - 255 mean) / (255 std)
                mean = torch.tensor(self.image_mean).view(1, 3, 1, 1) / self.rescale_factor
                std = torch.tensor(self.image_std).view(1, 3, 1, 1) / self.rescale_factor
                x = (x - mean) / std
            elif do_rescale:
                x = x * self.rescale_factor
            rows, cols = th // p, tw // p
            patches = x.reshape(3, rows, p, cols, p).permute(1, 3, 2, 4, 0).reshape(rows * cols, -1)
            mask = torch.zeros(self.max_num_patches, dtype=torch.int32)
            mask[: rows * cols] = 1
            values.append(F.pad(patches, (0, 0, 0, self.max_num_patches - rows * cols)))
            masks.append(mask)
            shapes.append([rows, cols])
            sizes.append([th, tw])
        data = {"pixel_values": torch.stack(values), "pixel_attention_mask": torch.stack(masks),
                "spatial_shapes": torch.tensor(shapes)}
        if return_row_col_info:
            data |= {"image_rows": [1] * len(images), "image_cols": [1] * len(images), "image_sizes": sizes}
        return BatchFeature(data, tensor_type=return_tensors)


def register_twin() -> None:
    from transformers import AutoImageProcessor, Lfm2VlConfig

    AutoImageProcessor.register(Lfm2VlConfig, image_processor_classes={"torchvision": Lfm2VlImageProcessorTwin,
                                                                        "pil": Lfm2VlImageProcessorTwin}, exist_ok=True)


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import Lfm2VlConfig, Lfm2VlForConditionalGeneration, Lfm2VlProcessor

    from layerdream.models.tiny import build_word_tokenizer

    register_twin()
    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token="<|startoftext|>", eos_token="<|im_end|>", pad_token="<|pad|>", unk_token="<unk>",
                               extra_special_tokens={})
    tok.add_tokens(SPECIALS[2:8], special_tokens=True)
    ids = tok.convert_tokens_to_ids
    processor = Lfm2VlProcessor(image_processor=Lfm2VlImageProcessorTwin(), tokenizer=tok, chat_template=CHAT_TEMPLATE)
    config = Lfm2VlConfig(
        vision_config=dict(model_type="siglip2_vision_model", hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                           num_attention_heads=2, patch_size=16, num_patches=256),
        text_config=dict(model_type="lfm2", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
                         layer_types=(["conv", "full_attention"] * layers)[:layers], block_auto_adjust_ff_dim=False,
                         pad_token_id=ids("<|pad|>"), bos_token_id=ids("<|startoftext|>"), eos_token_id=ids("<|im_end|>")),
        image_token_id=ids("<image>"), projector_hidden_size=64, downsample_factor=2,
    )
    torch.manual_seed(seed)
    return Lfm2VlForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
