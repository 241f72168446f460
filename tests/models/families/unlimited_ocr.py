"""Unlimited-OCR: SAM ViT -> two stride-2 convolutions -> a CLIP encoder over those maps (as its patch
embeddings); per place [CLIP output, SAM feature] -> linear -> a DeepSeek-V2-style MoE LM. The global view's
n x n tokens sit row-major, each row closed by the learned ``image_newline``, the last by ``view_separator``.

``UnlimitedOcrImageProcessor`` is torchvision-only in transformers 5.24 and torchvision does not import
here, so the image slot holds :class:`UnlimitedOcrImageProcessorTwin`: the torchvision class's
``_preprocess`` rewritten from its source (tiles past ``tile_size`` on the best-fit canvas, the global view
resized to ``max(size)`` keeping the aspect ratio and padded to a square with ``background_color``, centred;
rescale and normalise fused in float32), with torch's antialiased bicubic on the uint8 tensor, which is
what torchvision's ``resize`` runs on CPU for a uint8 image and BICUBIC. It runs at the class's defaults
(``crop_to_patches``, 2-32 tiles, BICUBIC, mean = std = 0.5) but the tiny sizes: a 32-px ``tile_size`` and a
64-px global view, so a 32-px picture takes the global-only path (enlarged to 64 px) as a 640-px one does
(to 1024). The real ``UnlimitedOcrProcessor`` with ``patch_size=4`` counts 4 x (4 + 1) + 1 tokens. SAM reads
64 px in 4-px patches (16 x 16, one windowed block) -> 4 x 4 maps, the CLIP encoder's own 16-px / 4-px
position grid (4 x 4, as 224 / 14 = 16 x 16 meets SAM's 16 x 16 on the released model). No chat template.
"""
from __future__ import annotations

import numpy as np

from families import save_checkpoint

FAMILY = "unlimited_ocr"
CLASS = "UnlimitedOcrForConditionalGeneration"
#: the global view is the picture enlarged by torch's antialiased bicubic on uint8 (rounded); ours is PIL's
#: filter unrounded, the same kernel: under one uint8 step per pass (two passes), over the 0.5 std
PIXEL_ATOL = 2 * 2 / 255

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "free", "ocr", "."]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>", "<image>"]


def _image_processor_base():
    from transformers.image_processing_utils import BaseImageProcessor

    return BaseImageProcessor


class UnlimitedOcrImageProcessorTwin(_image_processor_base()):
    """``UnlimitedOcrImageProcessor._preprocess`` (transformers 5.24, torchvision backend) rewritten with numpy
    and torch for tests where torchvision cannot be imported."""

    model_input_names = ["pixel_values", "num_local_patches", "patches_grid"]

    def __init__(self, size=None, tile_size=640, crop_to_patches=True, min_patches=2, max_patches=32,
                 image_mean=(0.5, 0.5, 0.5), image_std=(0.5, 0.5, 0.5), rescale_factor=1 / 255, resample=3,
                 background_color=(127, 127, 127), maximum_pad_value=640, **kwargs):
        kwargs.pop("image_processor_type", None)
        super().__init__(**kwargs)
        self.size = dict(size or {"height": 1024, "width": 1024})
        self.tile_size, self.crop_to_patches = tile_size, crop_to_patches
        self.min_patches, self.max_patches = min_patches, max_patches
        self.image_mean, self.image_std = list(image_mean), list(image_std)
        self.rescale_factor, self.resample = rescale_factor, resample
        self.background_color, self.maximum_pad_value = list(background_color), maximum_pad_value

    @staticmethod
    def _resize(x, h: int, w: int):
        import torch.nn.functional as F

        if x.shape[-2:] == (h, w):
            return x
        return F.interpolate(x, size=(h, w), mode="bicubic", antialias=True, align_corners=False)  # uint8 in, uint8 out

    def _pad_to_square(self, x):
        import torch

        h, w = x.shape[-2:]
        if h == w:
            return x
        side = max(h, w)
        out = torch.tensor(self.background_color, dtype=x.dtype).view(1, 3, 1, 1).expand(1, 3, side, side).clone()
        top, left = (side - h) // 2, (side - w) // 2
        out[..., top:top + h, left:left + w] = x
        return out

    def _scale(self, x, do_rescale: bool, do_normalize: bool):
        import torch

        if do_rescale and do_normalize:  # fused, as the torchvision backend: (x - 255 mean) / (255 std) in float32
            mean = torch.tensor(self.image_mean, dtype=torch.float32).view(1, 3, 1, 1) / self.rescale_factor
            std = torch.tensor(self.image_std, dtype=torch.float32).view(1, 3, 1, 1) / self.rescale_factor
            return (x.float() - mean) / std
        if do_normalize:
            mean = torch.tensor(self.image_mean).view(1, 3, 1, 1)
            return (x.float() - mean) / torch.tensor(self.image_std).view(1, 3, 1, 1)
        return x.float() * self.rescale_factor if do_rescale else x

    def preprocess(self, images, return_tensors=None, do_rescale=True, do_normalize=True, **kwargs):
        import torch
        from transformers import BatchFeature
        from transformers.models.deepseek_ocr2.image_processing_pil_deepseek_ocr2 import get_optimal_tiled_canvas

        images = images if isinstance(images, (list, tuple)) else [images]
        tile, target = self.tile_size, max(self.size["height"], self.size["width"])
        views, local, counts, grids = [], [], [], []
        for image in images:
            x = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)[None]  # uint8
            h, w = x.shape[-2:]
            if self.crop_to_patches and max(h, w) > tile:
                cols, rows = get_optimal_tiled_canvas((h, w), (tile, tile), self.min_patches, self.max_patches)
                big = self._resize(x, rows * tile, cols * tile)
                for i in range(rows * cols):
                    r, c = divmod(i, cols)
                    local.append(self._scale(big[..., r * tile:(r + 1) * tile, c * tile:(c + 1) * tile],
                                             do_rescale, do_normalize)[0])
                counts.append(rows * cols)
            else:
                cols, rows = 1, 1
                counts.append(0)
            grids.append([cols, rows])
            if not self.crop_to_patches and target <= self.maximum_pad_value:
                view = self._resize(x, target, target)
            else:
                scale = target / max(h, w)
                view = self._pad_to_square(self._resize(x, round(h * scale), round(w * scale)))
            views.append(self._scale(view, do_rescale, do_normalize)[0])
        data = {"pixel_values": torch.stack(views), "num_local_patches": counts, "patches_grid": grids}
        if local:
            data["pixel_values_local"] = torch.stack(local)
        return BatchFeature(data)  # tensors already; the counts and grids stay lists (skip_tensor_conversion)


def register_twin() -> None:
    """Let AutoImageProcessor find the twin for an Unlimited-OCR folder (only where torchvision is missing)."""
    from transformers import AutoImageProcessor, UnlimitedOcrConfig

    AutoImageProcessor.register(UnlimitedOcrConfig, image_processor_classes={"torchvision": UnlimitedOcrImageProcessorTwin,
                                                                             "pil": UnlimitedOcrImageProcessorTwin},
                                exist_ok=True)


def reference_prompt(processor, pil) -> list[int]:
    """No template: the raw prompt is the image placeholder, the tokenizer adding its BOS (as a user's call)."""
    return list(processor(text="<image>", images=pil)["input_ids"][0])


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import UnlimitedOcrConfig, UnlimitedOcrForConditionalGeneration
    from transformers.models.unlimited_ocr.processing_unlimited_ocr import UnlimitedOcrProcessor

    from layerdream.models.tiny import build_word_tokenizer

    register_twin()
    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n", ":"], chat_template=None,
                               bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
                               extra_special_tokens={"image_token": "<image>"})
    tok.add_tokens(SPECIALS[4:], special_tokens=True)
    tok.add_bos_token = True
    ids = tok.convert_tokens_to_ids
    image_processor = UnlimitedOcrImageProcessorTwin(size={"height": 64, "width": 64}, tile_size=32)
    processor = UnlimitedOcrProcessor(image_processor=image_processor, tokenizer=tok, patch_size=4)
    config = UnlimitedOcrConfig(
        vision_config=dict(
            sam_config=dict(hidden_size=16, output_channels=16, num_hidden_layers=1, num_attention_heads=2, image_size=64,
                            patch_size=4, window_size=8, global_attn_indexes=[], mlp_dim=32, downsample_channels=[16, 32]),
            encoder_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                image_size=16, patch_size=4)),
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         mlp_layer_types=["dense"] + ["sparse"] * (layers - 1), n_routed_experts=4, num_experts_per_tok=2,
                         n_shared_experts=1, moe_intermediate_size=16, sliding_window=8, pad_token_id=ids("<pad>"),
                         bos_token_id=ids("<bos>"), eos_token_id=ids("<eos>")),
        image_token_id=ids("<image>"),
    )
    torch.manual_seed(seed)
    model = UnlimitedOcrForConditionalGeneration(config).eval()
    with torch.no_grad():  # SAM's default init (std 1e-10) leaves it at ~zero; the router starts at zero
        for name, weight in model.named_parameters():
            if (name.startswith("model.vision_tower.sam_encoder.") and weight.dim() > 1) or name.endswith("gate.weight"):
                weight.normal_(std=1.0 / weight[0].numel() ** 0.5)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
