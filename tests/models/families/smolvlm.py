"""SmolVLM2: Idefics3's architecture (SigLIP -> pixel shuffle -> MLP -> SmolLM2) under its own class.

Mirrors ``HuggingFaceTB/SmolVLM2-256M-Video-Instruct`` where it matters: a pixel shuffle of 4 (64
tokens per 512-px tile there, a 4x4 grid from a 64-px tile of 4-px patches here), the processor's
splitting config (``size`` = 4 x the tile), mean = std = 0.5, the SmolVLM2 chat template starting
with ``<|im_start|>`` (its BOS), and a video processor slot with the saved ``num_frames``/``fps``
that ``apply_chat_template`` reads even for images. The slot holds layerdream's images-only stand-in
(the real one needs torchvision); the processor itself needs the ``num2words`` package.
"""
from __future__ import annotations

from families.idefics3 import PIXEL_ATOL, PROCESSOR_KWARGS  # noqa: F401 (the same processor path as Idefics3)

FAMILY = "smolvlm"
CLASS = "SmolVLMForConditionalGeneration"

# SmolVLM2's chat template (the one transformers ships as the SmolVLM default since #38105; data)
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}{% if message['content'] is string %}"
    "{{': ' + message['content']}}{% else %}{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}"
    "{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% elif line['type'] == 'video' %}{{ '<video>' }}{% endif %}"
    "{% endfor %}{% endif %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def build_model_and_processor(*, image_size: int = 64, patch_size: int = 4, scale_factor: int = 4, layers: int = 2,
                              seed: int = 0):
    import pytest

    pytest.importorskip("num2words", reason="SmolVLM's processor needs num2words (pip install 'layerdream[smolvlm]')")
    import torch
    from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration, SmolVLMProcessor
    from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor

    from . import idefics3

    tok = idefics3.tokenizer(CHAT_TEMPLATE, bos="<|im_start|>", eos="<|im_end|>")
    image_processor = SmolVLMImageProcessorPil(
        size={"longest_edge": 4 * image_size}, max_image_size={"longest_edge": image_size},
        image_mean=[0.5] * 3, image_std=[0.5] * 3, do_image_splitting=True,
    )
    video = images_only_video_processor("SmolVLMVideoProcessor", num_frames=64, fps=1)
    seq = (image_size // patch_size) ** 2 // scale_factor**2
    processor = make_processor(SmolVLMProcessor, image_processor=image_processor, tokenizer=tok, video_processor=video,
                               image_seq_len=seq, chat_template=CHAT_TEMPLATE)
    config = SmolVLMConfig(**idefics3.config_kwargs(tok, image_size=image_size, patch_size=patch_size,
                                                    scale_factor=scale_factor, layers=layers))
    torch.manual_seed(seed)
    return SmolVLMForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    from . import idefics3

    model, processor = build_model_and_processor()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    (folder / "baseline_words.txt").write_text("\n".join(idefics3.BASELINE) + "\n")


def reference_prompt(processor, pil) -> list[int]:
    from . import idefics3

    return idefics3.reference_prompt(processor, pil)
