"""dots3.note (``dots-studio/dots3-note-prev``): a ViT with mixture-of-experts MLP layers (RMSNorm, 2-D rotary,
Qwen2-VL's 2x2 ``PatchMerger``) -> a DeepSeek-V3.2-style text model (MLA attention, DSA ``indexed_attention``
layers that keep the top ``index_topk`` keys per query, sliding-window layers, a sigmoid-routed MoE with a
shared expert) with 1-D positions; an audio tower the image prompt never uses.

The tiny checkpoint: ViT depth 2 (dense, then 4 experts top-2), patch 8, ``Qwen2VLImageProcessorPil`` at its
defaults except patch 8, temporal patch 1 (the patch embedding takes (3, p, p) patches) and a 64-px bound (a
64-px square, 4 x 4 tokens); 3 text blocks (indexed, indexed, sliding; dense, MoE, MoE with 4 experts top-2 +
a shared one); ``Dots3NoteProcessor`` with the images-only video stand-in and the real feature extractor class.
The released chat template was not readable offline: a reduced template with the processor's ``<|imgpad|>``.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "dots3_note"
CLASS = "Dots3NoteForConditionalGeneration"

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|img|><|imgpad|><|endofimg|>{% elif item['type'] == 'video' %}"
    "<|img|><|video_pad|><|endofimg|>{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant", "system"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|endoftext|>", "<unk>", "<|im_start|>", "<|im_end|>", "<|img|>", "<|endofimg|>", "<|imgpad|>",
            "<|video_pad|>", "<|audio_comp_pad|>"]


def build_tokenizer():
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>",
                               extra_special_tokens={})
    tok.add_tokens(SPECIALS[2:], special_tokens=True)
    return tok


def build_model_and_processor(*, layers: int = 3, seed: int = 0):
    import torch
    from transformers import Dots3NoteConfig, Dots3NoteFeatureExtractor, Dots3NoteForConditionalGeneration, Dots3NoteProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor

    tok = build_tokenizer()
    ids = tok.convert_tokens_to_ids
    patch, merge = 8, 2
    image_processor = Qwen2VLImageProcessorPil(size={"shortest_edge": (patch * merge) ** 2, "longest_edge": 64 * 64},
                                               patch_size=patch, merge_size=merge, temporal_patch_size=1)
    video = images_only_video_processor("Qwen2VLVideoProcessor", patch_size=patch, merge_size=merge, temporal_patch_size=1)
    processor = make_processor(Dots3NoteProcessor, image_processor=image_processor, tokenizer=tok, video_processor=video,
                               feature_extractor=Dots3NoteFeatureExtractor(), chat_template=CHAT_TEMPLATE)
    mla = dict(q_lora_rank=32, kv_lora_rank=32, head_dim=24, qk_nope_head_dim=16, v_head_dim=16)
    config = Dots3NoteConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=2, num_key_value_heads=2, qk_rope_head_dim=8, **mla, index_head_dim=16,
                         index_n_heads=2, n_routed_experts=4, num_experts_per_tok=2, n_group=1, topk_group=1,
                         moe_intermediate_size=32, shared_experts_intermediate_size=32, n_shared_experts=1,
                         max_position_embeddings=512, sliding_window=512, swa_num_attention_heads=2,
                         swa_num_key_value_heads=2, **{f"swa_{k}": v for k, v in mla.items()},
                         pad_token_id=ids("<|endoftext|>"), bos_token_id=None, eos_token_id=ids("<|im_end|>")),
        vision_config=dict(hidden_size=32, intermediate_size=64, moe_intermediate_size=32, num_hidden_layers=2,
                           num_attention_heads=2, patch_size=patch, spatial_merge_size=merge, pyramid_num_routed=[-1, 4],
                           num_experts_per_tok=2, adapter_in_dim=32, adapter_out_dim=64),
        audio_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                          adapter_input_size=32, adapter_out_dim=64, downsample_hidden_size=8, feature_size=16),
        image_token_id=ids("<|imgpad|>"), video_token_id=ids("<|video_pad|>"), audio_token_id=ids("<|audio_comp_pad|>"),
    )
    torch.manual_seed(seed)
    return Dots3NoteForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
