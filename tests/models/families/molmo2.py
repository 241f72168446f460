"""Molmo2: ViT (no CLS, learned positions, one per patch of a crop) -> features of two ViT layers
concatenated -> attention pooling of each 2 x 2 patch window (the pooling-index tensor) + SwiGLU projector,
*added* to the ``<im_patch>`` embeddings -> a Qwen3-style text model (per-head q/k norm).

The real ``Molmo2Processor`` at its defaults (column tokens in both blocks, ``<low_res_im_start>`` for the
global view) with the images-only video stand-in, and the **real** ``Molmo2ImageProcessor`` at the class's
defaults (``max_crops`` 8, ``overlap_margins`` [4, 4], patch 14, pooling [2, 2], mean/std 0.5, BILINEAR)
except ``size``, which a checkpoint sets to its crop (the released ones: the class default, 378 px): 126 px
here, 9 x 9 patches pooled to 5 x 5 tokens per view (378: 27 x 27 -> 14 x 14), the same odd side, whose last
row and column of windows overhang the pad, at a ninth of the vision work; tests/models/test_molmo2.py checks
the adapter against the processor at 378 px too.

That class is torchvision-only in transformers 5.24 and torchvision does not import here. Its module imports,
and of torchvision it calls only ``transforms.v2.functional.resize`` (float tensors, bilinear, no antialias)
and ``normalize``: where torchvision is missing, :func:`install_torchvision_stand_in` gives the backend module
those two as torch's ``interpolate`` (what torchvision's resize runs for a float tensor) and
``(x - mean) / std``. Every other step (tiling choice, canvas, overlapping crops, patchify, pooling indices,
``image_grids``) is the class's own code; at the fixed square (one crop of the crop size) both resizes are to
the input's own size.

The chat template is a reduced Molmo2 one (ChatML turns, ``<|image|>`` where the image goes) that, like the
hub's, does not emit BOS: ``Molmo2Processor.__call__`` prepends ``bos_token or eos_token`` to every text.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "molmo2"
CLASS = "Molmo2ForConditionalGeneration"

SIZE = 126  # the crop size the tiny checkpoint saves (released: 378); tests/models/test_molmo2.py builds 378 too
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}{%- else -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<|image|>' }}{%- elif item['type'] == 'video' -%}{{ '<|video|>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
IMAGE_SPECIALS = ["<im_patch>", "<im_col>", "<im_start>", "<low_res_im_start>", "<frame_start>", "<im_end>",
                  "<frame_end>", "<im_low>", "<|image|>", "<|video|>"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *IMAGE_SPECIALS, "<unk>"]


def install_torchvision_stand_in() -> bool:
    """Where torchvision is missing, give ``transformers.image_processing_backends`` the two torchvision
    functions ``Molmo2ImageProcessor`` calls (bilinear ``resize`` of a float tensor, ``normalize``) and its
    BILINEAR mapping, bound in that module only. Does nothing where torchvision imports. True if installed."""
    import enum
    import types

    import torch
    import transformers.image_processing_backends as backends
    from transformers.image_utils import PILImageResampling

    if hasattr(backends, "tvF"):
        return False

    class InterpolationMode(enum.Enum):
        BILINEAR = "bilinear"
        BICUBIC = "bicubic"
        LANCZOS = "lanczos"

    def resize(image, size, interpolation=None, antialias=True):
        if interpolation is not InterpolationMode.BILINEAR or not image.is_floating_point():
            raise NotImplementedError("the test stand-in resizes float tensors bilinearly only (what Molmo2 asks)")
        flat = image.reshape(-1, *image.shape[-3:])
        out = torch.nn.functional.interpolate(flat, size=tuple(size), mode="bilinear", align_corners=False,
                                              antialias=antialias)
        return out.reshape(*image.shape[:-2], *out.shape[-2:])

    def normalize(image, mean, std, inplace=False):
        mean = torch.as_tensor(mean, dtype=image.dtype, device=image.device).view(-1, 1, 1)
        std = torch.as_tensor(std, dtype=image.dtype, device=image.device).view(-1, 1, 1)
        return (image - mean) / std

    backends.tvF = types.SimpleNamespace(resize=resize, normalize=normalize, InterpolationMode=InterpolationMode)
    backends.pil_torch_interpolation_mapping = {PILImageResampling.BILINEAR: InterpolationMode.BILINEAR}
    return True


def image_processor_class():
    """The real ``Molmo2ImageProcessor`` (its module, not the top-level placeholder), findable by
    AutoImageProcessor for a Molmo2 folder."""
    import importlib

    from transformers import AutoImageProcessor, Molmo2Config

    install_torchvision_stand_in()
    cls = importlib.import_module("transformers.models.molmo2.image_processing_molmo2").Molmo2ImageProcessor
    # the mapping's entry is a placeholder class where torchvision is missing, which register() refuses: replace both
    AutoImageProcessor.register(Molmo2Config, image_processor_classes={"torchvision": cls, "pil": cls}, exist_ok=True)
    return cls


def tokenizer(bos_token: str | None = "<|endoftext|>"):
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token=bos_token, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>",
                               extra_special_tokens={})
    tok.add_tokens(SPECIALS[1:-1], special_tokens=True)
    return tok


def build_model_and_processor(*, size: int = SIZE, layers: int = 2, seed: int = 0, bos_token: str | None = "<|endoftext|>"):
    import torch
    from transformers import Molmo2Config, Molmo2ForConditionalGeneration, Molmo2Processor

    from layerdream.models.processors import images_only_video_processor, make_processor

    tok = tokenizer(bos_token)
    ids = tok.convert_tokens_to_ids
    image_processor = image_processor_class()(size={"height": size, "width": size})
    processor = make_processor(Molmo2Processor, image_processor=image_processor, tokenizer=tok,
                               video_processor=images_only_video_processor("Molmo2VideoProcessor"),
                               chat_template=CHAT_TEMPLATE)
    config = Molmo2Config(
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                           num_key_value_heads=2, head_dim=8, image_size=[size, size], patch_size=14),
        adapter_config=dict(vision_feature_layer=[-1, 0], hidden_size=16, num_attention_heads=2, num_key_value_heads=2,
                            head_dim=8, intermediate_size=32, text_hidden_size=32),
        text_config=dict(hidden_size=32, num_attention_heads=2, num_key_value_heads=1, head_dim=16, vocab_size=len(tok),
                         additional_vocab_size=0, num_hidden_layers=layers, intermediate_size=64,
                         max_position_embeddings=1024, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                         pad_token_id=ids("<|endoftext|>"), eos_token_id=ids("<|im_end|>")),
        image_start_token_id=ids("<im_start>"), low_res_image_start_token_id=ids("<low_res_im_start>"),
        image_end_token_id=ids("<im_end>"), image_patch_id=ids("<im_patch>"), frame_start_token_id=ids("<frame_start>"),
        frame_end_token_id=ids("<frame_end>"),
    )
    torch.manual_seed(seed)
    return Molmo2ForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
