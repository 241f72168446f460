"""GIT: CLIP-style ViT (GIT's own vision classes) -> Linear + LayerNorm -> a prefix of one BERT-style stack
over [image tokens, text] (image block bidirectional, text causal). ``CLIPImageProcessorPil`` at its defaults
except the tiny 32-px resize and crop (224 on the released checkpoints), ``GitProcessor`` (no options); a
BERT-style word tokenizer (``[CLS] ... [SEP]``, no BOS token); no chat template (raw prompts).
"""
from __future__ import annotations

from families import blip2, save_checkpoint

FAMILY = "git"
CLASS = "GitForCausalLM"
SIZE, PATCH = 32, 8  # 4 x 4 patches + CLS (released: 224 px, 16 or 14 px patches)


def reference_prompt(processor, pil) -> list[int]:
    ids = processor(images=pil, text="")["input_ids"]
    return list(ids[0] if isinstance(ids[0], list) else ids)


def tokenizer():
    from tokenizers.processors import TemplateProcessing

    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(blip2.WORDS, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"], template_words=[],
                               chat_template=None, bos_token=None, eos_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]",
                               extra_special_tokens={})
    ids = tok.convert_tokens_to_ids
    tok._tokenizer.post_processor = TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", ids("[CLS]")),
                                                                                                 ("[SEP]", ids("[SEP]"))])
    tok.cls_token, tok.sep_token = "[CLS]", "[SEP]"
    return tok


def build_model_and_processor(*, layers: int = 2, seed: int = 0, **config):
    import torch
    from transformers import GitConfig, GitForCausalLM, GitProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tok = tokenizer()
    ids = tok.convert_tokens_to_ids
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    processor = GitProcessor(image_processor=image_processor, tokenizer=tok)
    config = GitConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=SIZE,
                           patch_size=PATCH),
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64, pad_token_id=ids("[PAD]"), bos_token_id=ids("[CLS]"), eos_token_id=ids("[SEP]"),
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **config,
    )
    torch.manual_seed(seed)
    model = GitForCausalLM(config).eval()
    with torch.no_grad():  # a trained-like spread for the tower (random init leaves it near zero)
        for name, weight in model.named_parameters():
            if weight.dim() > 1 and name.startswith("git.image_encoder."):
                weight.normal_(std=0.5 / weight.shape[-1] ** 0.5)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), blip2.BASELINE)
