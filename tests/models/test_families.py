"""The same battery for every supported VLM family (one tiny checkpoint each, tests/models/families/).

For each family: preprocessing equals the HF processor called at its defaults (tests/models/families: only
the options the adapter fixes); the image prompt is
the family's own chat template with exactly one BOS; early exit equals ``hidden_states[l]`` at the
image positions and later blocks never run; gradients reach the pixels; the cosine rises under the
``fast`` preset; the token grid matches the image tokens; the ``paper`` preset adapts to the family's
input size and grid; and ``layerdream synthesize`` works on the saved folder.
"""
from __future__ import annotations

import json

import pytest
import torch

import layerdream as ld
from layerdream.synthesis.presets import make_config
from families import discover  # tests/models/families (pytest puts tests/models on sys.path)

FAMILIES = discover()


@pytest.fixture(scope="module", params=FAMILIES, ids=[m.FAMILY for m in FAMILIES])
def family(request, tmp_path_factory):
    module = request.param
    folder = tmp_path_factory.mktemp(module.FAMILY) / "checkpoint"
    folder.mkdir()
    module.build(folder)
    vlm = ld.load(str(folder), device="cpu")
    return module, folder, vlm


def _gray_pil(vlm, value=(90, 160, 30)):
    from PIL import Image

    return Image.new("RGB", (vlm.image_size, vlm.image_size), value)


def processor_encoding(module, vlm, pil) -> dict:
    """What the HF processor gives the model for ``pil``, called as a user calls it, at its defaults:
    the whole processor (not only its image processor, whose defaults can differ), through the chat
    template where there is one, with only the options the adapter itself fixes (the family module's
    ``PROCESSOR_KWARGS``: one tile for Idefics3/SmolVLM; written down in docs/families/)."""
    kwargs = dict(getattr(module, "PROCESSOR_KWARGS", {}))
    if vlm.adapter.has_chat_template():
        return vlm.processor.apply_chat_template([{"role": "user", "content": [{"type": "image", "image": pil}]}],
                                                 add_generation_prompt=True, tokenize=True, return_dict=True,
                                                 return_tensors="pt", processor_kwargs=kwargs)
    return vlm.processor(text=vlm.adapter.image_placeholder(), images=pil, return_tensors="pt", **kwargs)


def test_preprocessing_equals_the_processor(family):
    """Our differentiable pixels against the processor's at its defaults, on a random picture at the
    input size: exactly (1e-5) where the processor does not resample such a picture, to about one uint8
    step where it does (``PIXEL_ATOL``: Idefics3/SmolVLM's LANCZOS round trip, rounded by PIL after each pass)."""
    module, _, vlm = family
    import numpy as np

    rng = np.random.default_rng(0)
    from PIL import Image

    pil = Image.fromarray(rng.integers(0, 256, (vlm.image_size, vlm.image_size, 3), dtype=np.uint8))
    x = torch.from_numpy(np.array(pil)).permute(2, 0, 1)[None].float() / 255
    ours = vlm.adapter.preprocess(x)
    theirs = processor_encoding(module, vlm, pil)
    atol = getattr(module, "PIXEL_ATOL", 1e-5)
    checked = 0
    names = getattr(module, "PIXEL_KEYS", {})  # our key -> the processor's, where the model's name differs (Kosmos-2.5)
    for key, value in ours.items():
        key = names.get(key, key)
        if key in theirs and torch.is_tensor(theirs[key]):
            expected = theirs[key].to(value.dtype)
            assert value.shape == expected.shape, key
            if value.is_floating_point():
                assert (value - expected).abs().max() <= atol, (key, (value - expected).abs().max())
                assert (value - expected).abs().mean() <= atol / 5, (key, (value - expected).abs().mean())
            else:
                assert torch.equal(value, expected), key
            checked += 1
    assert "pixel_values" in ours and checked >= 1


def test_photos_are_resized_as_the_processor_resizes_them(family):
    """A real photo of another size and shape (``align``, ``image_representation``): where the processor
    makes one input-sized image of it, the model sees exactly the processor's pixels; elsewhere the photo
    is resized with the processor's own filter (issue 19.5: every photo went through BICUBIC, Gemma 3's
    processor uses BILINEAR)."""
    module, _, vlm = family
    import numpy as np
    from PIL import Image

    pil = Image.fromarray(np.random.default_rng(1).integers(0, 256, (37, 45, 3), dtype=np.uint8))
    photo = vlm.adapter.load_photo(pil)
    size = vlm.image_size
    assert photo.shape == (3, size, size) and 0 <= photo.min() and photo.max() <= 1
    renamed = vlm.adapter.image_processor_kwargs  # output-key names only (Video-LLaVA's legacy key)
    # Fuyu's image processor returns the padded canvas as "images" (its processor cuts the patches): no one image
    # InstructBLIP-Video's processor has a video processor only: no one image to compare with, its filter
    ip = getattr(vlm.processor, "image_processor", None)
    theirs = ip(images=pil, return_tensors="pt", **renamed).get("pixel_values") if ip is not None else None
    ours = vlm.adapter.preprocess(photo[None])["pixel_values"]
    one_image = theirs is not None and theirs.numel() == 3 * size * size and theirs.shape[-2:] == (size, size)
    if one_image and vlm.adapter.photo_through_processor:  # the processor makes one input-sized image of it
        torch.testing.assert_close(ours, theirs.reshape(ours.shape).to(ours.dtype), rtol=0, atol=1e-5)
    else:  # patches, several views, or a resize inside preprocess (Idefics3): the processor's filter, to S x S
        resample = getattr(ip if ip is not None else vlm.processor.video_processor, "resample", None)
        expected = np.asarray(pil.resize((size, size), resample if resample is not None else Image.BILINEAR))
        assert torch.equal(photo, torch.from_numpy(expected.copy()).permute(2, 0, 1).float() / 255)
    bicubic = torch.from_numpy(np.asarray(pil.resize((size, size), Image.BICUBIC)).copy()).permute(2, 0, 1).float() / 255
    if vlm.adapter.photo_resample() != Image.BICUBIC:
        assert (photo - bicubic).abs().max() > 2 / 255  # what align did before


def test_image_prompt_is_the_family_template_with_one_bos(family):
    module, _, vlm = family
    prompt = vlm.image_prompt()["input_ids"][0].tolist()
    reference = getattr(module, "reference_prompt", None)  # no template (PaliGemma), or processor options (one tile)
    if reference:
        expected = reference(vlm.processor, _gray_pil(vlm))
    else:
        expected = vlm.processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image", "image": _gray_pil(vlm)}]}], add_generation_prompt=True,
            tokenize=True, return_dict=True)["input_ids"]
        expected = expected[0] if isinstance(expected[0], list) else list(expected[0])
    assert prompt == list(expected)
    bos = vlm.tokenizer.bos_token_id
    rows, cols = vlm.grid
    image = set(vlm.image_positions().tolist())  # Kosmos-2.5's image placeholder is the BOS id itself
    if bos is not None:
        assert sum(1 for i, t in enumerate(prompt) if t == bos and i not in image) <= 1
    assert len(image) == rows * cols


def test_early_exit_equals_hidden_states_and_stops(family):
    _, _, vlm = family
    layer = 1
    images = torch.rand(2, 3, vlm.image_size, vlm.image_size)
    prompt = vlm.image_prompt()
    pixels = {k: v.to(vlm.dtype) if v.is_floating_point() else v for k, v in vlm.adapter.preprocess(images).items()}
    inputs = vlm.adapter.forward_inputs(prompt, pixels, 2)
    called = []
    handle = vlm.layers[layer].register_forward_hook(lambda *a: called.append(1)) if vlm.num_layers > layer else None
    try:
        with torch.no_grad():
            early = vlm.image_tokens(images, layer)
    finally:
        if handle:
            handle.remove()
    assert not called  # block l+1 never ran
    with torch.no_grad():
        inputs = vlm.adapter.forward_inputs(prompt, pixels, 2)
        full = vlm.backbone(**inputs, use_cache=False, output_hidden_states=True).hidden_states[layer]
    assert torch.allclose(early, full[:, vlm.image_positions()].float(), atol=1e-5)


def test_gradients_reach_the_pixels_and_the_cosine_rises(family):
    _, _, vlm = family
    x = torch.rand(1, 3, vlm.image_size, vlm.image_size, requires_grad=True)
    vlm.image_tokens(x, 1).pow(2).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    words = [w for w in ("red", "dog", "blue", "cat") if w in vlm.tokenizer.get_vocab()] or ["red"]
    [result] = ld.synthesize(vlm, words[0], steps=30, preset="fast", progress=False, lr=0.3,
                             baseline=[w for w in ("the", "a", "of", "is", "big", "small") if w in vlm.tokenizer.get_vocab()] or None)
    first = sum(t["cosine"] for t in result.trajectory[:3]) / 3
    last = sum(t["cosine"] for t in result.trajectory[-3:]) / 3
    assert last > first + 0.02, (first, last)


def test_paper_preset_adapts_to_the_family(family):
    _, _, vlm = family
    cfg = make_config("paper", image_size=vlm.image_size, grid=vlm.grid, layer=1, num_layers=vlm.num_layers)
    assert max(cfg.resolutions) == cfg.canvas and cfg.canvas == max(8, round(vlm.image_size / 2))
    assert cfg.sigma_end == max(vlm.grid) and cfg.sigma_start == pytest.approx(max(vlm.grid) / 8)


def test_synthesize_cli(family, tmp_path):
    from layerdream.cli import main

    _, folder, vlm = family
    word = next((w for w in ("red", "dog", "blue") if w in vlm.tokenizer.get_vocab()), "red")
    code = main(["synthesize", word, "--model", str(folder), "--steps", "3", "--preset", "fast", "--quiet", "--out", str(tmp_path)])
    assert code == 0
    meta = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert meta["config"]["dtype"] == "float32" and meta["model"] == str(folder)


@pytest.mark.parametrize("model_type,why", [("mllama", "cross-attention"), ("gemma3n", "AltUp")])
def test_non_adapter_families_are_refused_with_the_reason(tmp_path, model_type, why):
    from layerdream.errors import UserError

    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    with pytest.raises(UserError, match=f"not an adapter-based VLM: .*{why}"):
        ld.load(str(tmp_path))


def test_unsupported_family_points_to_the_guide(tmp_path):
    from layerdream.errors import UserError

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mamba"}))
    with pytest.raises(UserError, match="supported families: .*docs/adding-a-model.md"):
        ld.load(str(tmp_path))
