"""Inkling (``InklingForConditionalGeneration``, ``model_type`` ``inkling_mm_model``): an encoder-free vision path, a
hierarchical per-patch MLP (``InklingVisionModel``: each 2-frame p x p patch folded and projected on its own, no
attention across patches) whose output is one token per patch, scattered into a text model of pre-norm blocks
(sliding / full attention with relative logits, short convolutions, dense and MoE MLPs); a dMel audio path the
image prompt never uses.

The tiny checkpoint: patch 5 (the released 40), temporal patch 2, 3 vision layers (scales base -> 5 x 5 -> 5 x 5 ->
2 frames: no scipy ``linear_sum_assignment``, and the temporal scale only at the last layer, whose width the model
replaces by the text width; see docs/families/inkling.md on ``plan_out_scales``), 2 text blocks (sliding then full; dense then MoE with 4
experts top-2 + a shared one). ``InklingProcessor`` with the real ``InklingFeatureExtractor`` and a reduced
template (the released one was not readable offline). Its image processor, ``InklingImageProcessor``, is
torchvision-only in transformers 5.24 (its module imports torchvision) and torchvision does not import here, so
the image slot holds :class:`InklingImageProcessorTwin`: the class's ``_preprocess`` reproduced independently
from its source (optional long-edge pre-scaling, ``divide_to_patches`` with its ``width // p + 1`` columns, the
-1.0 fill of partial patches before the fused rescale + normalise, the temporal repeat and the (N, T, p, p, C)
permute, ``num_patches``). tests/models/test_inkling_mm_model.py checks the twin's patch count rule.
"""
from __future__ import annotations

import math

import numpy as np

from families import save_checkpoint

FAMILY = "inkling_mm_model"
CLASS = "InklingForConditionalGeneration"
PATCH = 5

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|content_image|><|unused_200054|>{% elif item['type'] == 'text' %}"
    "{{ item['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant", "system"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<pad>", "<unk>", "<|begin|>", "<|im_end|>", "<|im_start|>", "<|unused_200054|>", "<|unused_200053|>",
            "<|content_image|>", "<|content_audio_input|>"]


def _base():
    from transformers.image_processing_utils import BaseImageProcessor

    return BaseImageProcessor


def _kwargs():
    """The torchvision class's ``valid_kwargs`` (its module cannot be imported here)."""
    from transformers.processing_utils import ImagesKwargs

    class InklingTwinKwargs(ImagesKwargs, total=False):
        rescale_image_frac: float | None
        rescale_image_max_upscaled_long_edge: int | None

    return InklingTwinKwargs


def patch_counts(height: int, width: int, patch: int) -> tuple[int, int]:
    """Rows and columns of ``divide_to_patches``: ceil(h / p) rows, ``w // p + 1`` columns (one more than needed when
    p divides w: a column of pure padding)."""
    return (height + patch - 1) // patch, width // patch + 1


class InklingImageProcessorTwin(_base()):
    """``InklingImageProcessor._preprocess`` (transformers 5.24, torchvision backend), for tests where torchvision
    cannot be imported. The optional pre-scaling resize is torch's antialiased bicubic (the class uses LANCZOS
    through torchvision; never exercised at the defaults, ``rescale_image_frac`` None)."""

    model_input_names = ["pixel_values"]
    valid_kwargs = _kwargs()

    def __init__(self, size=None, image_mean=(0.48145466, 0.4578275, 0.40821073),
                 image_std=(0.26862954, 0.26130258, 0.27577711), rescale_factor=1 / 255, resample=1,
                 rescale_image_frac=None, rescale_image_max_upscaled_long_edge=2048, **kwargs):
        kwargs.pop("image_processor_type", None)
        super().__init__(**kwargs)
        self.size = dict(size or {"height": 40, "width": 40})
        self.image_mean, self.image_std, self.rescale_factor = list(image_mean), list(image_std), rescale_factor
        self.resample, self.rescale_image_frac = resample, rescale_image_frac
        self.rescale_image_max_upscaled_long_edge = rescale_image_max_upscaled_long_edge

    def preprocess(self, images, return_tensors=None, do_rescale=True, do_normalize=True, **kwargs):
        import torch
        import torch.nn.functional as F
        from transformers import BatchFeature

        flat, stack = [], [images]
        while stack:  # the processor nests images per sample
            item = stack.pop(0)
            if isinstance(item, (list, tuple)):
                stack[:0] = list(item)
            else:
                flat.append(item)
        p = int(self.size["height"])
        mean = torch.tensor(self.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.image_std).view(1, 3, 1, 1)
        values, counts = [], []
        for image in flat:
            x = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)[None]
            if self.rescale_image_frac is not None:
                h, w = x.shape[-2:]
                target = max(h, w) * self.rescale_image_frac
                if self.rescale_image_max_upscaled_long_edge is not None:
                    target = min(target, max(self.rescale_image_max_upscaled_long_edge, max(h, w)))
                ratio = target / max(h, w)
                if ratio != 1.0:
                    size = (math.floor(h * ratio + 0.5), math.floor(w * ratio + 0.5))
                    x = F.interpolate(x.float(), size=size, mode="bicubic", antialias=True).round().clamp(0, 255)
            rows, cols = patch_counts(x.shape[-2], x.shape[-1], p)
            canvas = torch.full((1, 3, rows * p, cols * p), -1.0)  # partial patches padded with -1.0
            canvas[..., : x.shape[-2], : x.shape[-1]] = x.float()
            if do_rescale and do_normalize:  # fused as the torchvision backend does: (k - 255 mean) / (255 std)
                canvas = (canvas - mean / self.rescale_factor) / (std / self.rescale_factor)
            elif do_rescale:
                canvas = canvas * self.rescale_factor
            patches = canvas.reshape(3, rows, p, cols, p).permute(1, 3, 0, 2, 4).reshape(rows * cols, 3, p, p)
            values.append(patches[..., None].repeat(1, 1, 1, 1, 2))
            counts.append(rows * cols)
        pixel_values = torch.cat(values).permute(0, 4, 2, 3, 1)  # (N, T, p, p, C)
        return BatchFeature({"pixel_values": pixel_values, "num_patches": torch.tensor(counts)}, tensor_type=return_tensors)


def register_twin() -> None:
    from transformers import AutoImageProcessor, InklingConfig

    AutoImageProcessor.register(InklingConfig, image_processor_classes={
        "torchvision": InklingImageProcessorTwin, "pil": InklingImageProcessorTwin}, exist_ok=True)


def build_tokenizer():
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token="<|begin|>", eos_token="<|im_end|>", pad_token="<pad>", unk_token="<unk>",
                               extra_special_tokens={})
    tok.add_tokens(SPECIALS[3:], special_tokens=True)
    return tok


def build_model_and_processor(*, seed: int = 0):
    import torch
    from transformers import InklingConfig, InklingFeatureExtractor, InklingForConditionalGeneration, InklingProcessor

    register_twin()
    tok = build_tokenizer()
    ids = tok.convert_tokens_to_ids
    image_processor = InklingImageProcessorTwin(size={"height": PATCH, "width": PATCH})
    processor = InklingProcessor(feature_extractor=InklingFeatureExtractor(), image_processor=image_processor,
                                 tokenizer=tok, chat_template=CHAT_TEMPLATE)
    config = InklingConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, head_dim=8, swa_num_attention_heads=2, swa_num_key_value_heads=1,
                         swa_head_dim=8, sliding_window_size=64, d_rel=4, rel_extent=16, local_layer_ids=[0],
                         mlp_layer_types=["dense", "sparse"], intermediate_size=32, moe_intermediate_size=16,
                         n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1, max_position_embeddings=512,
                         pad_token_id=ids("<pad>"), bos_token_id=ids("<|begin|>"), eos_token_id=ids("<|im_end|>")),
        vision_config=dict(text_hidden_size=16, patch_size=PATCH, temporal_patch_size=2, num_hidden_layers=3),
        audio_config=dict(text_hidden_size=16, n_mel_bins=4, mel_vocab_size=16),
        image_token_id=ids("<|unused_200054|>"), audio_token_id=ids("<|unused_200053|>"),
        image_bos_token_id=ids("<|content_image|>"), audio_bos_token_id=ids("<|content_audio_input|>"),
    )
    torch.manual_seed(seed)
    return InklingForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
