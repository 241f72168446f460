"""DeepSeek-VL hybrid traps the battery cannot see: the synthesised picture reaches *both* towers with its
gradient (the battery's gradient test passes through either one alone), the SigLIP input is made from the
high-res picture as the processor makes it (at a canvas smaller than the input the two differ), and a
processor whose sizes do not fit the towers is refused in one line at load."""
from __future__ import annotations

import pytest
import torch

from families import deepseek_vl_hybrid as family  # tests/models/families
from layerdream.errors import UserError
from layerdream.models.deepseek_vl_hybrid import DeepseekVLHybridAdapter
from layerdream.models.resample import pil_resize


@pytest.fixture(scope="module")
def built():
    return family.build_model_and_processor()


def test_both_towers_carry_the_gradient_to_the_pixels(built):
    model, processor = built
    adapter = DeepseekVLHybridAdapter(model, processor)
    for live in ("pixel_values", "high_res_pixel_values"):  # one tower's input at a time; the other's held fixed
        x = torch.rand(1, 3, adapter.image_size, adapter.image_size, requires_grad=True)
        pixels = {k: v if k == live else v.detach() for k, v in adapter.preprocess(x).items()}
        model.model.get_image_features(**pixels).pooler_output.pow(2).sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0, live


def test_the_siglip_input_is_the_high_res_picture_shrunk(built):
    adapter = DeepseekVLHybridAdapter(*built)
    canvas = torch.rand(1, 3, 48, 48)  # a synthesis canvas below the input size: enlarged to 64 px first
    low = adapter.preprocess(canvas)["pixel_values"] * adapter.std + adapter.mean
    high = adapter.preprocess(canvas)["high_res_pixel_values"] * adapter.high_std + adapter.high_mean
    torch.testing.assert_close(low, pil_resize(high, 32, 32, "bicubic"), rtol=0, atol=1e-5)
    direct = pil_resize(canvas, 32, 32, "bicubic")  # what a separate resize of the canvas would feed SigLIP
    assert (low - direct).abs().max() > 1e-3


@pytest.mark.parametrize("setting,value", [("high_res_size", {"height": 32, "width": 32}),
                                           ("size", {"height": 64, "width": 64})])
def test_a_processor_that_does_not_fit_the_towers_is_refused(setting, value):
    from transformers.image_processing_utils import get_size_dict
    from transformers.image_utils import SizeDict

    model, processor = family.build_model_and_processor()
    setattr(processor.image_processor, setting, SizeDict(**get_size_dict(value)))
    with pytest.raises(UserError, match="towers take 32 .SigLIP. and 64 px .SAM."):
        DeepseekVLHybridAdapter(model, processor)
