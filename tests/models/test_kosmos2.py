"""Kosmos-2 traps the battery cannot see: image positions come from image_embeds_position_mask (the
placeholders are ordinary vocabulary ids), and the flat prior of latent queries is recorded."""
from __future__ import annotations

import pytest
import torch

import layerdream as ld
from families import kosmos2 as family  # tests/models/families


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kosmos2") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_positions_are_the_processors_mask(vlm):
    prompt = vlm.image_prompt()
    positions = vlm.image_positions()
    assert torch.equal(positions, prompt["image_embeds_position_mask"][0].nonzero().flatten())
    ids = prompt["input_ids"][0, positions].tolist()
    first = vlm.tokenizer.unk_token_id + 1
    assert ids == list(range(first, first + family.QUERIES))  # ordinary ids, overwritten by the query outputs
    tok = vlm.tokenizer.convert_tokens_to_ids
    assert prompt["input_ids"][0, positions[0] - 1] == tok("<image>") and prompt["input_ids"][0, positions[-1] + 1] == tok("</image>")


def test_flat_prior_recorded(vlm):
    [result] = ld.synthesize(vlm, "red", steps=2, progress=False)
    assert "learned queries" in result.config["spatial_prior"] and vlm.grid == (8, 8)
