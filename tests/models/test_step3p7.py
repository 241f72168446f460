"""Step 3.7 traps the battery cannot see: the installed crop planner makes no local crops of the fixed square
(but does of larger or elongated images, which the adapter never builds), a checkpoint whose planner would crop
the square is refused, the conv downsampler's row-major token order, the released geometry and the MoE rule."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from PIL import Image

import layerdream as ld
from families import step3p7 as family  # tests/models/families
from layerdream.errors import UserError
from moe_checks import assert_moe_routing


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("step3p7")
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_the_installed_planner_crops_other_images_but_not_the_square():
    twin = family.Step3p7ImageProcessorTwin()  # the class defaults: 728-px global view, 504-px crops
    assert twin.get_number_of_image_patches(728, 728) == 0
    assert twin.get_number_of_image_patches(1456, 1456) == 9  # 3 x 3 windows of 504 px (snapped up)
    assert twin.get_number_of_image_patches(300, 700) > 0  # elongated (> 1.5): tiles of the short side
    with pytest.raises(NotImplementedError):
        twin(images=Image.new("RGB", (1456, 1456)))


def test_a_planner_that_crops_the_square_is_refused():
    from transformers import Step3p7Config

    from layerdream.models.step3p7 import Step3p7Adapter

    processor = family.build_processor(size={"height": 728, "width": 728}, max_image_size=600)
    # a square above max_image_size is shrunk before planning (still one view); a planner that tiles the square
    # (patched in: no released setting does) is refused
    Step3p7Adapter(SimpleNamespace(config=Step3p7Config()), processor)
    processor.image_processor._plan_patches = lambda w, h, s, p: ((w, h), (w, h), 364, 2, 2, False)
    with pytest.raises(UserError, match="into 4 local crops"):
        Step3p7Adapter(SimpleNamespace(config=Step3p7Config()), processor)


def test_released_geometry_is_728_px_13x13():
    from transformers import Step3p7Config

    from layerdream.models.step3p7 import Step3p7Adapter

    processor = family.build_processor(size={"height": 728, "width": 728})
    adapter = Step3p7Adapter(SimpleNamespace(config=Step3p7Config()), processor)
    assert adapter.image_size == 728 and adapter.grid == (13, 13)
    assert processor.num_image_feature_size == 169


@pytest.mark.parametrize("corner", [(0, 0), (0, 3), (3, 0), (3, 3), (1, 2)])
def test_grid_is_row_major_after_the_downsampler(vlm, corner):
    """The 3x3 stride-2 convolutions overlap, so a token's window reaches its neighbours' patches; ViT patch
    (4r, 4c) reaches token (r, c) alone through them (and the others only by the ViT's attention)."""
    rows, cols = vlm.grid
    p = 14
    r, c = corner
    base = torch.full((1, 3, vlm.image_size, vlm.image_size), 0.5)
    poked = base.clone()
    poked[..., 4 * r * p:(4 * r + 1) * p, 4 * c * p:(4 * c + 1) * p] = torch.rand(3, p, p)
    with torch.no_grad():
        before = vlm.model.model.get_image_features(**vlm.adapter.preprocess(base)).pooler_output[0]
        after = vlm.model.model.get_image_features(**vlm.adapter.preprocess(poked)).pooler_output[0]
    change = (after - before).norm(dim=-1)
    assert int(change.argmax()) == r * cols + c, change.view(rows, cols)


def test_image_block_and_moe_routing(vlm):
    ids = vlm.image_prompt()["input_ids"][0].tolist()
    tok = vlm.tokenizer.convert_tokens_to_ids
    start = ids.index(tok("<im_start>"))
    assert ids[start + 1:start + 17] == [tok("<im_patch>")] * 16 and ids[start + 17] == tok("<im_end>")
    assert_moe_routing(vlm, 2, routers=[block.mlp.gate for block in vlm.layers])
    assert vlm.adapter.result_notes(2)["moe_routing"].startswith("per-token top-2 of 4 experts (sigmoid router)")
