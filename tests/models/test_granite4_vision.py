"""Granite 4 Vision: every image feature is an injection before a chosen decoder block. Layer l is read after
all injections up to block l+1 (what block l+1 reads), the model's own output is unchanged by how we do it,
the features are not kept after an early exit, and every result records the rule."""
from __future__ import annotations

import pytest
import torch

from model_checks import picture_and_chat_inputs
import layerdream as ld
from families import granite4_vision as family  # tests/models/families


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("granite4_vision") / "checkpoint"
    path.mkdir()
    family.build(path)
    return path


@pytest.fixture(scope="module")
def vlm(folder):
    return ld.load(str(folder), device="cpu")


@pytest.fixture(scope="module")
def plain(folder):
    """The same checkpoint as transformers alone loads it: no layerdream hooks."""
    from transformers import Granite4VisionForConditionalGeneration

    return Granite4VisionForConditionalGeneration.from_pretrained(str(folder)).eval()


def _plain_run(vlm, plain, seed=0):
    """Our pixels of a random picture, and from the unhooked model fed the processor's own output: each block's
    output (HF's hidden_states[l], before the injection aimed at the next block), what each block reads, and
    the final states."""
    x, enc = picture_and_chat_inputs(vlm, seed)
    layers = plain.model.language_model.layers
    outputs, reads = {}, {}
    handles = [layers[i].register_forward_hook(lambda m, a, o, i=i: outputs.__setitem__(i + 1, o)) for i in range(len(layers))]
    handles += [layers[i].register_forward_pre_hook(lambda m, a, i=i: reads.__setitem__(i, a[0])) for i in range(len(layers))]
    try:
        with torch.no_grad():
            out = plain.model(**dict(enc), use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return x, outputs, reads, out


def test_layer_l_is_read_after_every_injection_up_to_block_l_plus_1(vlm, plain):
    x, outputs, reads, _ = _plain_run(vlm, plain)
    positions = vlm.image_positions()
    injected = set(family.DEEPSTACK_TARGETS + family.SPATIAL_TARGETS)
    assert vlm.adapter.injected_after_layers == tuple(sorted(k for k in injected if k >= 1))
    for layer in range(1, vlm.num_layers + 1):
        with torch.no_grad():
            ours = vlm.image_tokens(x, layer)
        before = outputs[layer][:, positions]
        if layer < vlm.num_layers:
            torch.testing.assert_close(ours, reads[layer][:, positions], rtol=0, atol=1e-5)  # what block l+1 reads
        if layer in injected:
            assert (ours - before).abs().max() > 1e-2, layer  # the feature aimed at block l+1 is in our layer l
        else:
            torch.testing.assert_close(ours, before, rtol=0, atol=1e-5)
    assert vlm.adapter._pending is None  # the early exit did not keep the features alive


def test_the_models_own_output_is_unchanged_and_text_untouched(vlm, plain):
    x, _, _, out = _plain_run(vlm, plain, seed=1)
    with torch.no_grad():
        ours = vlm.backbone(**vlm.adapter.forward_inputs(vlm.image_prompt(), vlm.adapter.preprocess(x), 1),
                            use_cache=False).last_hidden_state
    torch.testing.assert_close(ours, out.last_hidden_state, rtol=0, atol=1e-5)
    ids = vlm.tokenizer("red dog", add_special_tokens=False, return_tensors="pt")["input_ids"]
    mask = torch.ones_like(ids)
    with torch.no_grad():
        text_ours = vlm.residual(1, **vlm.adapter.text_inputs(ids, mask))
        text_plain = plain.model(input_ids=ids, attention_mask=mask, use_cache=False,
                                 output_hidden_states=True).hidden_states[1]
    torch.testing.assert_close(text_ours, text_plain, rtol=0, atol=1e-6)


def test_each_result_records_the_injection_rule(vlm):
    [result] = ld.synthesize(vlm, "red", layers=[1], seeds=[0], steps=2, preset="fast", progress=False)
    assert result.config["deepstack"]["layer_read"] == "after_injection"
    assert result.config["deepstack"]["injected_after_layers"] == [1, 2, 3, 4, 5]
    assert result.config["deepstack"]["injected_into_embeddings"] is True


def test_geometry_is_the_downsampled_anyres_map(vlm):
    """4 x 4 patches per view, Q-Former rate 2/4: 2 x 2 base tokens, then the 2 x 3 anyres map (newline column)."""
    assert (vlm.image_size, vlm.grid) == (32, (2, 3))
    ids = vlm.image_prompt()["input_ids"][0]
    assert int((ids == vlm.model.config.image_token_id).sum()) == 4 + 6
    assert vlm.adapter.vision_dims().tokens == 3 * 16  # base view + two tiles through the tower, 16 patches each
