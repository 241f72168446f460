"""BLIP-2 with OPT: ViT -> Q-Former (learned queries, cross-attention) -> linear -> OPT.

``BlipImageProcessorPil`` at its defaults except the tiny 32-px size (224 on the released checkpoints),
``Blip2Processor`` at its defaults except ``num_query_tokens`` (8 here, 32 there), a GPT-2-style word
tokenizer that adds OPT's BOS ``</s>``; no chat template (BLIP-2 is prompted raw).
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "blip2"
CLASS = "Blip2ForConditionalGeneration"
QUERIES = 8

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "question", "answer"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]


def reference_prompt(processor, pil) -> list[int]:
    """What the processor gives for an image and empty text: the image tokens, then the BOS."""
    return processor(images=pil, text="")["input_ids"][0]


def build_model_and_processor(*, layers: int = 2, seed: int = 0, decoder_only: bool = True):
    import torch
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=["<pad>", "</s>", "<unk>", "<image>"], template_words=[":", "\n"],
                               chat_template=None, bos_token="</s>", eos_token="</s>", pad_token="<pad>",
                               unk_token="<unk>", extra_special_tokens={"image_token": "<image>"})
    tok.add_tokens(["<image>"], special_tokens=True)
    tok.add_bos_token = True
    ids = tok.convert_tokens_to_ids
    processor = Blip2Processor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tok,
                               num_query_tokens=QUERIES)
    text = (dict(model_type="opt", vocab_size=len(tok), hidden_size=32, ffn_dim=64, num_hidden_layers=layers,
                 num_attention_heads=2, word_embed_proj_dim=32, max_position_embeddings=256, pad_token_id=ids("<pad>"),
                 bos_token_id=ids("</s>"), eos_token_id=ids("</s>")) if decoder_only else
            dict(model_type="t5", vocab_size=len(tok), d_model=32, d_ff=64, num_layers=1, num_heads=2, d_kv=16))
    config = Blip2Config(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                           patch_size=8),
        qformer_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                            encoder_hidden_size=32, vocab_size=len(tok)),
        text_config=text, num_query_tokens=QUERIES, image_token_index=ids("<image>"),
    )
    torch.manual_seed(seed)
    model = Blip2ForConditionalGeneration(config).eval()
    with torch.no_grad():
        # random init leaves the learned queries at zero and the vision tower's weights at ~0 (std below 1e-4):
        # the image tokens would not depend on the pixels. Give them the spread of a trained model's.
        model.query_tokens.normal_(std=0.5)
        for name, weight in model.named_parameters():
            if weight.dim() > 1 and name.startswith(("vision_model.", "qformer.")):
                weight.normal_(std=0.5 / weight.shape[-1] ** 0.5)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
