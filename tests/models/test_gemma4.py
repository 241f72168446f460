"""Gemma 4's traps that the family battery cannot see: the resolution varies with the picture (fixed
here to the square the processor makes), patches and their positions replace pixels, 3x3 pooling by
position must give a row-major grid, the image block is bidirectional only with ``mm_token_type_ids``,
and early exit must hold at KV-shared layers."""
from __future__ import annotations

import pytest
import torch

import layerdream as ld
from families import gemma4 as family


def _load(folder, **kwargs):
    model, processor = family.build_model_and_processor(**kwargs)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    (folder / "baseline_words.txt").write_text("\n".join(family.BASELINE) + "\n")
    return ld.load(str(folder), device="cpu")


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    return _load(tmp_path_factory.mktemp("gemma4"))


@pytest.mark.parametrize("budget,side,tokens", [(70, 384, 64), (140, 528, 121), (280, 768, 256), (560, 1104, 529),
                                               (1120, 1584, 1089)])
def test_fixed_square_is_what_the_processor_makes_of_a_square(budget, side, tokens):
    from transformers.models.gemma4.image_processing_pil_gemma4 import get_aspect_ratio_preserving_size

    from layerdream.models.gemma4 import square_side

    ours = square_side(16, budget * 9, 3)  # the released 16-px patches, 3x3 pooling
    assert ours == side and (ours // 48) ** 2 == tokens  # 280 is an upper bound: a square gets 16x16 = 256
    for picture in (ours, 300, 1000, 4000):
        assert get_aspect_ratio_preserving_size(picture, picture, 16, budget * 9, 3) == (ours, ours)


def test_token_count_is_fixed_although_the_processor_varies_it(vlm):
    from PIL import Image

    count = lambda w, h: list(vlm.processor.image_processor(images=Image.new("RGB", (w, h)))["num_soft_tokens_per_image"])  # noqa: E731
    assert count(100, 20) == [54] != count(vlm.image_size, vlm.image_size)  # the trap: tokens follow the shape
    assert count(vlm.image_size, vlm.image_size) == count(500, 500) == [vlm.grid[0] * vlm.grid[1]] == [64]
    assert vlm.image_size == 48 and vlm.adapter.vision_dims().tokens == 70 * 9  # padded patches run through the tower


def test_pooling_by_position_gives_a_row_major_grid(vlm):
    """Pool each patch's own (x, y) with the model's pooler: token t must average block (t // cols, t % cols)."""
    x = torch.rand(1, 3, vlm.image_size, vlm.image_size)
    positions = vlm.adapter.preprocess(x)["image_position_ids"]
    valid = (positions >= 0).all(-1, keepdim=True)
    coords = torch.where(valid, positions, 0).float()
    pooled, mask = vlm.model.model.vision_tower.pooler._avg_pool_by_positions(coords, positions, positions.shape[1] // 9)
    pooled = pooled[mask].reshape(-1, 2)  # mean (x, y) of each token's 3x3 patches
    rows, cols = vlm.grid
    assert pooled.shape[0] == rows * cols
    t = torch.arange(rows * cols)
    assert torch.allclose(pooled[:, 0], (t % cols) * 3 + 1.0) and torch.allclose(pooled[:, 1], (t // cols) * 3 + 1.0)


def test_image_block_is_bidirectional_only_with_mm_token_type_ids(vlm):
    assert vlm.model.config.get_text_config().use_bidirectional_attention == "vision"
    images = torch.rand(2, 3, vlm.image_size, vlm.image_size)
    prompt, positions = vlm.image_prompt(), vlm.image_positions()
    with torch.no_grad():
        ours = vlm.image_tokens(images, 1)
        common = dict(input_ids=prompt["input_ids"].expand(2, -1), attention_mask=prompt["attention_mask"].expand(2, -1),
                      output_hidden_states=True, use_cache=False, **vlm.adapter.preprocess(images))
        with_types = vlm.backbone(mm_token_type_ids=prompt["mm_token_type_ids"].expand(2, -1), **common).hidden_states[1]
        causal = vlm.backbone(**common).hidden_states[1]
    assert torch.allclose(ours, with_types[:, positions], atol=1e-5)
    assert (ours[:, 0] - causal[:, positions][:, 0]).abs().max() > 1e-3  # the first image token sees the whole block


def test_early_exit_at_kv_shared_layers(tmp_path):
    vlm = _load(tmp_path, layers=4)  # layers 3 and 4 reuse the keys and values of layers 1 and 2
    text = vlm.model.config.get_text_config()
    assert text.num_kv_shared_layers == 1 and text.kv_sharing_modes[-1] == "reuse"
    images = torch.rand(2, 3, vlm.image_size, vlm.image_size)
    prompt = vlm.image_prompt()
    with torch.no_grad():
        full = vlm.backbone(**vlm.adapter.forward_inputs(prompt, vlm.adapter.preprocess(images), 2), use_cache=False,
                            output_hidden_states=True).hidden_states
        for layer in (2, 3):
            assert torch.allclose(vlm.image_tokens(images, layer), full[layer][:, vlm.image_positions()], atol=1e-5)


def test_concept_prompt_uses_the_processors_template(tmp_path):
    """Processor template in the legacy chat_template.json, tokenizer with Gemma 3's: concept prompts
    must be rendered with the processor's (Gemma 4's) template, as the image prompt is."""
    import json

    from layerdream.concepts import render
    from layerdream.models.tiny import GEMMA_CHAT_TEMPLATE

    family.build(tmp_path)
    template = (tmp_path / "chat_template.jinja").read_text()
    (tmp_path / "chat_template.jinja").unlink()
    (tmp_path / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config | {"chat_template": GEMMA_CHAT_TEMPLATE}))
    vlm = ld.load(str(tmp_path), device="cpu")
    assert render(vlm, "red")[0] == "<bos><|turn>user\nred<turn|>\n<|turn>model\n"
