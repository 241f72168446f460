"""EXAONE 4.5: windowed ViT (Qwen2.5-VL's layout, patch 8 here) -> merger -> EXAONE 4 with 1-D positions.
Tokenizer, template and ``Qwen2VLImageProcessorPil`` as ``families/qwen2_5_vl.py`` (a 64-px square, 4 x 4
tokens; 448 px / 16 x 16 on the released checkpoint); the processor is ``Exaone4_5_Processor`` with the
images-only video stand-in.
"""
from __future__ import annotations

from families import qwen2_5_vl as q25
from families import save_checkpoint

FAMILY = "exaone4_5"
CLASS = "Exaone4_5_ForConditionalGeneration"


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import Exaone4_5_Config, Exaone4_5_ForConditionalGeneration
    from transformers.models.exaone4_5.processing_exaone4_5 import Exaone4_5_Processor

    from layerdream.models.processors import images_only_video_processor, make_processor

    tokenizer = q25.build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    video = images_only_video_processor("Qwen2VLVideoProcessor", patch_size=8, merge_size=2, temporal_patch_size=2)
    processor = make_processor(Exaone4_5_Processor, image_processor=q25.build_image_processor(), tokenizer=tokenizer,
                               video_processor=video, chat_template=q25.CHAT_TEMPLATE)
    config = Exaone4_5_Config(
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, spatial_merge_size=2,
                           temporal_patch_size=2, window_size=32, out_hidden_size=64, fullatt_block_indexes=[1],
                           num_key_value_heads=2),
        text_config=dict(model_type="exaone4", vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                         max_position_embeddings=512, sliding_window=512, layer_types=["full_attention"] * layers,
                         pad_token_id=ids("<|endoftext|>"),
                         eos_token_id=ids("<|im_end|>")),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
    )
    torch.manual_seed(seed)
    return Exaone4_5_ForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), q25.BASELINE)
