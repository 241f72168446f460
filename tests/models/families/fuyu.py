"""Fuyu: a linear patch embedding (30 x 30 x 3 -> d) straight into a Persimmon decoder.

The real ``FuyuProcessor`` and ``FuyuImageProcessorPil`` at their defaults (1080 x 1920 canvas, 30-px
patches, mean/std 0.5; the processor's torchvision twin is not needed: the PIL class is the default where
torchvision is missing, and it is the one with the upstream bug the adapter works around). The only
option fixed is the output name: ``return_legacy_image_output=False`` gives ``pixel_values`` (the name the
model's forward takes; the legacy ``image_patches`` holds the same tensor). Fuyu has no chat template.
The tiny tokenizer prepends ``▁`` to each text segment as SentencePiece does: the processor strips that
first token of the image block (its comment: "the underscore which is always prepended").
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "fuyu"
CLASS = "FuyuForCausalLM"
PROCESSOR_KWARGS = {"return_legacy_image_output": False}

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<unk>", "<s>", "|ENDOFTEXT|", "<0x04>", "|SPEAKER|", "|NEWLINE|", "▁"]


def reference_prompt(processor, pil):
    return processor(text="", images=pil, return_tensors="pt")["input_ids"][0].tolist()


def tokenizer():
    from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + ["▁" + w for w in WORDS])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    # |SPEAKER|, |NEWLINE| and <0x04> are vocabulary entries (not added tokens), so the normaliser's leading
    # "▁" stays a token of its own before them, as with the SentencePiece vocabulary the processor expects
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\|SPEAKER\||\|NEWLINE\||<0x04>|▁[^▁|<]*"), behavior="isolated")
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in ["<s>", "|ENDOFTEXT|", "<unk>"]])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="|ENDOFTEXT|", unk_token="<unk>",
                                   pad_token="<unk>")


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import FuyuConfig, FuyuForCausalLM, FuyuImageProcessorPil, FuyuProcessor

    tok = tokenizer()
    ids = tok.convert_tokens_to_ids
    processor = FuyuProcessor(image_processor=FuyuImageProcessorPil(), tokenizer=tok)
    config = FuyuConfig(
        text_config=dict(model_type="persimmon", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, max_position_embeddings=1024,
                         pad_token_id=ids("<unk>"), bos_token_id=ids("<s>"), eos_token_id=ids("|ENDOFTEXT|")),
        image_token_id=ids("|SPEAKER|"), patch_size=30, num_channels=3,
    )
    torch.manual_seed(seed)
    return FuyuForCausalLM(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
