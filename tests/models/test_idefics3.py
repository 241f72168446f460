"""Idefics3's traps that the family battery cannot see: an exactly gray image (all-zero after
normalisation) is dropped as padding, the processor splits a picture into 4x4 tiles + a global image
unless told not to, and the pixel shuffle must keep the token grid row-major."""
from __future__ import annotations

import pytest
import torch

import layerdream as ld
from families import idefics3 as family
from layerdream.models.idefics3 import GRAY_LIFT


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("idefics3")
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_exact_gray_reaches_the_model(vlm):
    from layerdream.models.idefics3 import GRAY_LIFT

    gray = torch.full((2, 3, vlm.image_size, vlm.image_size), 0.5)
    pixels = vlm.adapter.preprocess(gray)["pixel_values"]
    assert pixels.shape == (2, 1, 3, vlm.image_size, vlm.image_size)
    assert torch.all(pixels == GRAY_LIFT)  # lifted off exact zero, by far less than a uint8 step (2/255)
    P = vlm.grid[0] * vlm.grid[1]
    with torch.no_grad():
        assert vlm.gray_reference(1).shape == (P, vlm.hidden_size)  # the centring baseline is a gray image
        assert vlm.image_tokens(gray, 1).shape == (2, P, vlm.hidden_size)
    # the trap itself: the same prompt with exact zeros loses the images as padding and fails
    prompt = vlm.image_prompt()
    with pytest.raises(Exception, match="0 elements|do not match"), torch.no_grad():
        vlm.backbone(input_ids=prompt["input_ids"].expand(2, -1), attention_mask=prompt["attention_mask"].expand(2, -1),
                     pixel_values=torch.zeros_like(pixels), use_cache=False)


def test_lift_leaves_other_images_and_gradients_alone(vlm):
    x = torch.rand(2, 3, vlm.image_size, vlm.image_size)
    x[1] = 0.5
    x.requires_grad_(True)
    pixels = vlm.adapter.preprocess(x)["pixel_values"]
    unlifted = (vlm.adapter.resized(x) - 0.5) / 0.5  # the processor's resize, normalised, without the lift
    assert torch.equal(pixels[0, 0], unlifted[0]) and torch.equal(pixels[1, 0], unlifted[1] + GRAY_LIFT)
    grad, = torch.autograd.grad(pixels[:, 0, :, 4, 4].sum(), x, retain_graph=True)
    expected, = torch.autograd.grad(unlifted[:, :, 4, 4].sum(), x)
    torch.testing.assert_close(grad, expected, rtol=0, atol=0)  # gray included: the lift is a constant
    assert grad[1].abs().sum() > 0


def test_one_tile_although_the_processor_splits(vlm):
    from PIL import Image

    ip = vlm.processor.image_processor
    assert ip.do_image_splitting and ip.size["longest_edge"] == 4 * vlm.image_size  # the released configs
    gray = Image.new("RGB", (vlm.image_size, vlm.image_size), (128, 128, 128))
    split = vlm.processor.apply_chat_template([{"role": "user", "content": [{"type": "image", "image": gray}]}],
                                              add_generation_prompt=True, tokenize=True, return_dict=True)
    tok = vlm.tokenizer
    image_id = vlm.model.config.image_token_id
    assert list(split["input_ids"][0]).count(image_id) == 17 * vlm.grid[0] * vlm.grid[1]  # 4x4 tiles + global
    ids = vlm.image_prompt()["input_ids"][0].tolist()
    assert ids.count(image_id) == vlm.grid[0] * vlm.grid[1]
    assert ids.count(tok.convert_tokens_to_ids("<global-img>")) == 1
    assert not any(t.startswith("<row_") for t in tok.convert_ids_to_tokens(ids))
    raw = vlm.adapter.image_prompt("raw")["input_ids"][0].tolist()
    assert raw.count(image_id) == vlm.grid[0] * vlm.grid[1] and raw.count(tok.bos_token_id) == 1


def test_pixel_shuffle_keeps_the_grid_row_major(vlm):
    """Token (r, c) of the grid must hold the patches of block (r, c): that is what centres the prior."""
    scale = vlm.model.config.scale_factor
    side = vlm.grid[0] * scale  # patches per row
    patch_rc = torch.stack(torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij"), -1).reshape(1, side * side, 2)
    shuffled = vlm.model.model.connector.pixel_shuffle(patch_rc.float(), scale)  # (1, tokens, 2 * scale^2)
    assert shuffled.shape[1] == vlm.grid[0] * vlm.grid[1]
    for token in range(shuffled.shape[1]):
        rows, cols = shuffled[0, token, 0::2], shuffled[0, token, 1::2]
        assert set((rows // scale).tolist()) == {token // vlm.grid[1]}
        assert set((cols // scale).tolist()) == {token % vlm.grid[1]}


def test_concept_prompt_uses_the_template_with_list_content(vlm):
    """Idefics3's template reads ``content[0]['type']`` and loops over content items: a plain string
    content renders no text at all, so the concept prompt must be built from list content."""
    from layerdream.concepts import concept_vector, render

    assert "red" not in vlm.tokenizer.apply_chat_template([{"role": "user", "content": "red"}], tokenize=False)
    prompt, start, end = render(vlm, "red")
    assert prompt == "<|begin_of_text|>User: red<end_of_utterance>\nAssistant:" and prompt[start:end] == "red"
    assert concept_vector(vlm, "red", 1).norm().item() == pytest.approx(1.0, abs=1e-5)


def test_tile_that_does_not_divide_into_patches(tmp_path):
    """SmolVLM 2.2B: 384-px tiles of 14-px patches (27x27, the conv drops 6 px), pixel shuffle 3 -> 9x9."""
    model, processor = family.build_model_and_processor(image_size=26, patch_size=4, scale_factor=3)  # 6x6 -> 2x2
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    vlm = ld.load(str(tmp_path), device="cpu")
    assert vlm.image_size == 26 and vlm.grid == (2, 2)
    with torch.no_grad():
        assert vlm.image_tokens(torch.rand(2, 3, 26, 26), 1).shape == (2, 4, vlm.hidden_size)


def test_concept_prompt_uses_the_processors_template(tmp_path):
    """A hub layout: the processor's template in the legacy chat_template.json, the tokenizer with its
    base model's own (chatml): concept prompts must still be rendered with the processor's."""
    import json

    family.build(tmp_path)
    template = (tmp_path / "chat_template.jinja").read_text()
    (tmp_path / "chat_template.jinja").unlink()
    (tmp_path / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    config["chat_template"] = ("{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n'}}"
                               "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    vlm = ld.load(str(tmp_path), device="cpu")
    from layerdream.concepts import render

    assert render(vlm, "red")[0] == "<|begin_of_text|>User: red<end_of_utterance>\nAssistant:"


def _layer1(vlm, pixel_values):
    prompt, at = vlm.image_prompt(), vlm.image_positions()
    with torch.no_grad():
        return vlm.residual(1, **vlm.adapter.forward_inputs(prompt, {"pixel_values": pixel_values}, len(pixel_values)))[:, at]


@pytest.mark.parametrize("side", [32, 16, 20])  # the tile; the paper preset's canvas (half the tile); another size
def test_pixels_and_states_are_the_processors_at_its_defaults(vlm, side):
    """The processor at its defaults (do_resize=True: up to longest_edge = 4 x the tile and back, LANCZOS)
    low-passes even a tile-sized picture; without that path layer-1 states differed by 29 % (issue 19.2)."""
    import numpy as np
    from PIL import Image

    array = np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8)
    theirs = vlm.processor.image_processor(images=Image.fromarray(array), do_image_splitting=False,
                                           return_tensors="pt")["pixel_values"]
    x = (torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255).requires_grad_(True)
    ours = vlm.adapter.preprocess(x)["pixel_values"]
    assert ours.shape == theirs.shape == (1, 1, 3, vlm.image_size, vlm.image_size)
    assert (ours - theirs).abs().max() <= 1.5 * 2 / 255  # one uint8 step: PIL rounds after each pass
    reference = _layer1(vlm, theirs)
    assert (_layer1(vlm, ours.detach()) - reference).norm() / reference.norm() < 0.02  # measured 0.6 %
    ours.sum().backward()  # through the checkpointed round trip
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_longest_edge_arithmetic_is_the_processors():
    from transformers.models.idefics3.image_processing_pil_idefics3 import _resize_output_size_rescale_to_max_len, \
        _resize_output_size_scale_below_upper_bound

    from layerdream.models.idefics3 import MAX_IMAGE_SIZE, longest_edge_size

    for h, w, longest in [(32, 32, 128), (480, 640, 1456), (641, 333, 2048), (100, 3000, 5000), (7, 5, 1537)]:
        expected = _resize_output_size_scale_below_upper_bound(*_resize_output_size_rescale_to_max_len(h, w, max_len=longest),
                                                                max_len=MAX_IMAGE_SIZE)
        assert longest_edge_size(h, w, longest) == expected, (h, w, longest)


def test_without_do_resize_the_tile_passes_unchanged(tmp_path):
    """A checkpoint saved with do_resize=False: no round trip, the tile's pixels exactly."""
    model, processor = family.build_model_and_processor()
    processor.image_processor.do_resize = False
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    vlm = ld.load(str(tmp_path), device="cpu")
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(vlm.adapter.preprocess(x)["pixel_values"][0, 0], (x[0] - 0.5) / 0.5, rtol=0, atol=0)
