"""Nemotron-H Omni (``NemotronH_Omni_Reasoning_V3``): RADIO ViT on row-major patches (+ image_grid_hw) -> pixel
shuffle 0.5 -> RMSNorm + ReLU^2 MLP -> NemotronH, a hybrid of Mamba-2, attention, MLP and MoE blocks on one
residual stream. The class has no ``.model``: the language model is a ``NemotronHForCausalLM`` attribute.

The tiny checkpoint: a RADIO tower (patch 4, one CLS and one register token), 4 text blocks in the order
Mamba-2, attention, MLP, MoE (4 experts top-2 + shared), so early exit is checked at a block of each kind; no
audio tower. ``NemotronH_Omni_Reasoning_V3Processor`` with a reduced ChatML template and the images-only video
stand-in. Its image processor, ``NemotronH_Omni_Reasoning_V3ImageProcessor``, is torchvision-only in
transformers 5.24 (its module imports torchvision) and torchvision does not import here, so the image slot
holds :class:`NemotronHOmniImageProcessorTwin`: the class's ``_preprocess`` reproduced independently from its
source (``get_patch_grid_size`` with its ``round(x + 0.5)``, the patch budget from ``max_model_len``, a
resize only when the grid differs, fused rescale + normalise in float32, ``convert_image_to_patches``
row-major and channel-major, ``image_grid_hw``) at the class's defaults except the tiny patch and a 16..64-patch
budget (a 32-px square, 8 x 8 patches, 4 x 4 tokens; the defaults give 512 px / 16 x 16 at patch 16).
tests/models/test_nemotron_h_omni.py checks the twin's grid arithmetic on the source's documented cases.
"""
from __future__ import annotations

import math

import numpy as np

from families import save_checkpoint

FAMILY = "nemotron_h_omni"
CLASS = "NemotronH_Omni_Reasoning_V3"
PATCH, MIN_PATCHES, MAX_PATCHES = 4, 16, 64
BLOCKS = ["linear_attention", "full_attention", "mlp", "moe"]  # Mamba-2, attention, MLP, MoE

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>\n{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}"
    "{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant", "system"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<pad>", "<unk>", "<s>", "<|im_end|>", "<|im_start|>", "<image>", "<img>", "</img>", "<video>",
            "<so_embedding>", "<so_start>", "<so_end>"]


def _base():
    from transformers.image_processing_utils import BaseImageProcessor

    return BaseImageProcessor


def _kwargs():
    """The torchvision class's ``valid_kwargs`` (its module cannot be imported here)."""
    from transformers.processing_utils import ImagesKwargs

    class NemotronHOmniTwinKwargs(ImagesKwargs, total=False):
        patch_size: int
        downsample_ratio: float
        min_num_patches: int
        max_num_patches: int
        max_model_len: int

    return NemotronHOmniTwinKwargs


def patch_grid(height: int, width: int, patch: int, merge: int, min_patches: int, max_patches: int) -> tuple[int, int]:
    """``get_patch_grid_size`` of the source, rewritten: Python's ``round`` (half to even) included."""
    gh, gw = round(height / patch + 0.5), round(width / patch + 0.5)
    factor = min(math.sqrt(max_patches / (gh * gw)), 1.0)
    gh, gw = math.floor(factor * gh), math.floor(factor * gw)
    if max_patches > min_patches and gh * gw < min_patches:
        factor = math.sqrt(min_patches / (gh * gw))
        gh, gw = math.ceil(factor * gh), math.ceil(factor * gw)
    if gh % merge:
        gh = gh + merge - gh % merge if (gh + merge - gh % merge) * gw <= max_patches else max(merge, gh - gh % merge)
    if gw % merge:
        gw = gw + merge - gw % merge if gh * (gw + merge - gw % merge) <= max_patches else max(merge, gw - gw % merge)
    return gh, gw


class NemotronHOmniImageProcessorTwin(_base()):
    """``NemotronH_Omni_Reasoning_V3ImageProcessor._preprocess`` (transformers 5.24, torchvision backend), for tests
    where torchvision cannot be imported. A resize (only when the grid differs from the picture) is torch's
    antialiased bicubic in float32, as the source resizes in float32."""

    model_input_names = ["pixel_values", "image_grid_hw"]
    valid_kwargs = _kwargs()

    def __init__(self, patch_size=16, downsample_ratio=0.5, min_num_patches=1024, max_num_patches=13312,
                 max_model_len=16384, image_mean=(0.48145466, 0.4578275, 0.40821073),
                 image_std=(0.26862954, 0.26130258, 0.27577711), rescale_factor=1 / 255, resample=3, **kwargs):
        kwargs.pop("image_processor_type", None)
        super().__init__(**kwargs)
        self.patch_size, self.downsample_ratio = patch_size, downsample_ratio
        self.min_num_patches, self.max_num_patches, self.max_model_len = min_num_patches, max_num_patches, max_model_len
        self.image_mean, self.image_std, self.rescale_factor, self.resample = list(image_mean), list(image_std), rescale_factor, resample

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
        p, merge = self.patch_size, round(1 / self.downsample_ratio)
        budget = max((self.max_model_len - 4) * merge ** 2, self.min_num_patches * len(flat))
        if self.max_num_patches:
            budget = min(budget, self.max_num_patches)
        budget = max(budget, self.min_num_patches)
        values, grids = [], []
        for image in flat:
            x = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)[None].float()
            gh, gw = patch_grid(x.shape[-2], x.shape[-1], p, merge, self.min_num_patches, budget)
            if tuple(x.shape[-2:]) != (gh * p, gw * p):
                x = F.interpolate(x, size=(gh * p, gw * p), mode="bicubic", antialias=True, align_corners=False)
            if do_rescale and do_normalize:  # fused as the torchvision backend does: (k - 255 mean) / (255 std)
                mean = torch.tensor(self.image_mean).view(1, 3, 1, 1) / self.rescale_factor
                std = torch.tensor(self.image_std).view(1, 3, 1, 1) / self.rescale_factor
                x = (x - mean) / std
            elif do_rescale:
                x = x * self.rescale_factor
            patches = x.reshape(1, 3, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5).reshape(gh * gw, 3 * p * p)
            values.append(patches)
            grids.append(torch.tensor([gh, gw]))
        return BatchFeature({"pixel_values": torch.cat(values), "image_grid_hw": torch.stack(grids)},
                            tensor_type=return_tensors)


def register_twin() -> None:
    from transformers import AutoImageProcessor, NemotronH_Omni_Reasoning_V3_Config

    AutoImageProcessor.register(NemotronH_Omni_Reasoning_V3_Config, image_processor_classes={
        "torchvision": NemotronHOmniImageProcessorTwin, "pil": NemotronHOmniImageProcessorTwin}, exist_ok=True)


def build_tokenizer():
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token=None, eos_token="<|im_end|>", pad_token="<pad>", unk_token="<unk>",
                               extra_special_tokens={})
    tok.add_tokens(SPECIALS[3:], special_tokens=True)
    return tok


def build_model_and_processor(*, seed: int = 0):
    import torch
    from transformers import NemotronH_Omni_Reasoning_V3, NemotronH_Omni_Reasoning_V3_Config, ParakeetFeatureExtractor
    from transformers.models.nemotron_h_omni.processing_nemotron_h_omni import NemotronH_Omni_Reasoning_V3Processor

    from layerdream.models.processors import images_only_video_processor, make_processor

    register_twin()
    tok = build_tokenizer()
    ids = tok.convert_tokens_to_ids
    image_processor = NemotronHOmniImageProcessorTwin(patch_size=PATCH, min_num_patches=MIN_PATCHES,
                                                     max_num_patches=MAX_PATCHES)
    video = images_only_video_processor("NemotronH_Omni_Reasoning_V3VideoProcessor", patch_size=PATCH)
    processor = make_processor(NemotronH_Omni_Reasoning_V3Processor, image_processor=image_processor, tokenizer=tok,
                               video_processor=video, feature_extractor=ParakeetFeatureExtractor(), chat_template=CHAT_TEMPLATE)
    config = NemotronH_Omni_Reasoning_V3_Config(
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, patch_size=PATCH, image_size=32,
                           max_img_size=64, num_cls_tokens=1, num_registers=1, mlp_ratio=2.0, video_temporal_patch_size=2),
        text_config=dict(vocab_size=len(tok), hidden_size=32, layers_block_type=BLOCKS, num_attention_heads=2,
                         num_key_value_heads=1, head_dim=16, intermediate_size=64, ssm_state_size=8, mamba_num_heads=4,
                         mamba_head_dim=16, n_groups=1, chunk_size=16, n_routed_experts=4, num_experts_per_tok=2,
                         moe_intermediate_size=32, moe_shared_expert_intermediate_size=32,
                         max_position_embeddings=256, pad_token_id=ids("<pad>"), bos_token_id=None,
                         eos_token_id=ids("<|im_end|>")),
        audio_config=None, projector_hidden_size=64, vision_hidden_size=32, image_token_id=ids("<image>"),
        video_token_id=ids("<video>"), audio_token_id=ids("<so_embedding>"),
    )
    torch.manual_seed(seed)
    return NemotronH_Omni_Reasoning_V3(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
