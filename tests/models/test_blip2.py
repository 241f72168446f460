"""BLIP-2 traps the battery cannot see: Flan-T5 checkpoints refused (encoder-decoder), the upstream
image_token bug worked around, the flat spatial prior recorded, the LM head never run."""
from __future__ import annotations

import pytest
import torch

import layerdream as ld
from families import blip2 as family  # tests/models/families
from layerdream.errors import UserError


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blip2") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_flan_t5_checkpoints_are_refused():
    from layerdream.models.blip2 import Blip2Adapter

    model, processor = family.build_model_and_processor(decoder_only=False)
    assert not model.config.use_decoder_only_language_model
    with pytest.raises(UserError, match="encoder-decoder .*no decoder-only residual stream"):
        Blip2Adapter(model, processor)


def test_the_processors_image_token_bug_is_worked_around():
    """A tokenizer that names image_token (as saved ones do) leaves Blip2Processor unable to process an
    image (AttributeError: 'str' object has no attribute 'content'); after the adapter it works."""
    from PIL import Image

    from layerdream.models.blip2 import Blip2Adapter

    model, processor = family.build_model_and_processor()
    gray = Image.new("RGB", (32, 32), (128, 128, 128))
    with pytest.raises(AttributeError, match="content"):
        processor(images=gray, text="")
    Blip2Adapter(model, processor)
    ids = processor(images=gray, text="")["input_ids"][0]
    assert ids[:family.QUERIES] == [model.config.image_token_id] * family.QUERIES
    assert ids[family.QUERIES:] == [processor.tokenizer.bos_token_id]


def test_flat_prior_recorded_and_no_lm_head(vlm):
    calls = []
    handle = vlm.model.language_model.lm_head.register_forward_hook(lambda *a: calls.append(1))
    try:
        [result] = ld.synthesize(vlm, "red", steps=2, progress=False)
    finally:
        handle.remove()
    assert not calls and "learned queries" in result.config["spatial_prior"]
    assert vlm.grid == (2, 4) and not vlm.adapter.spatial_layout
