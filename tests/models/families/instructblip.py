"""InstructBLIP (Vicuna): ViT -> Q-Former (learned queries reading the image *and* the instruction) ->
linear -> Llama. ``BlipImageProcessorPil`` at its defaults except the tiny 32-px size, ``InstructBlipProcessor``
at its defaults except the tiny 8 queries, a Llama-style word tokenizer (adds ``<s>``) and a BERT-style one for
the Q-Former (``[CLS] ... [SEP]``); no chat template (InstructBLIP is prompted raw).
"""
from __future__ import annotations

from families import blip2, save_checkpoint

FAMILY = "instructblip"
CLASS = "InstructBlipForConditionalGeneration"
QUERIES = 8


def reference_prompt(processor, pil) -> list[int]:
    return processor(images=pil, text="")["input_ids"][0]


def qformer_tokenizer():
    from tokenizers.processors import TemplateProcessing

    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(blip2.WORDS, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"], template_words=[],
                               chat_template=None, bos_token=None, eos_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]",
                               extra_special_tokens={})
    ids = tok.convert_tokens_to_ids
    tok._tokenizer.post_processor = TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", ids("[CLS]")),
                                                                                                 ("[SEP]", ids("[SEP]"))])
    return tok


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import InstructBlipConfig, InstructBlipForConditionalGeneration, InstructBlipProcessor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(blip2.WORDS, special_tokens=["<pad>", "<s>", "</s>", "<unk>", "<image>"],
                               template_words=[":", "\n"], chat_template=None, bos_token="<s>", eos_token="</s>",
                               pad_token="<pad>", unk_token="<unk>", extra_special_tokens={"image_token": "<image>"})
    tok.add_tokens(["<image>"], special_tokens=True)
    tok.add_bos_token = True
    ids = tok.convert_tokens_to_ids
    qtok = qformer_tokenizer()
    processor = InstructBlipProcessor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tok,
                                      qformer_tokenizer=qtok, num_query_tokens=QUERIES)
    config = InstructBlipConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                           patch_size=8),
        qformer_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                            encoder_hidden_size=32, vocab_size=len(qtok), pad_token_id=qtok.pad_token_id),
        text_config=dict(model_type="llama", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=256, pad_token_id=ids("<pad>"), bos_token_id=ids("<s>"),
                         eos_token_id=ids("</s>")),
        num_query_tokens=QUERIES, image_token_index=ids("<image>"),
    )
    torch.manual_seed(seed)
    model = InstructBlipForConditionalGeneration(config).eval()
    with torch.no_grad():  # as for BLIP-2: random init leaves the queries at zero and the ViT near zero
        model.query_tokens.normal_(std=0.5)
        for name, weight in model.named_parameters():
            if weight.dim() > 1 and name.startswith(("vision_model.", "qformer.")):
                weight.normal_(std=0.5 / weight.shape[-1] ** 0.5)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), blip2.BASELINE)
