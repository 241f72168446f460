"""Llama 4 traps the battery cannot see: the twin image processor against the source's documented
arithmetic, the one-tile prompt layout, the MoE routing rule (per token: an image's tokens route the same
alone as in a batch), the upstream forward bug the backbone avoids, and the rule recorded in results."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerdream as ld
from families import llama4 as family  # tests/models/families
from families.llama4 import Llama4ImageProcessorTwin


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("llama4") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_twin_canvases_are_the_sources_documented_ones():
    """find_supported_resolutions' docstring lists the canvases of max_num_chunks 4 at patch 224 (its example
    line says 5, but the list and the worked dictionary below it are those of 4: no 1 x 5 or 5 x 1)."""
    expected = {(224, 896), (448, 448), (224, 224), (896, 224), (224, 672), (672, 224), (224, 448), (448, 224)}
    got = Llama4ImageProcessorTwin.canvases(4, 224)
    assert set(got) == expected


def test_twin_one_tile_square_and_letterboxed_photo():
    from PIL import Image

    twin = Llama4ImageProcessorTwin()
    assert twin.best_canvas(336, 336) == (336, 336)  # scale 1, smallest area: one tile, no global view
    k = np.random.default_rng(0).integers(0, 256, (336, 336, 3), dtype=np.uint8)
    out = twin(images=Image.fromarray(k), return_tensors="pt")
    assert out["pixel_values"].shape == (1, 3, 336, 336) and out["aspect_ratios"].tolist() == [[1, 1]]
    assert out["pixel_values"].dtype == torch.bfloat16  # rescale + normalise in bf16, as the source
    x = torch.from_numpy(k).permute(2, 0, 1).float()
    assert (out["pixel_values"][0].float() - (x / 255 - 0.5) / 0.5).abs().max() < 2 ** -7  # bf16 rounding only
    # a wide 200 x 500 photo: canvas 336 x 672 (2 tiles, upscaled by 1.344 <= no more than size), + global view
    wide = twin(images=Image.fromarray(np.zeros((200, 500, 3), np.uint8)), return_tensors="pt")
    assert wide["aspect_ratios"].tolist() == [[1, 2]] and wide["pixel_values"].shape == (3, 3, 336, 336)


def test_adapter_pixels_are_the_processors_bf16_values_and_differentiable(vlm):
    k = torch.randint(0, 256, (2, 3, 336, 336)).float()
    x = (k / 255).requires_grad_()
    ours = vlm.adapter.preprocess(x)["pixel_values"]
    reference = ((k.to(torch.bfloat16) * (1 / 255)) - 0.5) / 0.5
    assert torch.equal(ours, reference.float())
    ours.sum().backward()
    # straight through the casts: d/dx (x - .5)/.5 = 2, to bfloat16 precision (the gradient is cast on the way back)
    assert torch.allclose(x.grad, torch.full_like(x.grad, 2.0), rtol=2 ** -7, atol=0)


def test_prompt_is_one_tile_of_patch_tokens(vlm):
    ids = vlm.image_prompt()["input_ids"][0].tolist()
    tok = vlm.tokenizer.convert_tokens_to_ids
    start = ids.index(tok("<|image_start|>"))
    assert ids[start + 1] == tok("<|image|>")
    assert ids[start + 2:start + 2 + 144] == [tok("<|patch|>")] * 144 and ids[start + 146] == tok("<|image_end|>")
    assert vlm.grid == (12, 12) and tok("<|tile_x_separator|>") not in ids


def test_moe_routing_is_per_token(vlm):
    """An image's tokens at layer 2 (after two MoE blocks) are the same alone and in a batch, while the
    router does send them to different experts (the check is not vacuous)."""
    images = torch.rand(2, 3, 336, 336)
    with torch.no_grad():
        both = vlm.image_tokens(images, 2)
        alone = torch.cat([vlm.image_tokens(images[i:i + 1], 2) for i in range(2)])
    assert torch.allclose(both, alone, atol=1e-5)
    routers = []
    handles = [block.feed_forward.router.register_forward_hook(lambda m, a, out: routers.append(a[0] @ m.weight.T))
               for block in vlm.layers]
    try:
        with torch.no_grad():
            vlm.image_tokens(images[:1], 2)
    finally:
        for handle in handles:
            handle.remove()
    chosen = routers[0].argmax(-1)
    assert chosen.unique().numel() > 1
    assert "per-token top-1 of 4 experts" in vlm.adapter.result_notes(2)["moe_routing"]


def test_the_backbone_path_works_whether_or_not_the_top_level_forward_does(vlm):
    """transformers 5.24's top-level forward raises AttributeError (``image_outputs``), so the adapter runs
    the backbone; 5.25 fixed it upstream, and where it runs it must give the backbone's states."""
    prompt = vlm.image_prompt()
    pixels = vlm.adapter.preprocess(torch.rand(1, 3, 336, 336))
    out = vlm.backbone(**prompt, **pixels, output_hidden_states=True)
    assert len(out.hidden_states) == vlm.num_layers + 1
    try:
        top = vlm.model(**prompt, **pixels, output_hidden_states=True)
    except AttributeError as e:  # the upstream bug of transformers 5.24
        assert "image_outputs" in str(e)
        return
    assert len(top.hidden_states) == len(out.hidden_states)
    for a, b in zip(top.hidden_states, out.hidden_states):
        torch.testing.assert_close(a, b)
