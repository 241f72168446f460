"""Each vocabulary lens equals its direct computation on a tiny random Gemma 3, and one forward gives
every layer's image tokens exactly as one forward per layer does."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerdream.lens import readouts

torch.set_num_threads(1)


def _states(vlm, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, vlm.hidden_size, generator=g) * 3


def _special(vlm):
    return set(vlm.tokenizer.all_special_ids)


def test_logit_lens_is_lm_head_of_the_final_norm(tiny_vlm):
    h = _states(tiny_vlm)
    top = readouts.logit_lens(tiny_vlm, h, k=4)
    lm = tiny_vlm.model
    with torch.no_grad():
        logits = lm.lm_head(lm.model.language_model.norm(h)).float()
    logits[:, sorted(_special(tiny_vlm))] = float("-inf")
    s, i = logits.topk(4, dim=1)
    assert torch.equal(top.ids, i)
    assert torch.allclose(top.scores, s, atol=1e-5)


def test_embedding_lens_is_cosine_to_the_input_embedding(tiny_vlm):
    h = _states(tiny_vlm, seed=1)
    top = readouts.embedding_lens(tiny_vlm, h, k=3)
    w = tiny_vlm.model.get_input_embeddings().weight.detach().float()
    cos = F.normalize(h, dim=-1) @ F.normalize(w, dim=-1).T
    cos[:, sorted(_special(tiny_vlm))] = float("-inf")
    s, i = cos.topk(3, dim=1)
    assert torch.equal(top.ids, i)
    assert torch.allclose(top.scores, s, atol=1e-5)
    assert not _special(tiny_vlm) & set(top.ids.flatten().tolist())
    assert all(t for t in readouts.token_text(tiny_vlm, top.ids))


def test_one_forward_gives_every_layer(tiny_vlm):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, tiny_vlm.image_size, tiny_vlm.image_size, generator=g)
    many = tiny_vlm.image_tokens_at(x, [1, 3])
    calls = []
    handle = tiny_vlm.layers[2].register_forward_hook(lambda *a: calls.append(1))
    try:
        tiny_vlm.image_tokens_at(x, [1, 3])
    finally:
        handle.remove()
    assert calls == [1]  # the deepest block ran once: one forward for both layers
    for layer in (1, 3):
        with torch.no_grad():
            one = tiny_vlm.image_tokens(x, layer)
        assert torch.allclose(many[layer], one, atol=1e-5)
