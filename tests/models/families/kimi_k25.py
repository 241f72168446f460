"""Kimi K2.5: a native-resolution ViT (conv patch embedding, learned position grid resampled bicubically, 2-D
RoPE, attention within each image) -> 2x2 window pooling -> LayerNorm + MLP projector -> DeepSeek-V3 MoE text
model (MLA attention, sigmoid-routed experts + shared experts), 1-D positions.

The processor is the real ``Kimi_K25Processor`` with an images-only video slot. Its image processor,
``Kimi_K25ImageProcessor``, is torchvision-only in transformers 5.24 and torchvision does not import here, so
the image slot holds :class:`KimiK25ImageProcessorTwin`: the torchvision class's arithmetic reproduced
independently from its source (``navit_resize``: shrink to the patch budget, never enlarge, zero-pad the
bottom/right to a multiple of patch x merge; fused rescale + normalise in float32 with mean/std 0.5; raster
patches (n, 3, p, p); ``image_grid_thw``). Its resize branch (an image over the budget) is torch's
antialiased bicubic on the uint8 image, rounded, standing in for torchvision's (the battery never takes
it: the fixed square and the test photo fit the budget). The tiny geometry: patch 8, merge 2,
``max_patches`` 64 (a 64-px square is 8 x 8 patches, 4 x 4 tokens; the release: patch 14, 16384 patches,
448 px / 16 x 16 fixed). Text model: 2 blocks, both MoE (``first_k_dense_replace`` 0), 4 routed experts
top-2 + 1 shared. The template is a reduced Kimi one (``<|im_user|>user<|im_middle|>`` ... with the image as
``<|media_begin|>image<|media_content|><|media_pad|><|media_end|>``), no BOS.
"""
from __future__ import annotations

import math

import numpy as np

from families import save_checkpoint

FAMILY = "kimi_k25"
CLASS = "Kimi_K25ForConditionalGeneration"
PATCH, MERGE, MAX_PATCHES = 8, 2, 64
EXPERTS, TOP_K = 4, 2

CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}<|im_user|>user<|im_middle|>"
    "{% elif message['role'] == 'assistant' %}<|im_assistant|>assistant<|im_middle|>"
    "{% else %}<|im_system|>system<|im_middle|>{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|media_begin|>image<|media_content|><|media_pad|><|media_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>{% endfor %}"
    "{% if add_generation_prompt %}<|im_assistant|>assistant<|im_middle|>{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant", "system"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "big", "small"]
SPECIALS = ["[PAD]", "[BOS]", "[EOS]", "[UNK]", "<|im_user|>", "<|im_assistant|>", "<|im_system|>", "<|im_middle|>",
            "<|im_end|>", "<|media_begin|>", "<|media_content|>", "<|media_end|>", "<|media_pad|>",
            "<|kimi_k25_video_placeholder|>"]


def navit_resize(height, width, patch_size, merge_kernel_size, max_patches, max_size_per_side):
    """transformers 5.24 ``image_processing_kimi_k25.navit_resize``, rewritten: (resized, padded) sizes."""
    patches = max(1.0, height // patch_size) * max(1.0, width // patch_size)
    scale = min(1.0, math.sqrt(max_patches / patches), max_size_per_side * patch_size / height,
                max_size_per_side * patch_size / width)
    new_h = min(max(1, int(height * scale)), max_size_per_side * patch_size)
    new_w = min(max(1, int(width * scale)), max_size_per_side * patch_size)
    factor = merge_kernel_size * patch_size
    return (new_h, new_w), (-(-new_h // factor) * factor, -(-new_w // factor) * factor)


def _base():
    from transformers.image_processing_utils import BaseImageProcessor

    return BaseImageProcessor


def _kwargs():
    from transformers.processing_utils import ImagesKwargs

    class KimiK25TwinKwargs(ImagesKwargs, total=False):
        max_patches: int
        patch_size: int
        merge_size: int

    return KimiK25TwinKwargs


class KimiK25ImageProcessorTwin(_base()):
    """``Kimi_K25ImageProcessor`` (transformers 5.24, torchvision backend) rewritten for tests where torchvision
    cannot be imported; its class defaults unless told otherwise."""

    model_input_names = ["pixel_values", "image_grid_thw"]
    valid_kwargs = _kwargs()

    def __init__(self, size=None, max_patches=16384, patch_size=14, merge_size=2, image_mean=(0.5, 0.5, 0.5),
                 image_std=(0.5, 0.5, 0.5), rescale_factor=1 / 255, resample=3, **kwargs):
        kwargs.pop("image_processor_type", None)
        super().__init__(**kwargs)
        self.size = dict(size or {"max_height": 512, "max_width": 512})
        self.max_patches, self.patch_size, self.merge_size = max_patches, patch_size, merge_size
        self.image_mean, self.image_std = list(image_mean), list(image_std)
        self.rescale_factor, self.resample = rescale_factor, resample

    def preprocess(self, images, return_tensors=None, do_rescale=True, do_normalize=True, **kwargs):
        import torch
        import torch.nn.functional as F
        from transformers import BatchFeature

        images = images if isinstance(images, (list, tuple)) else [images]
        images = [im for sub in images for im in (sub if isinstance(sub, (list, tuple)) else [sub])]
        p = self.patch_size
        values, grids = [], []
        for image in images:
            x = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)[None]
            h, w = x.shape[-2:]
            (th, tw), (ph, pw) = navit_resize(h, w, p, self.merge_size, self.max_patches, self.size["max_height"])
            if (th, tw) != (h, w):
                x = F.interpolate(x.float(), size=(th, tw), mode="bicubic", antialias=True, align_corners=False)
                x = x.round().clamp(0, 255).to(torch.uint8)
            x = F.pad(x, (0, pw - tw, 0, ph - th)).float()
            if do_rescale and do_normalize:  # fused as the torchvision backend does: (k - 255 mean) / (255 std)
                x = (x - torch.tensor(self.image_mean).view(1, 3, 1, 1) / self.rescale_factor) / (
                    torch.tensor(self.image_std).view(1, 3, 1, 1) / self.rescale_factor)
            elif do_rescale:
                x = x * self.rescale_factor
            gh, gw = ph // p, pw // p
            values.append(x.reshape(3, gh, p, gw, p).permute(1, 3, 0, 2, 4).reshape(gh * gw, 3, p, p))
            grids.append([1, gh, gw])
        data = {"pixel_values": torch.cat(values), "image_grid_thw": torch.tensor(grids, dtype=torch.long)}
        return BatchFeature(data, tensor_type=return_tensors)


def register_twin() -> None:
    from transformers import AutoImageProcessor, Kimi_K25Config

    AutoImageProcessor.register(Kimi_K25Config, image_processor_classes={"torchvision": KimiK25ImageProcessorTwin,
                                                                          "pil": KimiK25ImageProcessorTwin}, exist_ok=True)


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import Kimi_K25Config, Kimi_K25ForConditionalGeneration, Kimi_K25Processor

    from layerdream.models.processors import images_only_video_processor, make_processor
    from layerdream.models.tiny import build_word_tokenizer

    register_twin()
    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=[], chat_template=CHAT_TEMPLATE,
                               bos_token="[BOS]", eos_token="[EOS]", pad_token="[PAD]", unk_token="[UNK]",
                               extra_special_tokens={})
    tok.add_tokens(SPECIALS[4:], special_tokens=True)
    ids = tok.convert_tokens_to_ids
    image_processor = KimiK25ImageProcessorTwin(max_patches=MAX_PATCHES, patch_size=PATCH, merge_size=MERGE)
    video = images_only_video_processor("Kimi_K25VideoProcessor", patch_size=PATCH, merge_size=MERGE, temporal_patch_size=4)
    processor = make_processor(Kimi_K25Processor, image_processor=image_processor, tokenizer=tok, video_processor=video,
                               chat_template=CHAT_TEMPLATE)
    config = Kimi_K25Config(
        vision_config=dict(patch_size=PATCH, pos_emb_height=8, pos_emb_width=8, num_attention_heads=2, num_hidden_layers=2,
                           hidden_size=32, intermediate_size=64, merge_kernel_size=[MERGE, MERGE]),
        text_config=dict(model_type="deepseek_v3", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         moe_intermediate_size=16, num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                         n_routed_experts=EXPERTS, num_experts_per_tok=TOP_K, n_shared_experts=1, n_group=1, topk_group=1,
                         first_k_dense_replace=0, q_lora_rank=16, kv_lora_rank=16, qk_rope_head_dim=8,
                         qk_nope_head_dim=8, v_head_dim=16, max_position_embeddings=512, pad_token_id=ids("[PAD]"),
                         bos_token_id=ids("[BOS]"), eos_token_id=ids("[EOS]")),
        projection_hidden_size=32, image_token_id=ids("<|media_pad|>"), video_token_id=ids("<|kimi_k25_video_placeholder|>"),
        vision_start_token_id=ids("<|media_begin|>"), vision_end_token_id=ids("<|media_end|>"), tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return Kimi_K25ForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
