"""What layer ℓ = N (the last decoder block) reads, on both sides (issue 19.12).

HF's ``hidden_states`` has N + 1 entries and its last one, ``hidden_states[N]``, is taken *after* the
final norm; layerdream's layer ℓ is the output of decoder block ℓ at every ℓ, N included (its early-exit
hook never runs the final norm). Concept vectors and image tokens are read at the same place, so the
two sides agree at ℓ = N as at any other layer.
"""
from __future__ import annotations

import torch


def _block_outputs(vlm, **inputs):
    """Every decoder block's output and HF's hidden_states, from one full forward."""
    outputs = {}
    handles = [block.register_forward_hook(lambda m, a, out, i=i: outputs.__setitem__(i + 1, out[0] if isinstance(out, tuple) else out))
               for i, block in enumerate(vlm.layers)]
    try:
        with torch.no_grad():
            hidden = vlm.backbone(**inputs, use_cache=False, output_hidden_states=True).hidden_states
    finally:
        for h in handles:
            h.remove()
    return outputs, hidden


def test_last_layer_is_the_last_blocks_output_before_the_final_norm_on_both_sides(tiny_vlm):
    from layerdream.concepts import token_positions, word_states

    vlm, n = tiny_vlm, tiny_vlm.num_layers
    norm = vlm.model.get_decoder().norm
    # text side: the concept's state at ℓ = N
    ids, positions = token_positions(vlm, "red")
    text_inputs = vlm.adapter.text_inputs(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
    outputs, hidden = _block_outputs(vlm, **text_inputs)
    assert len(hidden) == n + 1
    ours = word_states(vlm, ["red"], n)[0]
    block_n = outputs[n][0, positions].float().mean(0)
    torch.testing.assert_close(ours, block_n, rtol=0, atol=1e-6)
    torch.testing.assert_close(hidden[n], norm(outputs[n]), rtol=0, atol=1e-6)  # HF's last entry: after the norm
    assert not torch.allclose(hidden[n][0, positions].float().mean(0), ours, atol=1e-3)  # ... which we do not read
    for layer in range(1, n):  # below N, hidden_states[ℓ] is the block output itself
        torch.testing.assert_close(hidden[layer], outputs[layer], rtol=0, atol=0)
    # image side: the image tokens' states at ℓ = N, read the same way
    images = torch.rand(2, 3, vlm.image_size, vlm.image_size)
    prompt = vlm.image_prompt()
    pixels = vlm.adapter.preprocess(images)
    outputs, hidden = _block_outputs(vlm, **vlm.adapter.forward_inputs(prompt, pixels, 2))
    with torch.no_grad():
        tokens = vlm.image_tokens(images, n)
    at = vlm.image_positions()
    torch.testing.assert_close(tokens, outputs[n][:, at].float(), rtol=0, atol=1e-5)
    torch.testing.assert_close(hidden[n], norm(outputs[n]), rtol=0, atol=1e-6)
    assert not torch.allclose(tokens, hidden[n][:, at].float(), atol=1e-3)
