"""Mistral Large 4: Mistral 3's vision path (Pixtral ViT -> RMSNorm + 2x2 patch merger + MLP, ``[IMG]`` rows
closed by ``[IMG_BREAK]``, the last by ``[IMG_END]``) into a DeepSeek-V3.2-style MoE text model (MLA latent
attention with the DSA top-k indexer, softmax-routed experts + a shared expert).

The processor is the real ``PixtralProcessor`` with ``PixtralImageProcessorPil`` (the PIL twin the auto
mapping names for ``mistral_large4``), set up as Mistral 3's tiny one but smaller (patch 8, longest edge 64:
a 64-px square is 4 x 4 merged tokens). Text model: 2 blocks, both sparse (``mlp_layer_types``; the released
default is 1 dense + the rest sparse, moved here so that layer 1 is read after an MoE block), 4 routed
experts top-2 + 1 shared, every block running its own indexer.
"""
from __future__ import annotations

from families import save_checkpoint
from families.mistral3 import BASELINE, CHAT_TEMPLATE, PATCH, SPECIALS, WORDS

FAMILY = "mistral_large4"
CLASS = "MistralLarge4ForConditionalGeneration"
EXPERTS, TOP_K = 4, 2
LONGEST = 64  # a 64-px square: 8 x 8 patches, 4 x 4 merged tokens (Mistral 3's tiny one uses 128 px)


def build_model_and_processor(*, layers: int = 2, seed: int = 0, index_topk: int = 2048):
    import torch
    from layerdream.models.processors import provide_torchvision_free_helpers

    provide_torchvision_free_helpers()  # PixtralProcessor imports one pure helper from a torchvision-only module
    from transformers import MistralLarge4Config, MistralLarge4ForConditionalGeneration
    from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil
    from transformers.models.pixtral.processing_pixtral import PixtralProcessor

    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                               extra_special_tokens={})
    tok.add_tokens(SPECIALS[3:8], special_tokens=True)
    ids = tok.convert_tokens_to_ids
    image_processor = PixtralImageProcessorPil(patch_size={"height": PATCH, "width": PATCH}, size={"longest_edge": LONGEST})
    processor = PixtralProcessor(image_processor=image_processor, tokenizer=tok, patch_size=PATCH, spatial_merge_size=2,
                                 chat_template=CHAT_TEMPLATE)
    config = MistralLarge4Config(
        vision_config=dict(model_type="pixtral", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, head_dim=16, image_size=LONGEST, patch_size=PATCH, hidden_act="silu"),
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                         n_routed_experts=EXPERTS, num_experts_per_tok=TOP_K, n_shared_experts=1, n_group=1, topk_group=1,
                         kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16,
                         index_topk=index_topk, index_head_dim=16, index_n_heads=2, mlp_layer_types=["sparse"] * layers,
                         indexer_types=["full"] * layers, max_position_embeddings=512, pad_token_id=ids("<pad>"),
                         bos_token_id=ids("<s>"), eos_token_id=ids("</s>")),
        image_token_index=ids("[IMG]"), spatial_merge_size=2, vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    return MistralLarge4ForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
