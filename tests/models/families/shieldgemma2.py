"""ShieldGemma 2: Gemma 3 4B under its own config type (``ShieldGemma2Config``), which transformers
5.24's image-text mapping loads as ``Gemma3ForConditionalGeneration``.

The tiny checkpoint is the Gemma 3 one (``layerdream.models.tiny``) with its config rebuilt as a
``ShieldGemma2Config`` (same sub-configs and token ids), so ``AutoModelForImageTextToText`` takes the
shieldgemma2 route the released checkpoint would.
"""
from __future__ import annotations

FAMILY = "shieldgemma2"
CLASS = "Gemma3ForConditionalGeneration"


def build(folder) -> None:
    import torch
    from transformers import Gemma3ForConditionalGeneration, ShieldGemma2Config

    from tinymodels import BASELINE, WORDS  # tests/tinymodels.py
    from layerdream.models.tiny import build_tiny_gemma3

    gemma, _, processor = build_tiny_gemma3(WORDS)
    c = gemma.config
    config = ShieldGemma2Config(text_config=c.text_config.to_dict(), vision_config=c.vision_config.to_dict(),
                                mm_tokens_per_image=c.mm_tokens_per_image, boi_token_index=c.boi_token_index,
                                eoi_token_index=c.eoi_token_index, image_token_index=c.image_token_index)
    model = Gemma3ForConditionalGeneration(config).eval()
    model.load_state_dict(gemma.state_dict())
    assert model.config.model_type == "shieldgemma2"
    with torch.no_grad():
        assert torch.equal(model.model.multi_modal_projector.mm_input_projection_weight,
                           gemma.model.multi_modal_projector.mm_input_projection_weight)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    (folder / "baseline_words.txt").write_text("\n".join(BASELINE) + "\n")
