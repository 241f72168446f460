"""Llama 4 (Scout layout): ViT (CLS, 2-D RoPE) -> pixel shuffle 0.5 + MLP -> MoE Llama 4 text model
(every block MoE: top-1 of 4 experts + shared expert, as Scout's ``interleave_moe_layer_step`` 1).

The real ``Llama4Processor`` with the real Llama 4 chat template (its default), at its defaults (patch 14,
pixel-shuffle 0.5). Its image processor, ``Llama4ImageProcessor``, is torchvision-only in transformers 5.24
and torchvision does not import here, so the image slot holds :class:`Llama4ImageProcessorTwin`: the
torchvision class's ``_preprocess`` reproduced independently from its source (best-fit canvas of up to
``max_patches`` tiles, no upscaling past ``size``, aspect-preserving resize, zero padding bottom/right,
bfloat16 rescale + normalise, tiles row-major, a global view when there are several), at the class's
defaults (size 336, max_patches 16, mean/std 0.5, BILINEAR). tests/models/test_llama4.py checks the twin
on the arithmetic the source documents (its docstring examples) and the adapter against it.
"""
from __future__ import annotations

import math

import numpy as np

from families import save_checkpoint

FAMILY = "llama4"
CLASS = "Llama4ForConditionalGeneration"

TILE, PATCH = 336, 14  # the class defaults = Scout's; 24 x 24 patches -> 12 x 12 = 144 tokens
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant", "system"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|begin_of_text|>", "<|eot|>", "<|finetune_right_pad|>", "<|header_start|>", "<|header_end|>",
            "<|image_start|>", "<|image_end|>", "<|image|>", "<|patch|>", "<|tile_x_separator|>", "<|tile_y_separator|>",
            "<unk>"]


def _image_processor_base():
    from transformers.image_processing_utils import BaseImageProcessor

    return BaseImageProcessor


class Llama4ImageProcessorTwin(_image_processor_base()):
    """``Llama4ImageProcessor._preprocess`` (transformers 5.24, torchvision backend) rewritten with numpy and
    torch, for tests where torchvision cannot be imported. Resizing is torch's antialiased bilinear on the
    uint8 tensor, which is what torchvision's ``resize`` runs on CPU for a uint8 image."""

    model_input_names = ["pixel_values"]

    def __init__(self, size=None, max_patches=16, resize_to_max_canvas=False, image_mean=(0.5, 0.5, 0.5),
                 image_std=(0.5, 0.5, 0.5), rescale_factor=1 / 255, resample=2, **kwargs):
        kwargs.pop("image_processor_type", None)
        super().__init__(**kwargs)
        self.size = dict(size or {"height": TILE, "width": TILE})
        self.max_patches, self.resize_to_max_canvas = max_patches, resize_to_max_canvas
        self.image_mean, self.image_std = list(image_mean), list(image_std)
        self.rescale_factor, self.resample = rescale_factor, resample

    @staticmethod
    def canvases(max_chunks: int, tile: int) -> list[tuple[int, int]]:
        """Every (rows x tile, cols x tile) with rows x cols <= max_chunks, in the source's order."""
        by_ratio: dict[float, list] = {}
        for n in range(max_chunks, 0, -1):
            for rows in sorted(d for d in range(1, n + 1) if n % d == 0):
                by_ratio.setdefault(rows / (n // rows), []).append((rows, n // rows))
        return [(r * tile, c * tile) for pairs in by_ratio.values() for r, c in pairs]

    def best_canvas(self, h: int, w: int) -> tuple[int, int]:
        tile = self.size["height"]
        options = self.canvases(self.max_patches, tile)
        scales = [min(ch / h, cw / w) for ch, cw in options]
        up = [s for s in scales if s >= 1]
        chosen = (max(up) if self.resize_to_max_canvas else min(up)) if up else max(s for s in scales if s < 1)
        fits = [o for o, s in zip(options, scales) if s == chosen]
        return min(fits, key=lambda o: o[0] * o[1])

    def _resize(self, x, h: int, w: int):
        import torch.nn.functional as F

        if x.shape[-2:] == (h, w):
            return x
        return F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)

    def _scale(self, x, do_rescale: bool, do_normalize: bool):
        import torch

        if not (do_rescale or do_normalize):
            return x
        y = x.to(torch.bfloat16) * self.rescale_factor if do_rescale else x
        if do_normalize:
            mean = torch.tensor(self.image_mean, dtype=y.dtype).view(1, 3, 1, 1)
            std = torch.tensor(self.image_std, dtype=y.dtype).view(1, 3, 1, 1)
            y = (y - mean) / std
        return y

    def preprocess(self, images, return_tensors=None, do_rescale=True, do_normalize=True, **kwargs):
        import torch
        from transformers import BatchFeature

        images = images if isinstance(images, (list, tuple)) else [images]
        tile = self.size["height"]
        out, ratios = [], []
        for image in images:
            x = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)[None]  # uint8
            h, w = x.shape[-2:]
            ch, cw = self.best_canvas(h, w)
            th, tw = (ch, cw) if self.resize_to_max_canvas else (min(max(h, tile), ch), min(max(w, tile), cw))
            if tw / w < th / h:
                nh, nw = min(math.floor(h * tw / w), th), tw
            else:
                nh, nw = th, min(math.floor(w * th / h), tw)
            resized = self._resize(x, max(nh, 1), max(nw, 1))
            canvas = torch.zeros((1, 3, ch, cw), dtype=resized.dtype)
            canvas[..., : resized.shape[-2], : resized.shape[-1]] = resized
            scaled = self._scale(canvas, do_rescale, do_normalize)[0]
            rows, cols = ch // tile, cw // tile
            tiles = scaled.reshape(3, rows, tile, cols, tile).permute(1, 3, 0, 2, 4).reshape(rows * cols, 3, tile, tile)
            if rows * cols > 1:
                tiles = torch.cat([tiles, self._scale(self._resize(x, tile, tile), do_rescale, do_normalize)])
            out.append(tiles)
            ratios.append([rows, cols])
        return BatchFeature({"pixel_values": torch.cat(out), "aspect_ratios": torch.tensor(ratios)},
                            tensor_type=return_tensors)


def register_twin() -> None:
    """Let AutoImageProcessor find the twin for a Llama 4 folder (only where torchvision is missing)."""
    from transformers import AutoImageProcessor, Llama4Config

    # the mapping's torchvision entry is a placeholder class here, which register() refuses: replace both
    AutoImageProcessor.register(Llama4Config, image_processor_classes={"torchvision": Llama4ImageProcessorTwin,
                                                                        "pil": Llama4ImageProcessorTwin}, exist_ok=True)


def tokenizer():
    from transformers.models.llama4.processing_llama4 import chat_template

    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n", "\n\n"], chat_template=chat_template,
                               bos_token="<|begin_of_text|>", eos_token="<|eot|>", pad_token="<|finetune_right_pad|>",
                               unk_token="<unk>", extra_special_tokens={})
    tok.add_tokens(SPECIALS[1:11], special_tokens=True)
    return tok


def build_model_and_processor(*, layers: int = 2, seed: int = 0, experts: int = 4):
    import torch
    from transformers import Llama4Config, Llama4ForConditionalGeneration, Llama4Processor

    register_twin()
    tok = tokenizer()
    ids = tok.convert_tokens_to_ids
    processor = Llama4Processor(image_processor=Llama4ImageProcessorTwin(), tokenizer=tok)
    config = Llama4Config(
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                           vision_output_dim=32, image_size=TILE, patch_size=PATCH, projector_input_dim=32,
                           projector_output_dim=32, pixel_shuffle_ratio=0.5),
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=32, intermediate_size_mlp=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         num_local_experts=experts, num_experts_per_tok=1, interleave_moe_layer_step=1,
                         max_position_embeddings=1024, attention_chunk_size=1024, pad_token_id=ids("<|finetune_right_pad|>"),
                         bos_token_id=ids("<|begin_of_text|>"), eos_token_id=ids("<|eot|>")),
        boi_token_index=ids("<|image_start|>"), eoi_token_index=ids("<|image_end|>"), image_token_index=ids("<|patch|>"),
    )
    torch.manual_seed(seed)
    return Llama4ForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
