"""PerceptionLM: a timm Perception Encoder (``TimmWrapperModel`` around ``timm.models.eva.Eva``, the converter's
``vit_pe_core_large_patch14_336`` with its model_args overridden, here tiny) -> CLS dropped -> MLP projector ->
2 x 2 average pool -> a Llama text model.

The real ``PerceptionLMProcessor`` (the converter's chat template: BOS written by the template, a fixed system turn,
Llama 3 headers) with the images-only video stand-in, and the **real** torchvision-only
``PerceptionLMImageProcessor`` at the class's defaults except what a checkpoint saves (the converter's: ``tile_size``
and ``size`` = the tower's image size, mean = std = 0.5): 64-px tiles of 8-px patches here, 8 x 8 patches pooled
to a 4 x 4 grid (released: 448 px, 14-px patches, 16 x 16). The battery calls it with ``vision_input_type="vanilla"``,
the one option the adapter fixes (one tile); its default ``thumb+tile`` tiling is left as it is.

Both need torchvision, which does not import here (tests/models/families/_timm_stand_in.py): the real timm and the
image processor's module are imported with placeholder torchvision modules present during the import only (no
stood-in name is called by the model or by the single-tile processing path), ``modeling_timm_wrapper`` is given
that ``timm``, and the image processor's backend gets a torch stand-in of torchvision's ``resize`` (identity at the
tile's own size, which is what the compared pixels go through), ``normalize`` and ``grayscale_to_rgb``.
Without timm the family is skipped (``pip install timm --no-deps``; see docs/families/perception_lm.md).
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "perception_lm"
CLASS = "PerceptionLMForConditionalGeneration"

TILE = 64
PATCH = 8
#: the one option the adapter fixes: the processor's single-tile mode (its default adds the 6 x 6 tile canvas)
PROCESSOR_KWARGS = {"vision_input_type": "vanilla"}
IMAGE_PROCESSOR_MODULE = "transformers.models.perception_lm.image_processing_perception_lm"

# the converter's template (transformers' convert_perception_lm_weights_to_hf.py), the system prompt shortened
CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}"
    "    {%- set system_message = 'you are a vision assistant .' %}"
    "{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}"
    "{{- system_message }}"
    "{{- '<|eot_id|>' }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{%- for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<|image|>' }}"
    "{%- endfor %}"
    "{%- for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<|video|>' }}"
    "{%- endfor %}"
    "{%- for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{- content['text'] | trim }}"
    "{%- endfor %}"
    "{{'<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "system", "user", "assistant", "you", "are", "vision", "."]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|end_of_text|>", "<|begin_of_text|>", "<|image|>", "<|video|>", "<|start_header_id|>",
            "<|end_header_id|>", "<|eot_id|>", "<unk>"]


def require_timm():
    """The real timm and image processor module (stand-ins where torchvision is missing), or skip."""
    import pytest

    from families._timm_stand_in import import_timm, install_tvf_stand_in

    if import_timm(IMAGE_PROCESSOR_MODULE) is None:
        pytest.skip("PerceptionLM's vision tower is a timm model: pip install timm (beside a CPU torch without "
                    "torchvision: pip install --no-deps timm); see docs/families/perception_lm.md")
    install_tvf_stand_in()


def image_processor_class():
    """The real ``PerceptionLMImageProcessor`` (its module, not the top-level placeholder), findable by
    AutoImageProcessor for a PerceptionLM folder."""
    import importlib

    from transformers import AutoImageProcessor, PerceptionLMConfig

    require_timm()
    cls = importlib.import_module(IMAGE_PROCESSOR_MODULE).PerceptionLMImageProcessor
    # the mapping's entry is a placeholder class where torchvision is missing, which register() refuses: replace both
    AutoImageProcessor.register(PerceptionLMConfig, image_processor_classes={"torchvision": cls, "pil": cls},
                                exist_ok=True)
    return cls


def tokenizer():
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", pad_token="<|end_of_text|>",
                               unk_token="<unk>",
                               extra_special_tokens={"image_token": "<|image|>", "video_token": "<|video|>"})
    tok.add_tokens(SPECIALS[2:-1], special_tokens=True)
    return tok


def build_model_and_processor(*, tile: int = TILE, patch: int = PATCH, layers: int = 2, seed: int = 0,
                              pooling: int = 2):
    import torch
    from transformers import PerceptionLMConfig, PerceptionLMForConditionalGeneration, PerceptionLMProcessor

    from layerdream.models.processors import images_only_video_processor, make_processor

    image_processor_cls = image_processor_class()
    tok = tokenizer()
    ids = tok.convert_tokens_to_ids
    image_processor = image_processor_cls(tile_size=tile, size={"height": tile, "width": tile},
                                          image_mean=[0.5] * 3, image_std=[0.5] * 3)
    processor = make_processor(PerceptionLMProcessor, image_processor=image_processor, tokenizer=tok,
                               video_processor=images_only_video_processor("PerceptionLMVideoProcessor"),
                               chat_template=CHAT_TEMPLATE, patch_size=patch, pooling_ratio=pooling)
    side = tile // patch
    config = PerceptionLMConfig(
        vision_config=dict(architecture="vit_pe_core_large_patch14_336", num_classes=0,
                           model_args=dict(patch_size=patch, embed_dim=16, depth=2, num_heads=2, img_size=[tile, tile],
                                           ref_feat_shape=[side, side], global_pool="", use_post_transformer_norm=False,
                                           init_values=0.1)),
        text_config=dict(model_type="llama", hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=2, num_key_value_heads=1, vocab_size=len(tok), max_position_embeddings=512,
                         pad_token_id=ids("<|end_of_text|>"), bos_token_id=ids("<|begin_of_text|>"),
                         eos_token_id=ids("<|eot_id|>")),
        projector_pooling_ratio=pooling, vision_use_cls_token=True,
        image_token_id=ids("<|image|>"), video_token_id=ids("<|video|>"),
    )
    torch.manual_seed(seed)
    return PerceptionLMForConditionalGeneration(config).eval(), processor


def reference_prompt(processor, pil) -> list[int]:
    """The family's chat template with one tile (``vision_input_type="vanilla"``)."""
    enc = processor.apply_chat_template([{"role": "user", "content": [{"type": "image", "image": pil}]}],
                                        add_generation_prompt=True, tokenize=True, return_dict=True,
                                        return_tensors="pt", processor_kwargs=dict(PROCESSOR_KWARGS))
    return enc["input_ids"][0].tolist()


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
