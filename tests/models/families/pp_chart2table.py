"""PP-Chart2Table: GOT-OCR 2.0's architecture (SAM ViT -> two stride-2 convolutions + a linear projector ->
Qwen2), loaded as ``GotOcr2ForConditionalGeneration`` from a ``PPChart2TableConfig``, with its own processor.

``PPChart2TableProcessor`` expands nothing: its chat template writes the whole prompt, image block included
(``<img>`` + 256 ``<imgpad>`` + ``</img>``), and a fixed "Chart to table" instruction after it. The released
template was not readable here; :func:`chat_template` rebuilds it from the prompt PaddleX hard-codes for this
model (system line, image block, instruction; a user's text, which PaddleX has none of, on its own line before
the instruction), with the block at the tiny tower's 4 x 4 = 16 tokens.

The tiny checkpoint: 64 px of 4-px patches (a 16 x 16 SAM grid, 256 ViT tokens, one windowed block of 8 x 8
windows and one global block), folded to 4 x 4 image tokens; ``PPChart2TableImageProcessorPil`` at its
defaults (CLIP mean/std, BICUBIC) but the tiny 64-px size.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "pp_chart2table"
CLASS = "GotOcr2ForConditionalGeneration"
TOKENS = 16  # 4 x 4 at the tiny geometry; 256 (16 x 16) on the released checkpoint

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "system", "user", "assistant", "you", "should", "follow", "instructions",
         "carefully", "explain", "your", "answers", "in", "detail", "chart", "to", "table"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<imgpad>", "<unk>"]


def chat_template(tokens: int = TOKENS) -> str:
    """The PaddleX prompt as a chat template: a system line, the image block, a fixed instruction."""
    return (
        "<|im_start|>system\nYou should follow the instructions carefully and explain your answers in detail."
        "<|im_end|>{%- for message in messages %}{%- if message.role == 'user' %}<|im_start|>user{{ '\\n' }}"
        "{%- if message.content is string %}{{ message.content }}{{ '\\n' }}{%- else %}{%- for item in message.content %}"
        "{%- if item.type == 'image' %}<img>{{ '<imgpad>' * " + str(tokens) + " }}</img>{{ '\\n' }}"
        "{%- elif item.type == 'text' %}{{ item.text }}{{ '\\n' }}{%- endif %}{%- endfor %}{%- endif %}"
        "Chart to table<|im_end|>{%- elif message.role == 'assistant' %}<|im_start|>assistant{{ '\\n' }}{{ message.content }}"
        "<|im_end|>{%- endif %}{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant{{ '\\n' }}{%- endif %}"
    )


def reference_prompt(processor, pil) -> list[int]:
    """The processor's template, tokenised with ``return_tensors="pt"``: without it PPChart2TableProcessor returns
    one flat list of ids in transformers 5.24 (it has no multimodal special tokens, so the base ``__call__`` does
    not wrap the one rendered prompt in a batch)."""
    enc = processor.apply_chat_template([{"role": "user", "content": [{"type": "image", "image": pil}]}],
                                        add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
    return enc["input_ids"][0].tolist()


def build_model_and_processor(*, layers: int = 2, seed: int = 0, tokens: int = TOKENS):
    """(model, processor) of a random-init PP-Chart2Table with the real classes."""
    import torch
    from transformers import GotOcr2ForConditionalGeneration, PPChart2TableConfig, PPChart2TableProcessor
    from transformers.models.pp_chart2table.image_processing_pil_pp_chart2table import PPChart2TableImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    template = chat_template(tokens)
    tokenizer = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n", "."], chat_template=template,
                                     bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>",
                                     extra_special_tokens={})
    tokenizer.add_tokens(SPECIALS, special_tokens=True)  # matched whole, before the word-level split
    ids = tokenizer.convert_tokens_to_ids
    processor = PPChart2TableProcessor(image_processor=PPChart2TableImageProcessorPil(size={"height": 64, "width": 64}),
                                       tokenizer=tokenizer, chat_template=template)
    config = PPChart2TableConfig(
        vision_config=dict(hidden_size=16, output_channels=16, num_hidden_layers=2, num_attention_heads=2, image_size=64,
                           patch_size=4, window_size=8, global_attn_indexes=[1], mlp_dim=32),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         pad_token_id=ids("<|endoftext|>"), eos_token_id=ids("<|im_end|>"), bos_token_id=None),
        image_token_index=ids("<imgpad>"), image_seq_length=tokens,
    )
    torch.manual_seed(seed)
    model = GotOcr2ForConditionalGeneration(config).eval()
    with torch.no_grad():  # SAM's default init (std 1e-10) leaves the tower at ~zero: give it a usable scale
        for name, weight in model.named_parameters():
            if name.startswith("model.vision_tower.") and weight.dim() > 1:
                weight.normal_(std=1.0 / weight[0].numel() ** 0.5)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
