"""MiniMax-M3-VL: CLIP-like ViT (Conv3d patch embedding, 3-D RoPE; patch 8 here, 14 in the release) -> per-patch
MLP + 2x2 window fusion -> MiniMax-M3 sparse MoE text model with 1-D positions.

The processor is the real ``MiniMaxM3VLProcessor`` with an images-only video slot. Its image processor,
``MiniMaxM3VLImageProcessor``, is torchvision-only in transformers 5.24, and it is ``Qwen2VLImageProcessor``
with other size defaults (tests/models/test_minimax_m3_vl.py checks that from its source), so the image slot
holds the PIL backend of that processor, ``Qwen2VLImageProcessorPil``, with MiniMax's defaults except the
pixel bounds (a 64-px square here: 4 x 4 tokens; 448 px / 16 x 16 at MiniMax's defaults). Text model: 2
blocks, both MoE (4 routed experts top-2 + a shared expert), the first a sparse-attention block (the
lightning indexer, blocks of 8 tokens), the second full attention. The template is a reduced MiniMax one
(``]~b]user`` ... ``[e~[``) whose image is ``]<]image[>[``.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "minimax_m3_vl"
CLASS = "MiniMaxM3SparseForConditionalGeneration"
PATCH, MERGE, MAX_SIDE = 8, 2, 64
EXPERTS, TOP_K = 4, 2

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}]~b]{{ 'ai' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}]<]image[>[{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}[e~[\n{% endfor %}{% if add_generation_prompt %}]~b]ai\n{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "ai", "system"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "big", "small"]
SPECIALS = ["<pad>", "]~!b[", "[e~[", "<unk>", "]~b]", "]<]image[>[", "]<]video[>[", "]<]start of image[>[",
            "]<]end of image[>["]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def build_processor():
    from transformers import MiniMaxM3VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token="]~!b[", eos_token="[e~[", pad_token="<pad>", unk_token="<unk>",
                               extra_special_tokens={})
    tok.add_tokens(SPECIALS[4:], special_tokens=True)
    unit = PATCH * MERGE
    image_processor = Qwen2VLImageProcessorPil(size={"shortest_edge": 4 * unit * unit, "longest_edge": MAX_SIDE * MAX_SIDE},
                                               patch_size=PATCH, merge_size=MERGE, temporal_patch_size=2,
                                               image_mean=CLIP_MEAN, image_std=CLIP_STD)
    video = images_only_video_processor("MiniMaxM3VLVideoProcessor", patch_size=PATCH, merge_size=MERGE, temporal_patch_size=2)
    return make_processor(MiniMaxM3VLProcessor, image_processor=image_processor, tokenizer=tok, video_processor=video,
                          chat_template=CHAT_TEMPLATE)


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import MiniMaxM3SparseForConditionalGeneration, MiniMaxM3VLConfig

    processor = build_processor()
    tok = processor.tokenizer
    ids = tok.convert_tokens_to_ids
    config = MiniMaxM3VLConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=MAX_SIDE, patch_size=PATCH, temporal_patch_size=2, spatial_merge_size=MERGE),
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=16, dense_intermediate_size=64,
                         shared_intermediate_size=16, num_hidden_layers=layers, num_attention_heads=2,
                         num_key_value_heads=1, head_dim=16, rotary_dim=8, num_local_experts=EXPERTS,
                         num_experts_per_tok=TOP_K, mlp_layer_types=["sparse"] * layers,
                         layer_types=(["minimax_m3_sparse", "full_attention"] * layers)[:layers], index_n_heads=2,
                         index_head_dim=16, index_block_size=8, index_topk_blocks=16, index_local_blocks=1,
                         max_position_embeddings=512, pad_token_id=ids("<pad>"), bos_token_id=ids("]~!b["),
                         eos_token_id=ids("[e~[")),
        image_token_index=ids("]<]image[>["), video_token_index=ids("]<]video[>["), projector_hidden_size=64,
    )
    torch.manual_seed(seed)
    return MiniMaxM3SparseForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
