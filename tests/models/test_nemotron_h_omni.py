"""Nemotron-H Omni: the hybrid (Mamba-2 / attention / MLP / MoE) text model is one residual stream, and early exit
at block l of every kind equals the model's own hidden_states[l] from the processor's output, with the later
blocks never run; the fixed square is one the image processor leaves alone, at the tiny and the released
settings; each result says which kind of block layer l is."""
from __future__ import annotations

import pytest
import torch

from model_checks import picture_and_chat_inputs
import layerdream as ld
from families import nemotron_h_omni as family  # tests/models/families


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nemotron_h_omni")
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_early_exit_at_every_block_kind_equals_the_models_own_states(vlm):
    x, enc = picture_and_chat_inputs(vlm)
    with torch.no_grad():
        theirs = vlm.model(**enc, use_cache=False, output_hidden_states=True).hidden_states
    kinds = [type(block.mixer).__name__ for block in vlm.layers]
    assert kinds == ["NemotronHMamba2Mixer", "NemotronHAttention", "NemotronHMLP", "NemotronHMoE"]
    positions = vlm.image_positions()
    for layer in range(1, vlm.num_layers):  # hidden_states[num_layers] is after the final norm
        ran = []
        handles = [block.register_forward_hook(lambda *a, i=i: ran.append(i)) for i, block in enumerate(vlm.layers)]
        try:
            with torch.no_grad():
                ours = vlm.image_tokens(x, layer)
        finally:
            for h in handles:
                h.remove()
        assert ran == list(range(layer)), (layer, ran)  # block l+1 and later never ran
        torch.testing.assert_close(ours, theirs[layer][:, positions], rtol=0, atol=1e-5)


def test_the_fixed_square_is_left_alone_by_the_processor(vlm):
    ip = vlm.processor.image_processor
    assert (vlm.image_size, vlm.grid) == (32, (4, 4))
    assert family.patch_grid(32, 32, ip.patch_size, 2, ip.min_num_patches, ip.max_num_patches) == (8, 8)
    # the released defaults (patch 16, 1024..13312 patches, max_model_len 16384): 512 px, 32 x 32 patches
    from layerdream.models.nemotron_h_omni import NemotronHOmniAdapter

    real = family.NemotronHOmniImageProcessorTwin()
    processor = type("P", (), {"image_processor": real, "tokenizer": vlm.tokenizer, "chat_template": None})()
    adapter = NemotronHOmniAdapter(vlm.model, processor)
    assert (adapter.image_size, adapter.grid) == (512, (16, 16))
    assert family.patch_grid(512, 512, 16, 2, 1024, 13312) == (32, 32)
    assert family.patch_grid(17 * 16, 17 * 16, 16, 2, 16, 13312) == (18, 18)  # an odd grid is resized (round half-even)


def test_each_result_says_which_block_layer_l_is(vlm):
    [result] = ld.synthesize(vlm, "red", layers=[1], seeds=[0], steps=2, preset="fast", progress=False)
    assert result.config["hybrid_blocks"] == "layer 1 is the output of block 1 of 4 (Mamba2Mixer); blocks run: Mamba2Mixer"
    assert result.config["moe_routing"].startswith("per-token top-2 of 4 experts")
