"""DeepSeek-OCR 2: SAM ViT -> two stride-2 convolutions -> a Qwen2-style encoder over [SAM features, learned
queries] (bidirectional over the features, causal over the queries) -> linear -> a DeepSeek-V2-style MoE LM.
The query outputs are the image tokens (+ the learned view separator after them).

The tiny checkpoint: ``DeepseekOcr2ImageProcessorPil`` at its defaults (``crop_to_patches``, 2-6 tiles,
BICUBIC, mean = std = 0.5) but the tiny sizes, a 32-px ``tile_size`` and a 48-px global view, so a 32-px
picture takes the processor's global-only path (enlarged to 48 px) as a 768-px one does (to 1024);
``DeepseekOcr2Processor`` with ``patch_size=1`` (its count of tokens is ceil(48 / 1 / 4)^2 = 144 + 1 separator).
SAM reads 48 px in 3-px patches (16 x 16, one windowed and one global block) -> 4 x 4 features, which the
model meets with its 144-query set (the 768-px one; the released model at 1024 px uses the 256-query set:
the same code path with the other table); a text model of a dense and a sparse block (4 routed experts,
top-2, one shared). No chat template (the released checkpoint ships none): raw prompts, one BOS.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "deepseek_ocr2"
CLASS = "DeepseekOcr2ForConditionalGeneration"
#: the global view is the picture enlarged by PIL (rounded to uint8 after each pass); ours is the same
#: filter unrounded: under one uint8 step per pass (two passes), over the 0.5 std
PIXEL_ATOL = 2 * 2 / 255

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "free", "ocr", "."]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>", "<image>"]


def reference_prompt(processor, pil) -> list[int]:
    """No template: the raw prompt is the image placeholder, the tokenizer adding its BOS (as a user's call)."""
    return list(processor(text="<image>", images=pil)["input_ids"][0])


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import DeepseekOcr2Config, DeepseekOcr2ForConditionalGeneration, DeepseekOcr2Processor
    from transformers.models.deepseek_ocr2.image_processing_pil_deepseek_ocr2 import DeepseekOcr2ImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n", ":"], chat_template=None,
                               bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
                               extra_special_tokens={"image_token": "<image>"})
    tok.add_tokens(SPECIALS[4:], special_tokens=True)
    tok.add_bos_token = True
    ids = tok.convert_tokens_to_ids
    image_processor = DeepseekOcr2ImageProcessorPil(size={"height": 48, "width": 48}, tile_size=32)
    processor = DeepseekOcr2Processor(image_processor=image_processor, tokenizer=tok, patch_size=1)
    config = DeepseekOcr2Config(
        vision_config=dict(
            sam_config=dict(hidden_size=16, output_channels=16, num_hidden_layers=1, num_attention_heads=2, image_size=48,
                            patch_size=4, window_size=6, global_attn_indexes=[], mlp_dim=32, downsample_channels=[16, 32]),
            encoder_config=dict(vocab_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512)),
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         mlp_layer_types=["dense"] + ["sparse"] * (layers - 1), n_routed_experts=4, num_experts_per_tok=2,
                         n_shared_experts=1, moe_intermediate_size=16, pad_token_id=ids("<pad>"),
                         bos_token_id=ids("<bos>"), eos_token_id=ids("<eos>")),
        image_token_id=ids("<image>"),
    )
    torch.manual_seed(seed)
    model = DeepseekOcr2ForConditionalGeneration(config).eval()
    with torch.no_grad():  # SAM's default init (std 1e-10) leaves it at ~zero, the encoder's std 0.02 attends uniformly
        for name, weight in model.named_parameters():  # (every query the mean of the features), the router starts at zero
            if (name.startswith("model.vision_tower.") and weight.dim() > 1) or name.endswith("gate.weight"):
                weight.normal_(std=1.0 / weight[0].numel() ** 0.5)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
