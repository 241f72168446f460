"""Fuyu traps the battery cannot see: the upstream patchify bug (transformers 5.24) and its workaround, the
prompt layout (rows closed by |NEWLINE|, BOS after the image block), and the linear patch embedding
receiving our patches in the processor's order."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from families import fuyu as family  # tests/models/families


def test_the_processors_patchify_bug_is_worked_around():
    from layerdream.models.fuyu import FuyuAdapter

    model, processor = family.build_model_and_processor()
    gray = Image.new("RGB", (480, 480), (128, 128, 128))
    with pytest.raises(TypeError, match="transpose"):  # numpy's transpose(0, 1, 3, 2, 4) on a torch tensor
        processor(text="", images=gray, return_tensors="pt")
    FuyuAdapter(model, processor)
    FuyuAdapter(model, processor)  # installed once, not wrapped twice
    out = processor(text="", images=gray, return_tensors="pt", return_legacy_image_output=False)
    assert out["pixel_values"].shape == (256, 2700)


def test_prompt_layout_and_patch_order():
    from layerdream.models.fuyu import FuyuAdapter

    torch.set_num_threads(1)
    model, processor = family.build_model_and_processor()
    adapter = FuyuAdapter(model, processor)
    tok = processor.tokenizer.convert_tokens_to_ids
    ids = adapter.image_prompt()["input_ids"][0].tolist()
    rows = [tok("|SPEAKER|")] * 16 + [tok("|NEWLINE|")]
    assert ids[: 17 * 16] == rows * 16  # the processor strips the tokenizer's leading "▁" before the block
    assert ids[17 * 16] == tok("<s>") and ids.count(tok("<s>")) == 1 and ids[-1] == tok("<0x04>")
    assert adapter.grid == (16, 16) and adapter.image_size == 480
    k = np.random.default_rng(0).integers(0, 256, (480, 480, 3), dtype=np.uint8)
    ours = adapter.preprocess(torch.from_numpy(k).permute(2, 0, 1)[None].float() / 255)["pixel_values"]
    x = ((k.astype(np.float32) / 255 - 0.5) / 0.5).transpose(2, 0, 1)
    theirs = processor.image_processor.patchify_image(x)  # the PIL class's own numpy patchify
    assert np.abs(ours.numpy() - theirs).max() < 1e-5
    # patch 17 (row 1, column 1) holds pixels [30:60, 30:60] in (row, column, channel) order
    assert np.allclose(ours[17].numpy(), x[:, 30:60, 30:60].transpose(1, 2, 0).reshape(-1), atol=1e-6)
