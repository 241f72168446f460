import pytest
import torch

import layerdream as ld
from layerdream.errors import UserError


def full_forward_inputs(vlm, images):
    prompt = vlm.image_prompt()
    inputs = {k: v.expand(images.shape[0], -1) for k, v in prompt.items()}
    inputs.update(vlm.adapter.preprocess(images))
    return inputs


def test_early_exit_equals_hidden_states_of_full_forward(tiny_vlm):
    torch.manual_seed(0)
    images = torch.rand(2, 3, tiny_vlm.image_size, tiny_vlm.image_size)
    inputs = full_forward_inputs(tiny_vlm, images)
    with torch.no_grad():
        full = tiny_vlm.backbone(**inputs, use_cache=False, output_hidden_states=True).hidden_states
        for layer in range(1, tiny_vlm.num_layers):  # hidden_states[L] is post-norm, so stop before L
            early = tiny_vlm.residual(layer, **inputs)
            torch.testing.assert_close(early, full[layer], rtol=0, atol=0)


def test_early_exit_skips_later_blocks(tiny_vlm):
    calls = []
    hook = tiny_vlm.layers[-1].register_forward_hook(lambda *a: calls.append(1))
    try:
        tiny_vlm.image_tokens(torch.rand(1, 3, tiny_vlm.image_size, tiny_vlm.image_size), layer=1)
    finally:
        hook.remove()
    assert calls == []


def test_image_tokens_attend_both_ways(tiny_vlm):
    """Perturbing only the LAST image token's embedding changes the FIRST image token's layer-1 state
    when token_type_ids are passed (bidirectional image block), and not without them (notes s.11)."""
    projector = tiny_vlm.model.model.multi_modal_projector
    image = torch.full((1, 3, tiny_vlm.image_size, tiny_vlm.image_size), 0.5)
    positions = tiny_vlm.adapter.image_positions(tiny_vlm.image_prompt()["input_ids"])

    def first_token_state(perturb: bool, with_types: bool) -> torch.Tensor:
        def hook(module, args, output):
            if perturb:
                output = output.clone()
                output[:, -1] += 1.0
            return output

        handle = projector.register_forward_hook(hook)
        try:
            inputs = full_forward_inputs(tiny_vlm, image)
            if not with_types:
                inputs.pop("token_type_ids")
            with torch.no_grad():
                return tiny_vlm.residual(1, **inputs)[0, positions[0]]
        finally:
            handle.remove()

    assert (first_token_state(True, True) - first_token_state(False, True)).abs().max() > 1e-3
    torch.testing.assert_close(first_token_state(True, False), first_token_state(False, False), rtol=0, atol=0)


def test_preprocessing_equals_processor_pixel_values(tiny_vlm):
    from PIL import Image

    size = tiny_vlm.image_size
    pixels = torch.randint(0, 256, (size, size, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    image = Image.fromarray(pixels.numpy())
    expected = tiny_vlm.processor.image_processor(image, return_tensors="pt")["pixel_values"]
    ours = tiny_vlm.adapter.preprocess(pixels.permute(2, 0, 1)[None].float() / 255)["pixel_values"]
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)


def test_gradients_reach_pixels(tiny_vlm):
    images = torch.rand(2, 3, tiny_vlm.image_size, tiny_vlm.image_size, requires_grad=True)
    tiny_vlm.image_tokens(images, 2).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in tiny_vlm.model.parameters())


@pytest.mark.parametrize("layer", [0, 4, -1])
def test_layer_out_of_range(tiny_vlm, layer):
    with pytest.raises(UserError, match=r"out of range.*1\.\.3"):
        tiny_vlm.check_layer(layer)


def test_missing_folder_and_unsupported_type(tmp_path, tiny_folder):
    with pytest.raises(UserError, match="does not exist"):
        ld.load(str(tmp_path / "nope"))
    with pytest.raises(UserError, match="unknown toy model 'toy-nope'; choose one of toy-aligned"):
        ld.load("toy-nope")
    with pytest.raises(UserError, match="no config.json"):
        ld.load(str(tmp_path))
    from layerdream.models.registry import adapter_for

    with pytest.raises(UserError, match="supported families: .*gemma3"):
        adapter_for("mamba")


def test_repr_and_geometry(tiny_vlm):
    assert tiny_vlm.grid == (2, 2) and tiny_vlm.num_layers == 3 and tiny_vlm.image_size == 32
    assert "layers=3" in repr(tiny_vlm)


def test_cached_attention_masks_give_identical_states(tiny_vlm):
    images = torch.rand(3, 3, tiny_vlm.image_size, tiny_vlm.image_size)
    tiny_vlm.cache.pop(("masks", "chat", 3), None)
    with torch.no_grad():
        first = tiny_vlm.image_tokens(images, 2)  # builds and captures the masks
        assert ("masks", "chat", 3) in tiny_vlm.cache
        second = tiny_vlm.image_tokens(images, 2)  # reuses them
        reference = tiny_vlm.residual(2, **full_forward_inputs(tiny_vlm, images))[:, tiny_vlm.image_positions()]
    assert torch.equal(first, second) and torch.equal(second, reference)
