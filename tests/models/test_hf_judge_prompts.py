"""The `hf` judge builds its prompt the way each family's processor expects: the chat template when the
checkpoint has one (one BOS), the processor's own raw layout when it has none (PaliGemma)."""
from __future__ import annotations

import pytest

from families import discover


@pytest.mark.parametrize("name", ["paligemma", "gemma3"])
def test_hf_judge_inputs(tmp_path, name):
    from PIL import Image

    from layerdream.evaluation.hf_judge import HFJudge
    from layerdream.models.processors import load_processor

    module = next(m for m in discover() if m.FAMILY == name)
    module.build(tmp_path)
    judge = HFJudge.__new__(HFJudge)  # only the prompt builder
    judge.processor, judge.device = load_processor(tmp_path), "cpu"
    inputs = judge._inputs(Image.new("RGB", (32, 32), (200, 20, 20)), "What is in the image?")
    ids = inputs["input_ids"][0].tolist()
    tok = judge.processor.tokenizer
    assert "labels" not in inputs and "pixel_values" in inputs
    assert ids.count(tok.bos_token_id) == 1
    assert tok.convert_tokens_to_ids("image") in ids or tok.unk_token_id in ids  # the question is in the prompt
