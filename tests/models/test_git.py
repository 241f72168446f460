"""GIT traps the battery cannot see: the image tokens are a prefix of the stack's sequence (not placeholders
in the ids) whose patch positions follow the ViT's CLS, they never see the text, our forward is the HF
model's own, and video checkpoints are refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import layerdream as ld
from families import git as family  # tests/models/families


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("git") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_patch_positions_of_the_prefix_equal_the_hf_models_own_forward(vlm):
    pil = Image.fromarray(np.random.default_rng(3).integers(0, 256, (vlm.image_size, vlm.image_size, 3), dtype=np.uint8))
    enc = vlm.processor(images=pil, text="", return_tensors="pt")
    n = (family.SIZE // family.PATCH) ** 2
    assert enc["input_ids"].shape[1] == 2  # [CLS] [SEP]: no image placeholders in the ids
    assert torch.equal(vlm.image_positions(), torch.arange(1, 1 + n))  # after the ViT's CLS at 0
    with torch.no_grad():
        out = vlm.model(**enc, output_hidden_states=True, use_cache=False)
        x = torch.from_numpy(np.array(pil)).permute(2, 0, 1)[None].float() / 255
        ours = vlm.image_tokens(x, 1)
    assert out.hidden_states[1].shape[1] == 1 + n + 2
    torch.testing.assert_close(ours[0], out.hidden_states[1][0, 1:1 + n], rtol=0, atol=1e-5)


def test_image_tokens_never_see_the_text(vlm):
    pil = Image.new("RGB", (vlm.image_size, vlm.image_size), (90, 160, 30))
    with torch.no_grad():
        states = [vlm.model(**vlm.processor(images=pil, text=text, return_tensors="pt"), output_hidden_states=True,
                            use_cache=False).hidden_states[2][0, :1 + 16] for text in ("", "red dog on the grass")]
    torch.testing.assert_close(states[0], states[1], rtol=0, atol=1e-6)


def test_video_checkpoints_are_refused(tmp_path):
    from families import save_checkpoint

    from layerdream.errors import UserError

    save_checkpoint(tmp_path, *family.build_model_and_processor(num_image_with_embedding=2), ["the"])
    with pytest.raises(UserError, match="video model"):
        ld.load(str(tmp_path), device="cpu")


def test_rule_recorded(vlm):
    [result] = ld.synthesize(vlm, "red", steps=2, progress=False)
    assert "CLS position before them left out" in result.config["image_prefix"]
