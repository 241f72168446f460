"""Stride = kernel patch convolutions as one matmul (models/patch_embed.py): the same numbers as the
convolution to fp32 rounding, gradients included, and installed on the towers a VLM loads."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from layerdream.models.patch_embed import install, patch_matmul, qualifies


def test_equals_the_convolution_and_its_gradient():
    torch.manual_seed(0)
    for side, patch, bias in [(28, 14, True), (30, 14, True), (32, 4, False), (27, 3, True)]:  # 30: a 2-px remainder dropped
        conv = nn.Conv2d(3, 16, patch, stride=patch, bias=bias)
        x = torch.rand(2, 3, side, side, requires_grad=True)
        expected = conv(x)
        grad_expected, = torch.autograd.grad(expected.pow(2).sum(), x)
        y = patch_matmul(x, conv.weight, conv.bias)
        assert y.shape == expected.shape
        torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-5)
        grad, = torch.autograd.grad(y.pow(2).sum(), x)
        torch.testing.assert_close(grad, grad_expected, rtol=1e-5, atol=1e-5)
        # the tower's next step, flatten(2).transpose(1, 2), gets a contiguous tensor without a copy
        assert y.flatten(2).transpose(1, 2).is_contiguous()


def test_only_non_overlapping_convolutions_change():
    keep = [nn.Conv2d(3, 8, 3, stride=1), nn.Conv2d(3, 8, 4, stride=2), nn.Conv2d(3, 8, 4, stride=4, padding=1),
            nn.Conv2d(4, 8, 2, stride=2, groups=2), nn.Conv2d(3, 8, 2, stride=2, dilation=2)]
    changed = nn.Conv2d(3, 8, 4, stride=4)
    model = nn.Sequential(*keep, changed)
    assert [qualifies(m) for m in model] == [False] * len(keep) + [True]
    assert install(model) == 1 and install(model) == 0  # twice is a no-op
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(changed(x), F.conv2d(x, changed.weight, changed.bias, stride=4), rtol=1e-5, atol=1e-5)
    assert set(changed.state_dict()) == {"weight", "bias"}


def test_installed_on_the_loaded_tower(tiny_vlm):
    convs = [m for m in tiny_vlm.model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all("forward" in vars(m) for m in convs)  # the patch embedding of the SigLIP tower
