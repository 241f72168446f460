"""InstructBLIP traps the battery cannot see: the Q-Former reads the instruction, so the image tokens
depend on the prompt's text; ours are those of the empty instruction, exactly as the processor builds it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerdream as ld
from families import instructblip as family  # tests/models/families


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("instructblip") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def _states(vlm, pil, text):
    enc = dict(vlm.processor(images=pil, text=text, return_tensors="pt"))
    with torch.no_grad():
        out = vlm.model(**enc, use_cache=False, output_hidden_states=True)
    return out.language_model_outputs.hidden_states[1][:, :family.QUERIES]


def test_image_tokens_are_those_of_the_empty_instruction(vlm):
    from PIL import Image

    array = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    x = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255
    ours = vlm.image_tokens(x, 1)
    pil = Image.fromarray(array)
    torch.testing.assert_close(ours, _states(vlm, pil, "").float(), rtol=0, atol=1e-5)
    assert (ours - _states(vlm, pil, "red dog").float()).abs().max() > 1e-4  # the instruction moves the queries
    qformer_ids = vlm.image_prompt()["qformer_input_ids"][0].tolist()
    tok = vlm.processor.qformer_tokenizer
    assert qformer_ids == [tok.convert_tokens_to_ids("[CLS]"), tok.convert_tokens_to_ids("[SEP]")]


def test_results_record_the_empty_instruction_and_the_flat_prior(vlm):
    [result] = ld.synthesize(vlm, "red", steps=2, progress=False)
    assert result.config["qformer_instruction"].startswith("empty") and "learned queries" in result.config["spatial_prior"]
