"""Janus traps the battery cannot see: the VQ-VAE (discrete codes, generation only) never runs on an
input image, and the processor's optional default system prompt stays out of the image prompt."""
from __future__ import annotations

import pytest
import torch

import layerdream as ld
from families import janus as family  # tests/models/families


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("janus") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_the_vq_path_never_runs_on_an_input_image(vlm):
    calls = []
    handles = [m.register_forward_hook(lambda *a: calls.append(1)) for m in vlm.model.model.vqmodel.modules()]
    handles.append(vlm.model.model.generation_embeddings.register_forward_hook(lambda *a: calls.append(1)))
    try:
        x = torch.rand(1, 3, vlm.image_size, vlm.image_size, requires_grad=True)
        vlm.image_tokens(x, 1).pow(2).mean().backward()
    finally:
        for h in handles:
            h.remove()
    assert not calls and x.grad.abs().sum() > 0


def test_no_default_system_prompt_in_the_image_prompt(vlm):
    assert not vlm.processor.use_default_system_prompt
    ids = vlm.image_prompt()["input_ids"][0].tolist()
    tok = vlm.tokenizer.convert_tokens_to_ids
    assert ids[:2] == [vlm.tokenizer.bos_token_id, tok("<|User|>")]  # no system text before the user turn
    assert ids.count(tok("<image_placeholder>")) == 16
