"""Gemma 4 Unified: encoder-free (merged raw pixel patches -> LayerNorm / Linear / LayerNorm + factorised
2-D position embedding -> RMSNorm -> Linear) -> Gemma 4 Unified text model (bidirectional image block via
``mm_token_type_ids``).

The real ``Gemma4UnifiedProcessor`` with Gemma 4's reduced -it template (``\\n\\n<|image|>\\n\\n``), the real
audio feature extractor and layerdream's images-only video stand-in. Its image processor,
``Gemma4UnifiedImageProcessor``, is torchvision-only in transformers 5.24 and torchvision does not import here,
so the image slot holds :class:`Gemma4UnifiedImageProcessorTwin`: the torchvision class's ``_preprocess``
reproduced independently from its source (``get_aspect_ratio_preserving_size``, antialiased bicubic resize
only when the size changes, float32 rescale, no normalisation, merged patches, (x, y) positions of the
merged patches, padding to ``max_soft_tokens`` with zeros / (-1, -1), ``num_soft_tokens_per_image``), at the
class's defaults (mean 0 / std 1, BICUBIC, pooling 3) except 2-px patches and the smallest budget, 70 soft
tokens: a square picture becomes 48 px, 8 x 8 merged 6-px patches (768 px / 16 x 16 released).
tests/models/test_gemma4_unified.py checks the twin's merge against the source's ``patches_merge``.
"""
from __future__ import annotations

import math

import numpy as np

from families import save_checkpoint
from families.gemma4 import BASELINE, CHAT_TEMPLATE, MEDIA, WORDS

FAMILY = "gemma4_unified"
CLASS = "Gemma4UnifiedForConditionalGeneration"
PATCH, BUDGET, POOL = 2, 70, 3


def _base():
    from transformers.image_processing_utils import BaseImageProcessor

    return BaseImageProcessor


def _kwargs():
    """The torchvision class's ``valid_kwargs`` (its module cannot be imported here)."""
    from transformers.processing_utils import ImagesKwargs

    class Gemma4UnifiedTwinKwargs(ImagesKwargs, total=False):
        patch_size: int
        max_soft_tokens: int
        pooling_kernel_size: int

    return Gemma4UnifiedTwinKwargs


def target_size(h: int, w: int, patch: int, max_patches: int, pool: int) -> tuple[int, int]:
    """``get_aspect_ratio_preserving_size``: the largest size within the patch budget, sides multiples of pool x patch."""
    factor = math.sqrt(max_patches * patch ** 2 / (h * w))
    step = pool * patch
    th, tw = int(math.floor(factor * h / step)) * step, int(math.floor(factor * w / step)) * step
    longest = (max_patches // pool ** 2) * step
    if th == 0 and tw == 0:
        raise ValueError("resize to 0 x 0")
    if th == 0:
        th, tw = step, min(int(math.floor(w / h)) * step, longest)
    elif tw == 0:
        th, tw = min(int(math.floor(h / w)) * step, longest), step
    return th, tw


class Gemma4UnifiedImageProcessorTwin(_base()):
    """``Gemma4UnifiedImageProcessor._preprocess`` (transformers 5.24, torchvision backend), rewritten for tests
    where torchvision cannot be imported: merged patches are cut directly at (pool x patch) px, pixels in
    (y, x, channel) order, row-major (what ``patches_merge`` of the teacher patches gives; tested)."""

    model_input_names = ["pixel_values", "image_position_ids", "num_soft_tokens_per_image"]
    valid_kwargs = _kwargs()

    def __init__(self, patch_size=16, max_soft_tokens=280, pooling_kernel_size=3, rescale_factor=1 / 255,
                 image_mean=(0.0, 0.0, 0.0), image_std=(1.0, 1.0, 1.0), do_normalize=False, resample=3, **kwargs):
        kwargs.pop("image_processor_type", None)
        super().__init__(**kwargs)
        self.patch_size, self.max_soft_tokens, self.pooling_kernel_size = patch_size, max_soft_tokens, pooling_kernel_size
        self.rescale_factor, self.image_mean, self.image_std = rescale_factor, list(image_mean), list(image_std)
        self.do_normalize, self.resample = do_normalize, resample

    def preprocess(self, images, return_tensors=None, do_rescale=True, do_normalize=None, patch_size=None,
                   max_soft_tokens=None, pooling_kernel_size=None, **kwargs):
        import torch
        import torch.nn.functional as F
        from transformers import BatchFeature

        p = patch_size or self.patch_size
        budget = max_soft_tokens or self.max_soft_tokens
        k = pooling_kernel_size or self.pooling_kernel_size
        normalise = self.do_normalize if do_normalize is None else do_normalize
        flat, stack = [], [images]
        while stack:  # the processor nests images per sample
            item = stack.pop(0)
            if isinstance(item, (list, tuple)):
                stack[:0] = list(item)
            else:
                flat.append(item)
        values, positions, counts = [], [], []
        for image in flat:
            x = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)[None]  # uint8
            th, tw = target_size(x.shape[-2], x.shape[-1], p, budget * k * k, k)
            if (th, tw) != tuple(x.shape[-2:]):
                x = F.interpolate(x, size=(th, tw), mode="bicubic", antialias=True, align_corners=False)
            y = x.float()
            if do_rescale:
                y = y * self.rescale_factor
            if normalise:
                y = (y - torch.tensor(self.image_mean).view(1, 3, 1, 1)) / torch.tensor(self.image_std).view(1, 3, 1, 1)
            m = p * k
            rows, cols = th // m, tw // m
            patches = y[0].reshape(3, rows, m, cols, m).permute(1, 3, 2, 4, 0).reshape(rows * cols, m * m * 3)
            xs, ys = torch.meshgrid(torch.arange(cols), torch.arange(rows), indexing="xy")
            pos = torch.stack([xs, ys], dim=-1).reshape(rows * cols, 2)
            counts.append(rows * cols)
            values.append(F.pad(patches, (0, 0, 0, budget - rows * cols)))
            positions.append(F.pad(pos, (0, 0, 0, budget - rows * cols), value=-1))
        data = {"pixel_values": torch.stack(values), "image_position_ids": torch.stack(positions),
                "num_soft_tokens_per_image": counts}
        return BatchFeature(data, tensor_type=return_tensors)


def register_twin() -> None:
    from transformers import AutoImageProcessor, Gemma4UnifiedConfig

    AutoImageProcessor.register(Gemma4UnifiedConfig, image_processor_classes={
        "torchvision": Gemma4UnifiedImageProcessorTwin, "pil": Gemma4UnifiedImageProcessorTwin}, exist_ok=True)


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import Gemma4UnifiedConfig, Gemma4UnifiedForConditionalGeneration, Gemma4UnifiedProcessor
    from transformers.models.gemma4_unified.feature_extraction_gemma4_unified import Gemma4UnifiedAudioFeatureExtractor

    from layerdream.models.processors import images_only_video_processor, make_processor
    from layerdream.models.tiny import build_word_tokenizer

    register_twin()
    tok = build_word_tokenizer(
        WORDS, special_tokens=["<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>", *MEDIA.values()],
        template_words=["user", "model", "\n"], chat_template=CHAT_TEMPLATE, extra_special_tokens=dict(MEDIA),
    )
    tok.add_tokens(["<|turn>", "<turn|>"], special_tokens=True)
    image_processor = Gemma4UnifiedImageProcessorTwin(patch_size=PATCH, max_soft_tokens=BUDGET, pooling_kernel_size=POOL)
    video = images_only_video_processor("Gemma4UnifiedVideoProcessor", patch_size=PATCH, max_soft_tokens=BUDGET,
                                        pooling_kernel_size=POOL, num_frames=32)
    processor = make_processor(Gemma4UnifiedProcessor, feature_extractor=Gemma4UnifiedAudioFeatureExtractor(),
                               image_processor=image_processor, tokenizer=tok, video_processor=video,
                               chat_template=CHAT_TEMPLATE, image_seq_length=BUDGET)  # adds <|video|>
    ids = tok.convert_tokens_to_ids
    config = Gemma4UnifiedConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         layer_types=["sliding_attention", "full_attention"][:layers] if layers <= 2 else None,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, global_head_dim=16,
                         sliding_window=512, max_position_embeddings=1024, use_bidirectional_attention="vision",
                         pad_token_id=ids("<pad>"), bos_token_id=ids("<bos>"), eos_token_id=ids("<eos>")),
        vision_config=dict(patch_size=PATCH, pooling_kernel_size=POOL, mm_embed_dim=32, mm_posemb_size=16,
                           output_proj_dims=32),
        audio_config=None, image_token_id=ids("<|image|>"), boi_token_id=ids("<|image>"), eoi_token_id=ids("<image|>"),
        video_token_id=ids("<|video|>"), audio_token_id=ids("<|audio|>"), boa_token_id=ids("<|audio>"),
        eoa_token_index=ids("<audio|>"),
    )
    torch.manual_seed(seed)
    model = Gemma4UnifiedForConditionalGeneration(config).eval()
    with torch.no_grad():  # the position table starts at zeros: give the random model a spatial signal
        model.model.embed_vision.pos_embedding.normal_(std=0.5)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
