"""DeepSeek-VL: SigLIP (8-px patches of 32 px here: 4 x 4; 16 px of 384 there: 24 x 24) -> MLP aligner ->
Llama. ``DeepseekVLImageProcessorPil`` at its defaults except the tiny 32-px size, ``DeepseekVLProcessor``
at its defaults except the tiny 16 image tokens, the Janus-style template of ``families/janus.py``.
"""
from __future__ import annotations

from families import janus, save_checkpoint

FAMILY = "deepseek_vl"
CLASS = "DeepseekVLForConditionalGeneration"


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import DeepseekVLConfig, DeepseekVLForConditionalGeneration, DeepseekVLProcessor
    from transformers.models.deepseek_vl.image_processing_pil_deepseek_vl import DeepseekVLImageProcessorPil

    _, janus_processor = janus.build_model_and_processor()
    tok = janus_processor.tokenizer
    ids = tok.convert_tokens_to_ids
    processor = DeepseekVLProcessor(image_processor=DeepseekVLImageProcessorPil(size={"height": 32, "width": 32}),
                                    tokenizer=tok, chat_template=janus.CHAT_TEMPLATE, num_image_tokens=16)
    config = DeepseekVLConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=32, patch_size=8, vision_use_head=False),
        text_config=dict(model_type="llama", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=256, pad_token_id=ids("<pad>"), bos_token_id=ids("<bos>"),
                         eos_token_id=ids("<eos>")),
        image_token_id=ids("<image_placeholder>"),
    )
    torch.manual_seed(seed)
    return DeepseekVLForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), janus.BASELINE)
