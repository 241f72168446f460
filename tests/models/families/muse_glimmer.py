"""Muse Glimmer: ViT (patch 8 here, 14 released; one window-attention and one full-attention block, 2-D rotary
positions, an interpolated 4 x 4 position table) -> 2 x 2 pixel shuffle -> vision adapter + projection +
RMSNorm -> Muse Glimmer text model (a RoPE sliding block and a NoPE full block) with 1-D positions.

The real ``MuseGlimmerProcessor`` with a reduced Llama-4-style template (the released template is the hub
repo's) and layerdream's images-only video stand-in. Its image processor, ``MuseGlimmerImageProcessor``, is
torchvision-only in transformers 5.24 and torchvision does not import here, so the image slot holds
:class:`MuseGlimmerImageProcessorTwin`: the torchvision class's ``_preprocess`` reproduced independently from
its source (``smart_resize`` over patch x merge cells under ``max_image_tokens``, a resize only when the size
changes, fused float32 rescale + normalise, raster-order patches laid out (temporal, channel, row, column),
``image_grid_thw``), at the class's defaults (ImageNet-standard mean/std 0.5, 2 frames, merge 2) except 8-px
patches and ``max_image_tokens`` 16: a 64-px square, 8 x 8 patches, 4 x 4 tokens (448 px / 16 x 16 released).
The twin resizes other sizes with PIL's LANCZOS (torchvision >= 0.27 runs its own LANCZOS on CPU); that path
is not what the battery's square goes through.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from families import save_checkpoint

FAMILY = "muse_glimmer"
CLASS = "MuseGlimmerForConditionalGeneration"
PATCH, MAX_TOKENS = 8, 16

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|header_start|>{{ message['role'] }}<|header_end|>\n\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|patch|>{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|eot|>{% endfor %}{% if add_generation_prompt %}<|header_start|>assistant<|header_end|>\n\n"
    "{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant", "system"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|begin_of_text|>", "<|eot|>", "<|pad|>", "<|header_start|>", "<|header_end|>", "<|image_start|>",
            "<|image_end|>", "<|patch|>", "<|video|>", "<|vid_frame_separator|>", "<|vid_start|>", "<|vid_end|>", "<unk>"]


def _base():
    from transformers.image_processing_utils import BaseImageProcessor

    return BaseImageProcessor


def _kwargs():
    """The torchvision class's ``valid_kwargs`` (its module cannot be imported here)."""
    from transformers.processing_utils import ImagesKwargs

    class MuseGlimmerTwinKwargs(ImagesKwargs, total=False):
        patch_size: int
        temporal_patch_size: int
        merge_size: int
        max_image_tokens: int

    return MuseGlimmerTwinKwargs


def smart_resize(height: int, width: int, unit: int, max_tokens: int) -> tuple[int, int]:
    """The integer grid of ``unit``-px cells closest to the aspect ratio, at most ``max_tokens`` cells."""
    gh, gw = height / unit, width / unit
    ratio = gw / gh if gh > 0 else 1.0
    if gh * gw > max_tokens:
        gh = (max_tokens / ratio) ** 0.5
        gw = gh * ratio
    options = {(a, b) for a, b in itertools.product([math.floor(gh), math.ceil(gh)], [math.floor(gw), math.ceil(gw)])}
    options = [(a, b) for a, b in options if a >= 1 and b >= 1 and a * b <= max_tokens]
    if not options:
        options = [(max(1, round(gh)), max(1, round(gw)))]
    a, b = min(options, key=lambda g: abs(g[0] / g[1] - height / width))
    return a * unit, b * unit


class MuseGlimmerImageProcessorTwin(_base()):
    """``MuseGlimmerImageProcessor._preprocess`` (transformers 5.24, torchvision backend), rewritten for tests."""

    model_input_names = ["pixel_values", "image_grid_thw"]
    valid_kwargs = _kwargs()

    def __init__(self, patch_size=14, temporal_patch_size=2, merge_size=2, max_image_tokens=4096,
                 image_mean=(0.5, 0.5, 0.5), image_std=(0.5, 0.5, 0.5), rescale_factor=1 / 255, resample=1, **kwargs):
        kwargs.pop("image_processor_type", None)
        super().__init__(**kwargs)
        self.patch_size, self.temporal_patch_size, self.merge_size = patch_size, temporal_patch_size, merge_size
        self.max_image_tokens, self.rescale_factor, self.resample = max_image_tokens, rescale_factor, resample
        self.image_mean, self.image_std = list(image_mean), list(image_std)

    def get_number_of_image_patches(self, height, width, images_kwargs=None) -> int:
        h, w = smart_resize(height, width, self.patch_size * self.merge_size, self.max_image_tokens)
        return (h // self.patch_size) * (w // self.patch_size)

    def preprocess(self, images, return_tensors=None, do_rescale=True, do_normalize=True, **kwargs):
        import torch
        from PIL import Image
        from transformers import BatchFeature

        images = images if isinstance(images, (list, tuple)) else [images]
        images = [im for sub in images for im in (sub if isinstance(sub, (list, tuple)) else [sub])]
        p, t = self.patch_size, self.temporal_patch_size
        values, grids = [], []
        for image in images:
            image = image.convert("RGB")
            th, tw = smart_resize(image.height, image.width, p * self.merge_size, self.max_image_tokens)
            if (th, tw) != (image.height, image.width):
                image = image.resize((tw, th), Image.Resampling(self.resample))
            x = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float()
            if do_rescale and do_normalize:  # fused as the torchvision backend does: (k - 255 mean) / (255 std)
                x = (x - torch.tensor(self.image_mean).view(3, 1, 1) / self.rescale_factor) / (
                    torch.tensor(self.image_std).view(3, 1, 1) / self.rescale_factor)
            elif do_rescale:
                x = x * self.rescale_factor
            gh, gw = th // p, tw // p
            patches = x.reshape(3, gh, p, gw, p).permute(1, 3, 0, 2, 4)  # gh, gw, c, ph, pw
            patches = patches.unsqueeze(2).expand(gh, gw, t, 3, p, p).reshape(gh * gw, t * 3 * p * p)
            values.append(patches)
            grids.append([1, gh, gw])
        return BatchFeature({"pixel_values": torch.cat(values), "image_grid_thw": torch.tensor(grids)},
                            tensor_type=return_tensors)


def register_twin(config_cls=None) -> None:
    from transformers import AutoImageProcessor, MuseGlimmerConfig

    AutoImageProcessor.register(config_cls or MuseGlimmerConfig, image_processor_classes={
        "torchvision": MuseGlimmerImageProcessorTwin, "pil": MuseGlimmerImageProcessorTwin}, exist_ok=True)


def tokenizer():
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n", "\n\n"], chat_template=CHAT_TEMPLATE,
                               bos_token="<|begin_of_text|>", eos_token="<|eot|>", pad_token="<|pad|>", unk_token="<unk>",
                               extra_special_tokens={})
    tok.add_tokens(SPECIALS[1:12], special_tokens=True)
    return tok


def vision_config() -> dict:
    return dict(patch_size=PATCH, pos_emb_height=4, pos_emb_width=4, max_position_embeddings=16, num_attention_heads=2,
                num_hidden_layers=2, hidden_size=32, intermediate_size=64, patch_temporal=2, merge_size=2,
                layer_types=["window_attention", "full_attention"])


def text_config(tok, layers: int) -> dict:
    ids = tok.convert_tokens_to_ids
    return dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=512, sliding_window=64,
                pad_token_id=ids("<|pad|>"), bos_token_id=ids("<|begin_of_text|>"), eos_token_id=ids("<|eot|>"))


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import MuseGlimmerConfig, MuseGlimmerForConditionalGeneration, MuseGlimmerProcessor

    from layerdream.models.processors import images_only_video_processor, make_processor

    register_twin()
    tok = tokenizer()
    ids = tok.convert_tokens_to_ids
    image_processor = MuseGlimmerImageProcessorTwin(patch_size=PATCH, max_image_tokens=MAX_TOKENS)
    video = images_only_video_processor("MuseGlimmerVideoProcessor", patch_size=PATCH, merge_size=2, temporal_patch_size=2)
    processor = make_processor(MuseGlimmerProcessor, image_processor=image_processor, video_processor=video, tokenizer=tok,
                               chat_template=CHAT_TEMPLATE)
    config = MuseGlimmerConfig(vision_config=vision_config(), text_config=text_config(tok, layers),
                               image_token_id=ids("<|patch|>"), video_token_id=ids("<|video|>"), out_hidden_size=32 * 4,
                               projector_hidden_size=64)
    torch.manual_seed(seed)
    return MuseGlimmerForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
