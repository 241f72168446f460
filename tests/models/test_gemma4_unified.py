"""Gemma 4 Unified traps the battery cannot see: the merged patches (the twin and the adapter cut k p-px
patches directly) equal the source's own ``patches_merge`` of its teacher patches, the token count is fixed
although the processor varies it, and the image block is bidirectional only with ``mm_token_type_ids``."""
from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import layerdream as ld
from families import gemma4_unified as family  # tests/models/families


def _source_functions(*names):
    """``convert_image_to_patches`` and ``patches_merge`` from the installed image processor's source: its module
    imports torchvision at the top, so the two pure-torch functions are compiled alone."""
    import transformers

    path = Path(transformers.__file__).parent / "models/gemma4_unified/image_processing_gemma4_unified.py"
    tree = ast.parse(path.read_text())
    module = ast.Module(body=[n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names], type_ignores=[])
    scope = {"torch": torch, "math": math}
    exec(compile(module, str(path), "exec"), scope)  # noqa: S102 - transformers' own installed source
    return [scope[n] for n in names]


def test_merged_patches_equal_the_sources_patches_merge():
    convert, merge = _source_functions("convert_image_to_patches", "patches_merge")
    p, k, rows, cols = 2, 3, 7, 10  # non-square (x and y cannot be swapped unnoticed), exactly the 70-token budget
    image = torch.rand(3, rows * k * p, cols * k * p)
    teacher = convert(image, p)
    xs, ys = torch.meshgrid(torch.arange(cols * k), torch.arange(rows * k), indexing="xy")
    positions = torch.stack([xs, ys], dim=-1).reshape(-1, 2)
    theirs, their_positions = merge(teacher[None], positions[None], rows * cols)
    from PIL import Image

    pil = Image.fromarray((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    twin = family.Gemma4UnifiedImageProcessorTwin(patch_size=p, max_soft_tokens=70, pooling_kernel_size=k)
    h, w = family.target_size(pil.height, pil.width, p, 70 * k * k, k)
    assert (h, w) == (rows * k * p, cols * k * p)  # at its own size: not resampled
    out = twin(images=pil, return_tensors="pt")
    quantised = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1).float() / 255
    expected, _ = merge(convert(quantised, p)[None], positions[None], rows * cols)
    torch.testing.assert_close(out["pixel_values"][0, : rows * cols], expected[0], rtol=0, atol=1e-6)
    assert out["image_position_ids"][0, : rows * cols].tolist() == their_positions[0].tolist()
    assert out["num_soft_tokens_per_image"].tolist() == [rows * cols]  # the whole budget: no padding here (the battery pads)
    assert theirs.shape == (1, rows * cols, (k * p) ** 2 * 3)


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gemma4_unified") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_token_count_is_fixed_although_the_processor_varies_it(vlm):
    from PIL import Image

    count = lambda w, h: list(vlm.processor.image_processor(images=Image.new("RGB", (w, h)))["num_soft_tokens_per_image"])  # noqa: E731
    assert count(100, 20) != count(vlm.image_size, vlm.image_size)
    assert count(vlm.image_size, vlm.image_size) == count(500, 500) == [vlm.grid[0] * vlm.grid[1]] == [64]
    assert vlm.image_size == 48 and vlm.adapter.vision_dims().tokens == 70  # padded merged patches, no tower


def test_image_block_is_bidirectional_only_with_mm_token_type_ids(vlm):
    assert vlm.model.config.get_text_config().use_bidirectional_attention == "vision"
    images = torch.rand(2, 3, vlm.image_size, vlm.image_size)
    prompt, positions = vlm.image_prompt(), vlm.image_positions()
    with torch.no_grad():
        ours = vlm.image_tokens(images, 1)
        common = dict(input_ids=prompt["input_ids"].expand(2, -1), attention_mask=prompt["attention_mask"].expand(2, -1),
                      output_hidden_states=True, use_cache=False, **vlm.adapter.preprocess(images))
        with_types = vlm.backbone(mm_token_type_ids=prompt["mm_token_type_ids"].expand(2, -1), **common).hidden_states[1]
        causal = vlm.backbone(**common).hidden_states[1]
    assert torch.allclose(ours, with_types[:, positions], atol=1e-5)
    assert (ours[:, 0] - causal[:, positions][:, 0]).abs().max() > 1e-3  # the first image token sees the whole block
