"""DeepSeek-VL hybrid: SigLIP on the picture shrunk to ``size`` (8-px patches of 32 px here: 4 x 4; 16 px of
384 there: 24 x 24) + SAM on the picture at ``high_res_size`` (8-px patches of 64 px here: 8 x 8; 16 px of
1024 there: 64 x 64), folded onto the SigLIP grid and fused by the aligner -> Llama.

``DeepseekVLHybridImageProcessorPil`` at its defaults except the tiny sizes (32 / 64 px) and the low-res
statistics, set to 0.5 / 0.5 so that the two towers' normalisations differ (the class defaults are CLIP's
for both: a mix-up would not show); ``DeepseekVLHybridProcessor`` at its defaults except the tiny 16 image
tokens, the Janus-style template of ``families/janus.py``. The tiny SAM has one windowed and one global
block (the model reads the first global block's state), and its weights and ``high_res_vision_alpha`` are
re-drawn at a usable scale (SAM's init, std 1e-10, and alpha = 0 leave the high-res branch silent).
"""
from __future__ import annotations

from families import janus, save_checkpoint

FAMILY = "deepseek_vl_hybrid"
CLASS = "DeepseekVLHybridForConditionalGeneration"
#: the SigLIP input is the 64-px picture shrunk by PIL (rounded to uint8 after each pass); ours is the same
#: filter unrounded: under one uint8 step per pass (two passes), over the 0.5 std (max 0.9 step seen)
PIXEL_ATOL = 2 * 2 / 255


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import (DeepseekVLHybridConfig, DeepseekVLHybridForConditionalGeneration,
                              DeepseekVLHybridProcessor)
    from transformers.models.deepseek_vl_hybrid.image_processing_pil_deepseek_vl_hybrid import (
        DeepseekVLHybridImageProcessorPil)

    _, janus_processor = janus.build_model_and_processor()
    tok = janus_processor.tokenizer
    ids = tok.convert_tokens_to_ids
    image_processor = DeepseekVLHybridImageProcessorPil(size={"height": 32, "width": 32},
                                                        high_res_size={"height": 64, "width": 64},
                                                        image_mean=[0.5] * 3, image_std=[0.5] * 3)
    processor = DeepseekVLHybridProcessor(image_processor=image_processor, tokenizer=tok,
                                          chat_template=janus.CHAT_TEMPLATE, num_image_tokens=16)
    config = DeepseekVLHybridConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2, image_size=32, patch_size=8, vision_use_head=False),
        high_res_vision_config=dict(model_type="sam_vision_model", hidden_size=16, output_channels=8,
                                    num_hidden_layers=2, num_attention_heads=2, image_size=64, patch_size=8,
                                    window_size=4, global_attn_indexes=[1], mlp_dim=32),
        text_config=dict(model_type="llama", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=256, pad_token_id=ids("<pad>"), bos_token_id=ids("<bos>"),
                         eos_token_id=ids("<eos>")),
        image_token_id=ids("<image_placeholder>"),
    )
    torch.manual_seed(seed)
    model = DeepseekVLHybridForConditionalGeneration(config).eval()
    with torch.no_grad():  # SAM's default init (std 1e-10) leaves the tower at ~zero; alpha = 0 mutes the global branch
        for name, weight in model.named_parameters():
            if name.startswith("model.high_res_vision_model.") and weight.dim() > 1:
                weight.normal_(std=1.0 / weight[0].numel() ** 0.5)
        model.model.high_res_vision_alpha.fill_(0.5)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), janus.BASELINE)
