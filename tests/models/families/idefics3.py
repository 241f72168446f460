"""Idefics3: SigLIP -> pixel shuffle -> MLP -> Llama 3; 5-D pixels; an all-zero image is dropped.

The tiny checkpoint mirrors ``HuggingFaceM4/Idefics3-8B-Llama3`` where it matters: the processor
splits images (``size`` = 4 x the tile, ``do_image_splitting`` on, LANCZOS), mean = std = 0.5 (so
a uniform gray image normalises to exact zeros), the model's own chat template with
``<|begin_of_text|>`` written in it, and image markup ``<fake_token_around_image>``,
``<global-img>``, ``<row_i_col_j>``. 32-px tiles of 4-px patches, pixel shuffle 2: a 4x4 grid.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "idefics3"
CLASS = "Idefics3ForConditionalGeneration"

# the chat template of HuggingFaceM4/Idefics3-8B-Llama3 (template text is data)
CHAT_TEMPLATE = (
    "<|begin_of_text|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
IMAGE_SPECIALS = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>",
                  *[f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]]


def tokenizer(chat_template: str = CHAT_TEMPLATE, bos: str = "<|begin_of_text|>", eos: str = "<|end_of_text|>"):
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(
        WORDS, special_tokens=["<pad>", bos, eos, "<unk>", *IMAGE_SPECIALS],
        template_words=["user", "assistant", ":", "\n"], chat_template=chat_template, bos_token=bos, eos_token=eos,
        extra_special_tokens={},
    )
    tok.add_tokens(IMAGE_SPECIALS, special_tokens=True)  # whole tokens, as in the real tokenizer (<global-img>)
    return tok


def config_kwargs(tok, *, image_size: int, patch_size: int, scale_factor: int, layers: int) -> dict:
    ids = tok.convert_tokens_to_ids
    return dict(
        vision_config=dict(image_size=image_size, patch_size=patch_size, hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=2),
        text_config=dict(model_type="llama", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=512, pad_token_id=ids("<pad>"), bos_token_id=ids(tok.bos_token),
                         eos_token_id=ids(tok.eos_token)),
        scale_factor=scale_factor, image_token_id=ids("<image>"), pad_token_id=ids("<pad>"),
    )


def build_model_and_processor(*, image_size: int = 32, patch_size: int = 4, scale_factor: int = 2, layers: int = 2,
                              seed: int = 0):
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    tok = tokenizer()
    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": 4 * image_size}, max_image_size={"longest_edge": image_size},
        image_mean=[0.5] * 3, image_std=[0.5] * 3, do_image_splitting=True,
    )
    seq = (image_size // patch_size) ** 2 // scale_factor**2
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tok, image_seq_len=seq,
                                  chat_template=CHAT_TEMPLATE)
    config = Idefics3Config(**config_kwargs(tok, image_size=image_size, patch_size=patch_size,
                                            scale_factor=scale_factor, layers=layers))
    torch.manual_seed(seed)
    return Idefics3ForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)


#: what the adapter fixes when it calls the processor: one tile (everything else at the processor's defaults)
PROCESSOR_KWARGS = {"do_image_splitting": False}
#: the processor's LANCZOS round trip (tile -> 4 x tile -> tile) is rounded to uint8 after each pass by
#: PIL; ours is not: about one uint8 step, 2/255 after normalising with std 0.5 (measured max 0.0084)
PIXEL_ATOL = 1.5 * 2 / 255


def reference_prompt(processor, pil) -> list[int]:
    """The family's chat template with one tile (``do_image_splitting=False``)."""
    enc = processor.apply_chat_template([{"role": "user", "content": [{"type": "image", "image": pil}]}],
                                        add_generation_prompt=True, tokenize=True, return_dict=True,
                                        processor_kwargs=dict(PROCESSOR_KWARGS))
    ids = enc["input_ids"]
    return list(ids[0] if isinstance(ids[0], list) else ids)
