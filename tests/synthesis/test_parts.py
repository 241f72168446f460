"""The pieces of step 2, on plain tensors: parameterisation, augmentation, objective, presets."""
import math

import pytest
import torch

from layerdream.errors import UserError
from layerdream.synthesis import augment
from layerdream.synthesis.objective import aggregate, cosine_objective, log_spatial_prior
from layerdream.synthesis.param import MultiResolutionImage
from layerdream.synthesis.presets import make_config, paper_schedule


def test_zero_init_is_uniform_gray_and_every_scale_gets_gradient():
    image = MultiResolutionImage(2, 16, [1, 4, 8, 16])
    out = image()
    assert out.shape == (2, 3, 16, 16) and torch.all(out == 0.5)
    (out * torch.randn_like(out)).sum().backward()
    assert all(p.grad.abs().sum() > 0 for p in image.parameters())


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_output_stays_in_unit_interval(mode):
    image = MultiResolutionImage(1, 8, [2, 8], upsample=mode)
    with torch.no_grad():
        for p in image.parameters():
            p.fill_(50.0)
    out = image()
    assert out.min() > 0 and out.max() <= 1


def test_shift_and_noise_shapes_and_offsets():
    gen = torch.Generator().manual_seed(0)
    offsets, eps = augment.draw(gen, 5, 16, 2, 0.1, torch.device("cpu"))
    assert offsets.shape == (5, 2) and offsets.min() >= 0 and offsets.max() <= 4
    images = torch.rand(3, 3, 16, 16)
    out = augment.shift_and_noise(images, offsets, eps, 2)
    assert out.shape == (15, 3, 16, 16)
    # copy j of image i carries noise j: image-major, copy-minor order
    clean = augment.shift_and_noise(images, offsets, None, 2)
    torch.testing.assert_close(out - clean, eps.repeat(3, 1, 1, 1))


def test_shift_is_a_translation():
    images = torch.rand(1, 3, 8, 8)
    centre = torch.tensor([[2, 2]])  # offset = max_shift: the middle crop of the upscaled canvas
    left = torch.tensor([[2, 0]])
    mid = augment.shift_and_noise(images, centre, None, 2)
    shifted = augment.shift_and_noise(images, left, None, 2)
    assert mid.shape == shifted.shape and not torch.allclose(mid, shifted)


def test_spatial_prior_peaks_at_grid_centre():
    lp = log_spatial_prior((4, 4), sigma=1.0).view(4, 4)
    assert lp.max() == lp[1:3, 1:3].max() and torch.allclose(lp[1:3, 1:3], lp[1, 1].expand(2, 2))
    assert lp[0, 0] == pytest.approx(-(1.5**2 * 2) / 2)


def test_weightings():
    torch.manual_seed(0)
    z = torch.randn(2, 4, 8)
    target = torch.nn.functional.normalize(torch.randn(2, 8), dim=-1)
    torch.testing.assert_close(aggregate(z, target, (2, 2), sigma=1, tau=1, weighting="mean"), z.mean(1))
    # tiny tau: "paper" is a hard argmax of the cosine scores (equal prior at all 4 corners of a 2x2 grid)
    scores = torch.nn.functional.cosine_similarity(z, target[:, None], dim=-1)
    best = z[torch.arange(2), scores.argmax(1)]
    torch.testing.assert_close(aggregate(z, target, (2, 2), sigma=1, tau=1e-4, weighting="paper"), best)
    torch.testing.assert_close(aggregate(z, target, (2, 2), sigma=1, tau=1e-4, weighting="prior"), best)
    with pytest.raises(ValueError):
        aggregate(z, target, (2, 2), sigma=1, tau=1, weighting="max")


def test_negatives_push_away():
    rep = torch.tensor([[1.0, 1.0]])
    target = torch.tensor([[1.0, 0.0]])
    loss, cos = cosine_objective(rep, target, torch.tensor([[0.0, 1.0]]), torch.tensor([0.5]))
    assert cos.item() == pytest.approx(math.sqrt(0.5))
    assert loss.item() == pytest.approx(-math.sqrt(0.5) + 0.5 * math.sqrt(0.5))


def test_paper_preset_reproduces_appendix_e_at_gemma3_4b_geometry():
    cfgs = {l: make_config("paper", image_size=896, grid=(16, 16), layer=l, num_layers=34) for l in (1, 5, 10, 15, 20, 25, 30)}
    c = cfgs[1]
    assert c.canvas == 448 and c.resolutions == list(range(8, 449, 20)) and len(c.resolutions) == 23
    assert (c.copies, c.max_shift, c.noise, c.steps, c.momentum, c.grad_clip) == (8, 56, 0.1, 600, 0.9, 1.0)
    assert (c.sigma(0), c.sigma(599)) == (2.0, 16.0) and c.weighting == "paper" and c.upsample == "bilinear"
    assert [cfgs[l].lr for l in cfgs] == [0.04, 0.04, 0.15, 0.15, 0.15, 0.15, 0.04]
    assert [cfgs[l].tau for l in cfgs] == [0.005, 0.005, 0.5, 0.5, 0.5, 0.5, 0.005]


def test_presets_scale_to_resolution_and_depth():
    small = make_config("paper", image_size=64, grid=(4, 4), layer=1, num_layers=4)
    assert small.canvas == 32 and small.max_shift == 4 and max(small.resolutions) == 32
    assert (small.sigma_start, small.sigma_end) == (0.5, 4.0)
    assert paper_schedule(2, 4) == (0.15, 0.5, False)  # relative depth 0.5 -> layer 17 of 34: inside the 0.15/0.5 band
    fast = make_config("fast", image_size=64, grid=(4, 4), layer=1, num_layers=4)
    assert fast.canvas == 64 and fast.resolutions == [4, 8, 16, 32, 64] and fast.steps == 80
    assert make_config("fast", image_size=896, grid=(16, 16), layer=1, num_layers=34).canvas == 448


def test_overrides_and_bad_values():
    cfg = make_config("fast", image_size=64, grid=(4, 4), layer=1, num_layers=4, lr=0.5, steps=None)
    assert cfg.lr == 0.5 and cfg.steps == 80
    with pytest.raises(UserError, match="unknown preset"):
        make_config("slow", image_size=64, grid=(4, 4), layer=1, num_layers=4)
    with pytest.raises(UserError, match="--steps"):
        make_config("fast", image_size=64, grid=(4, 4), layer=1, num_layers=4, steps=0)


def test_paper_schedule_interpolates_by_relative_depth_tau_on_a_log_scale():
    for layer, lr, tau in zip((1, 5, 10, 15, 20, 25, 30), (0.04, 0.04, 0.15, 0.15, 0.15, 0.15, 0.04),
                              (0.005, 0.005, 0.5, 0.5, 0.5, 0.5, 0.005)):
        assert paper_schedule(layer, 34) == (lr, tau, True)  # the paper's own layers: its own values
    lr7, tau7, exact = paper_schedule(7, 34)
    assert not exact and lr7 == pytest.approx(0.04 + 0.4 * 0.11) and tau7 == pytest.approx(0.005 * 100 ** 0.4)
    taus = [paper_schedule(layer, 34)[1] for layer in range(1, 35)]
    jumps = [max(a, b) / min(a, b) for a, b in zip(taus, taus[1:])]
    assert max(jumps) == pytest.approx(100 ** (1 / 5))  # was 100x between layers 7 and 8 (nearest paper layer)
    assert paper_schedule(34, 34)[:2] == (0.04, 0.005) and paper_schedule(33, 34)[2] is False


def test_non_paper_layer_says_so_once(caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="layerdream"):
        make_config("paper", image_size=896, grid=(16, 16), layer=7, num_layers=34)
        make_config("paper", image_size=896, grid=(16, 16), layer=7, num_layers=34)
        make_config("paper", image_size=896, grid=(16, 16), layer=5, num_layers=34)
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and "layer 7 of 34" in notes[0] and "not the paper's values" in notes[0]
