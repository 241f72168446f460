"""PerceptionLM traps the battery cannot see: the released 448-px geometry (16 x 16 tokens, pixels equal to the real
image processor's single tile), a processor that pools or cuts otherwise than the model (refused in one line), and
the test-only torchvision stand-ins staying out of every other test (tests/models/families/_timm_stand_in.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from families import perception_lm as family  # tests/models/families
from layerdream.errors import UserError


@pytest.fixture(scope="module", autouse=True)
def _timm():
    family.require_timm()  # skips without timm


def _adapter(**kwargs):
    from layerdream.models.perception_lm import PerceptionLMAdapter

    torch.set_num_threads(1)
    model, processor = family.build_model_and_processor(**kwargs)
    return PerceptionLMAdapter(model, processor)


def test_released_geometry_is_256_tokens_and_the_processors_single_tile():
    """448-px tiles of 14-px patches pooled 2 x 2 (Perception-LM-1B/3B/8B): a 16 x 16 grid, the prompt's 256
    ``<|image|>`` tokens, pixels equal to the processor's ``vanilla`` tile; its default would send 37 tiles."""
    from PIL import Image

    adapter = _adapter(tile=448, patch=14, layers=1)
    assert adapter.grid == (16, 16) and adapter.image_size == 448
    prompt = adapter.image_prompt()["input_ids"]
    assert int((prompt == adapter.model.config.image_token_id).sum()) == 256
    adapter.image_positions(prompt)  # the count the grid says
    pil = Image.fromarray(np.random.default_rng(0).integers(0, 256, (448, 448, 3), dtype=np.uint8))
    x = torch.from_numpy(np.array(pil)).permute(2, 0, 1)[None].float() / 255
    theirs = adapter.processor.image_processor(images=pil, return_tensors="pt", **family.PROCESSOR_KWARGS)
    torch.testing.assert_close(adapter.preprocess(x)["pixel_values"], theirs["pixel_values"], rtol=0, atol=1e-5)
    default = adapter.processor._get_num_multimodal_tokens(image_sizes=[(448, 448)])
    assert default["num_image_patches"] == [37] and default["num_image_tokens"] == [37 * 256]


def test_a_processor_that_disagrees_with_the_model_is_refused():
    from layerdream.models.perception_lm import PerceptionLMAdapter

    model, processor = family.build_model_and_processor()
    processor.pooling_ratio = 1
    with pytest.raises(UserError, match="pools 1 x 1 patches per token but the projector pools 2 x 2"):
        PerceptionLMAdapter(model, processor)
    processor.pooling_ratio, processor.patch_size = 2, 4
    with pytest.raises(UserError, match="counts 4-px patches but the vision tower cuts 8 px"):
        PerceptionLMAdapter(model, processor)


def test_the_torchvision_stand_ins_stay_out_of_other_tests():
    """After timm and the image processor are imported with them: torchvision still does not import, transformers
    still says it is missing (and timm too), and only ``modeling_timm_wrapper`` was given timm."""
    import importlib.util
    import sys

    from transformers.utils import import_utils

    if import_utils.is_timm_available():
        pytest.skip("torchvision imports here: nothing is stood in")
    family.build_model_and_processor(layers=1)
    assert not [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]
    assert importlib.util.find_spec("torchvision") is None
    with pytest.raises(ImportError):
        import torchvision  # noqa: F401
    assert not import_utils.is_torchvision_available() and not import_utils.is_timm_available()
    from transformers.utils import requires_backends

    with pytest.raises(ImportError):
        requires_backends(object(), ["timm"])  # the check everywhere else is untouched
