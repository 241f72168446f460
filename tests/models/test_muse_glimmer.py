"""Muse Glimmer traps the battery cannot see: the test twin's ``smart_resize`` and patch layout against the
installed source's own functions (raster-order patches, (temporal, channel) inside, unlike Qwen's), the fixed
square being its own ``smart_resize``, and our image states equal to the model's own forward on the
processor's output (1-D positions: nothing built or passed)."""
from __future__ import annotations

import ast
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from model_checks import picture_and_chat_inputs
import layerdream as ld
from families import muse_glimmer as family  # tests/models/families


def _source():
    """``smart_resize`` and ``MuseGlimmerImageProcessor.patchify`` from the installed source, compiled alone (the
    module imports torchvision at the top, which cannot run here)."""
    import transformers

    path = Path(transformers.__file__).parent / "models/muse_glimmer/image_processing_muse_glimmer.py"
    tree = ast.parse(path.read_text())
    nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "smart_resize"]
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "MuseGlimmerImageProcessor")
    nodes += [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "patchify"]
    scope = {"torch": torch, "math": math, "itertools": itertools}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(path), "exec"), scope)  # noqa: S102 - installed source
    return scope["smart_resize"], scope["patchify"]


def test_twin_is_the_sources_arithmetic():
    from PIL import Image

    smart_resize, patchify = _source()
    for h, w in [(448, 448), (300, 1000), (37, 45), (2000, 2000), (64, 64), (100, 20)]:
        assert family.smart_resize(h, w, 28, 4096) == smart_resize(h, w, 28, 4096)
        assert family.smart_resize(h, w, 16, 16) == smart_resize(h, w, 16, 16)
    assert smart_resize(448, 448, 28, 4096) == (448, 448)  # the fixed square at the released settings
    array = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)  # not square: rows vs columns
    twin = family.MuseGlimmerImageProcessorTwin(patch_size=8, max_image_tokens=6)
    out = twin(images=Image.fromarray(array), return_tensors="pt")
    x = (torch.from_numpy(array).permute(2, 0, 1).float()[None] / 255 - 0.5) / 0.5
    theirs, gh, gw = patchify(None, x, patch_size=8, temporal_patch_size=2)
    assert out["image_grid_thw"].tolist() == [[1, gh, gw]] == [[1, 4, 6]]
    torch.testing.assert_close(out["pixel_values"], theirs[0], rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("muse_glimmer") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_image_states_equal_the_models_own(vlm):
    assert "position_ids" not in vlm.image_prompt()
    x, enc = picture_and_chat_inputs(vlm, 1)
    ours = vlm.image_tokens(x, 1)
    with torch.no_grad():
        theirs = vlm.model.model(**enc, use_cache=False, output_hidden_states=True).hidden_states[1][:, vlm.image_positions()]
    # the processor's fused normalisation differs from ours by ~1e-7 per pixel; states of magnitude ~10 then
    # differ by ~3e-5 (identical pixels give identical states)
    torch.testing.assert_close(ours, theirs.float(), rtol=0, atol=1e-4)
