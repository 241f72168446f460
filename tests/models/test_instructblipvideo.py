"""InstructBLIP-Video traps the battery cannot see: an image is 4 equal frames (the prompt holds 4 frames'
queries; one frame, what the processor makes of an image, does not fit), our forward equals the HF model's
own on the processor's 4-equal-frame video, and the adapter works where the video slot is layerdream's
images-only stand-in (no torchvision: what ``ld.load`` gives here outside the tests)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import layerdream as ld
from families import instructblipvideo as family  # tests/models/families


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("instructblipvideo") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return folder


@pytest.fixture(scope="module")
def vlm(folder):
    return ld.load(str(folder), device="cpu")


def _picture(vlm, seed=3):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (vlm.image_size, vlm.image_size, 3), dtype=np.uint8))


def test_an_image_is_four_equal_frames_as_the_hf_model_reads_a_video(vlm):
    pil = _picture(vlm)
    video = vlm.processor(images=[[pil] * 4], text="", return_tensors="pt")  # one video of 4 equal frames
    assert video["pixel_values"].shape[1] == 4
    x = torch.from_numpy(np.array(pil)).permute(2, 0, 1)[None].float() / 255
    inputs = vlm.adapter.forward_inputs(vlm.image_prompt(), vlm.adapter.preprocess(x), 1)
    torch.testing.assert_close(inputs["pixel_values"], video["pixel_values"], rtol=0, atol=1e-5)
    assert torch.equal(inputs["input_ids"], video["input_ids"])
    with torch.no_grad():
        out = vlm.model(**{k: video[k] for k in ("input_ids", "attention_mask", "pixel_values", "qformer_input_ids",
                                                 "qformer_attention_mask")}, output_hidden_states=True, use_cache=False)
        ours = vlm.image_tokens(x, 1)
    positions = vlm.image_positions()
    assert positions.numel() == 4 * family.QUERIES
    torch.testing.assert_close(ours[0], out.language_model_outputs.hidden_states[1][0, positions], rtol=0, atol=1e-5)
    one_frame = vlm.processor(images=pil, text="", return_tensors="pt")  # what the processor makes of an image
    with pytest.raises(Exception):
        vlm.model(**{k: one_frame[k] for k in ("input_ids", "attention_mask", "pixel_values", "qformer_input_ids",
                                               "qformer_attention_mask")})


def test_images_only_video_slot(folder, vlm):
    """Without torchvision the video slot is layerdream's stand-in: the adapter reads its saved settings and
    builds the prompt without it, exactly as with the real class."""
    from transformers import InstructBlipVideoProcessor

    from layerdream.models.instructblipvideo import InstructBlipVideoAdapter
    from layerdream.models.processors import ImagesOnlyVideoProcessor, _load_without_video

    processor = _load_without_video(InstructBlipVideoProcessor, str(folder))
    assert isinstance(processor.video_processor, ImagesOnlyVideoProcessor)
    adapter = InstructBlipVideoAdapter(vlm.model, processor)
    assert adapter.image_size == vlm.image_size and adapter.grid == vlm.grid
    x = torch.rand(1, 3, vlm.image_size, vlm.image_size)
    assert torch.equal(adapter.preprocess(x)["pixel_values"], vlm.adapter.preprocess(x)["pixel_values"])
    ours, theirs = adapter.image_prompt(), vlm.adapter.image_prompt()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_rules_recorded(vlm):
    [result] = ld.synthesize(vlm, "red", steps=2, progress=False)
    assert "learned queries" in result.config["spatial_prior"] and "4 equal frames" in result.config["frames"]
