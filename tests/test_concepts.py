import pytest
import torch

import layerdream as ld
from layerdream.concepts import language_baseline, render, token_positions, word_states
from layerdream.errors import UserError


def test_multi_token_concept_positions_exclude_template(tiny_vlm):
    ids, positions = token_positions(tiny_vlm, "T-rex")
    tokens = tiny_vlm.tokenizer.convert_ids_to_tokens(ids)
    assert [tokens[p] for p in positions] == ["t", "-", "rex"]
    assert tokens[: positions[0]] == ["<bos>", "<start_of_turn>", "user", "\n"]
    assert tokens[positions[-1] + 1:] == ["<end_of_turn>", "\n", "<start_of_turn>", "model", "\n"]


def test_concept_matching_template_text_is_not_confused(tiny_vlm):
    ids, positions = token_positions(tiny_vlm, "spring (season)")
    tokens = tiny_vlm.tokenizer.convert_ids_to_tokens(ids)
    assert [tokens[p] for p in positions] == ["spring", "(", "season", ")"]


def test_raw_format(tiny_vlm):
    prompt, start, end = render(tiny_vlm, "red dog", "raw")
    assert prompt == "<bos>red dog" and prompt[start:end] == "red dog"
    ids, positions = token_positions(tiny_vlm, "red dog", "raw")
    assert positions == [1, 2]


def test_multi_token_vector_is_mean_of_its_tokens(tiny_vlm):
    ids, positions = token_positions(tiny_vlm, "red dog")
    with torch.no_grad():
        hidden = tiny_vlm.residual(2, input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                   token_type_ids=torch.zeros(1, len(ids), dtype=torch.long))[0]
    expected = hidden[positions].mean(0)
    torch.testing.assert_close(word_states(tiny_vlm, ["red dog"], 2)[0], expected)


def test_concept_vector_is_centred_unit_and_batch_consistent(tiny_vlm):
    vs = ld.concept_vectors(tiny_vlm, ["red", "blue", "T-rex"], layer=1)
    assert vs.shape == (3, tiny_vlm.hidden_size) and vs.dtype == torch.float32
    torch.testing.assert_close(vs.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(ld.concept_vector(tiny_vlm, "blue", 1), vs[1], atol=1e-5, rtol=1e-5)
    raw = word_states(tiny_vlm, ["red"], 1)[0] - language_baseline(tiny_vlm, 1)
    torch.testing.assert_close(vs[0], raw / raw.norm())


def test_baseline_cached_once_per_layer_and_format(tiny_vlm, monkeypatch):
    tiny_vlm.cache.clear()
    calls = []
    real = type(tiny_vlm).residual  # on the class: see tests/synthesis/test_loop.py (instance patches outlive the test on pytest 8)
    monkeypatch.setattr(type(tiny_vlm), "residual", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    ld.concept_vectors(tiny_vlm, ["red"], 1)
    first = len(calls)
    ld.concept_vectors(tiny_vlm, ["blue", "dog"], 1)
    assert len(calls) == first + 2  # one forward per concept, not the baseline again


def test_a_concept_vector_does_not_depend_on_its_neighbours(tiny_vlm):
    """Each concept gets its own forward: in a padded batch its state moved with its neighbours' lengths."""
    alone = ld.concept_vectors(tiny_vlm, ["blue"], 2)[0]
    together = ld.concept_vectors(tiny_vlm, ["spring (season)", "blue", "t-rex"], 2)[1]
    assert torch.equal(alone, together)


def test_model_folder_baseline_is_default_and_file_override(tiny_vlm, tmp_path):
    default = language_baseline(tiny_vlm, 1)
    path = tmp_path / "words.txt"
    path.write_text("the\na\nof\nis\non\nwith\nand\nimage\nshows\nbig\nsmall\n")  # same list -> same vector
    torch.testing.assert_close(language_baseline(tiny_vlm, 1, baseline=path), default)
    other = language_baseline(tiny_vlm, 1, baseline=["sky", "grass"])
    assert (other - default).abs().max() > 1e-4


@pytest.mark.parametrize("concept,match", [("", "empty concept"), ("   ", "empty concept"),
                                           ("jupiter", "not in .* vocabulary")])
def test_bad_concepts(tiny_vlm, concept, match):
    with pytest.raises(UserError, match=match):
        ld.concept_vector(tiny_vlm, concept, 1)


def test_bad_baseline(tiny_vlm, tmp_path):
    with pytest.raises(UserError, match="cannot read baseline"):
        language_baseline(tiny_vlm, 1, baseline=tmp_path / "missing.txt")
    with pytest.raises(UserError, match="none of the baseline words"):
        language_baseline(tiny_vlm, 1, baseline=["zebra", "quartz"])
