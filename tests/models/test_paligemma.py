"""PaliGemma's traps that the family battery cannot see: image tokens first with one BOS after them,
the prefix-LM mask through ``token_type_ids``, and masks that cannot be reused across forwards."""
from __future__ import annotations

import copy

import pytest
import torch

import layerdream as ld
from families import paligemma as family


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("paligemma")
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def _gray(vlm):
    from PIL import Image

    return Image.new("RGB", (vlm.image_size, vlm.image_size), (128, 128, 128))


def test_image_prompt_is_image_tokens_first_then_one_bos(vlm):
    from layerdream.models.adapter import FamilyAdapter

    assert vlm.resolve_prompt_format("chat") == "raw"  # PaliGemma 2 ships no chat template
    ids = vlm.image_prompt()["input_ids"][0].tolist()
    tok = vlm.tokenizer
    n = vlm.grid[0] * vlm.grid[1]
    assert ids[:n] == [vlm.model.config.image_token_id] * n
    assert ids[n:] == [tok.bos_token_id, tok.convert_tokens_to_ids("\n")]
    documented = vlm.processor(text="<image>", images=_gray(vlm), return_tensors="pt")["input_ids"][0].tolist()
    assert ids == documented  # the layout of the processor's own docs: "<image>" + prompt
    # the generic raw prompt (<bos> + placeholder) would put a second BOS before the image block
    generic = FamilyAdapter.image_prompt(vlm.adapter, "raw")["input_ids"][0].tolist()
    assert generic.count(tok.bos_token_id) == 2


def test_image_block_gets_the_prefix_lm_mask(vlm):
    images = torch.rand(2, 3, vlm.image_size, vlm.image_size)
    prompt, positions = vlm.image_prompt(), vlm.image_positions()
    with torch.no_grad():
        ours = vlm.image_tokens(images, 1)
        pixels = vlm.adapter.preprocess(images)
        common = dict(input_ids=prompt["input_ids"].expand(2, -1), attention_mask=prompt["attention_mask"].expand(2, -1),
                      output_hidden_states=True, use_cache=False, **pixels)
        prefix = vlm.backbone(token_type_ids=prompt["token_type_ids"].expand(2, -1), **common).hidden_states[1]
        causal = vlm.backbone(**common).hidden_states[1]
    assert torch.equal(prompt["token_type_ids"], torch.zeros_like(prompt["token_type_ids"]))  # all prefix
    assert torch.allclose(ours, prefix[:, positions], atol=1e-5)
    # without token_type_ids the block is silently causal: the first image token sees only itself
    assert (ours[:, 0] - causal[:, positions][:, 0]).abs().max() > 1e-2


def test_repeated_forwards_rebuild_the_masks(vlm):
    x = torch.rand(3, 3, vlm.image_size, vlm.image_size)
    with torch.no_grad():
        first = vlm.image_tokens(x, 1)
        again = vlm.image_tokens(x, 1)  # Gemma 2's mask dict handed back as attention_mask would fail here
        one = vlm.image_tokens(x[:1], 2)
    assert torch.equal(first, again) and one.shape == (1, vlm.grid[0] * vlm.grid[1], vlm.hidden_size)


def test_processor_that_does_not_match_the_tower_is_refused(vlm):
    from layerdream.errors import UserError
    from layerdream.models.paligemma import PaliGemmaAdapter

    processor = copy.deepcopy(vlm.processor)
    processor.image_processor.size = {"height": 2 * vlm.image_size, "width": 2 * vlm.image_size}
    with pytest.raises(UserError, match="does not match its vision tower"):
        PaliGemmaAdapter(vlm.model, processor)
