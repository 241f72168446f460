"""ERNIE 4.5-VL (MoE): a Qwen2-VL-style ViT (patch 8 here, 14 in the real model) -> a variable-resolution
resampler (2 x 2 spatial merge; a still image is duplicated over its temporal merge of 2) -> an ERNIE 4.5
text model with 3-D M-RoPE whose MoE blocks route **by modality**: text tokens to text experts, image
tokens (and the image start/end tokens) to vision experts, as ``moe_mm_token_type_ids`` says.

The tiny checkpoint keeps what matters for the adapter: a ``Ernie4_5_VLMoeImageProcessorPil`` whose
``longest_edge`` (64 x 64 px) makes layerdream fix a 64-px square (4 x 4 tokens; 448 px / 16 x 16 on the
real model), CLIP mean/std, BICUBIC; 2 text blocks, the second sparse (2 text + 2 vision experts, 1 per
token, a shared expert); a chat template of ERNIE's layout. The video slot is the images-only stand-in.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "ernie4_5_vl_moe"
CLASS = "Ernie4_5_VLMoeForConditionalGeneration"

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<|IMAGE_START|>", "<|IMAGE_END|>", "<|IMAGE_PLACEHOLDER|>",
            "<|VIDEO_START|>", "<|VIDEO_END|>", "<|VIDEO_PLACEHOLDER|>"]
EXTRA_SPECIALS = {"image_token": "<|IMAGE_PLACEHOLDER|>", "image_start_token": "<|IMAGE_START|>",
                  "image_end_token": "<|IMAGE_END|>", "video_token": "<|VIDEO_PLACEHOLDER|>",
                  "video_start_token": "<|VIDEO_START|>", "video_end_token": "<|VIDEO_END|>"}

CHAT_TEMPLATE = (
    "<s>{% for message in messages %}{% if message['role'] == 'user' %}User: {% else %}Assistant: {% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}Assistant: {% endif %}"
)


def build_model_and_processor(*, layers: int = 2, seed: int = 0, max_side: int = 64):
    """(model, processor) of a random-init ERNIE 4.5-VL MoE with the real classes."""
    import torch
    from transformers import Ernie4_5_VLMoeConfig, Ernie4_5_VLMoeForConditionalGeneration, Ernie4_5_VLMoeProcessor
    from transformers.models.ernie4_5_vl_moe.image_processing_pil_ernie4_5_vl_moe import Ernie4_5_VLMoeImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor
    from layerdream.models.tiny import build_word_tokenizer

    tokenizer = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n", ":"], chat_template=CHAT_TEMPLATE,
                                     bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                                     extra_special_tokens=EXTRA_SPECIALS)
    tokenizer.add_tokens(SPECIALS, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids
    patch, merge = 8, 2
    image_processor = Ernie4_5_VLMoeImageProcessorPil(size={"shortest_edge": (patch * merge) ** 2, "longest_edge": max_side * max_side},
                                                      patch_size=patch, merge_size=merge)
    video = images_only_video_processor("Ernie4_5_VLMoeVideoProcessor", patch_size=patch, merge_size=merge,
                                        font="")  # the processor saves its video processor's font file
    processor = make_processor(Ernie4_5_VLMoeProcessor, image_processor=image_processor, tokenizer=tokenizer,
                               video_processor=video, chat_template=CHAT_TEMPLATE)
    config = Ernie4_5_VLMoeConfig(
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=patch,
                           spatial_merge_size=merge, temporal_merge_size=2),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         moe_intermediate_size=[32, 32], moe_k=1, moe_num_experts=2, moe_num_shared_experts=1,
                         mlp_layer_types=["dense", "sparse"][:layers],
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [3, 3, 2]},
                         pad_token_id=ids("<pad>"), bos_token_id=ids("<s>"), eos_token_id=ids("</s>")),
        image_token_id=ids("<|IMAGE_PLACEHOLDER|>"), image_start_token_id=ids("<|IMAGE_START|>"),
        image_end_token_id=ids("<|IMAGE_END|>"), video_token_id=ids("<|VIDEO_PLACEHOLDER|>"),
        video_start_token_id=ids("<|VIDEO_START|>"), video_end_token_id=ids("<|VIDEO_END|>"),
    )
    torch.manual_seed(seed)
    model = Ernie4_5_VLMoeForConditionalGeneration(config).eval()
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
