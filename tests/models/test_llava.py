"""LLaVA-1.5 traps the family battery cannot see: the template only in the processor's legacy file,
BOS added by the tokenizer (on both sides), CLS under the ``full`` strategy, the crop as input size,
and the real 336-px geometry."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

import layerdream as ld
from families import llava  # tests/models/families/llava.py
from layerdream.concepts import token_positions
from layerdream.errors import UserError
from layerdream.models.llava import LlavaAdapter
from layerdream.synthesis.presets import make_config


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("llava")
    llava.build(path)
    return path


@pytest.fixture(scope="module")
def vlm(folder):
    return ld.load(str(folder), device="cpu")


def test_text_side_uses_the_processor_template(folder, vlm):
    from transformers import AutoTokenizer

    assert not AutoTokenizer.from_pretrained(folder).chat_template  # as on llava-hf: only chat_template.json
    assert vlm.resolve_prompt_format("chat") == "chat"  # not a silent raw fallback
    ids, positions = token_positions(vlm, "red")
    tokens = vlm.tokenizer.convert_ids_to_tokens(ids)
    assert tokens[1:3] == ["user", ":"] and tokens[-2:] == ["assistant", ":"] and tokens[positions[0]] == "red"


def test_text_and_image_prompts_both_start_with_one_bos(vlm):
    bos = vlm.tokenizer.bos_token_id
    image = vlm.image_prompt()["input_ids"][0].tolist()
    ids, _ = token_positions(vlm, "dog")
    assert image[0] == bos and image.count(bos) == 1
    assert ids[0] == bos and ids.count(bos) == 1


def test_full_strategy_keeps_cls_out_of_the_grid(tmp_path):
    llava.build(tmp_path, strategy="full")
    model = ld.load(str(tmp_path), device="cpu")
    ids = model.image_prompt()["input_ids"][0]
    block = (ids == model.model.config.image_token_id).nonzero().flatten()
    assert block.numel() == 17  # CLS + 4x4
    positions = model.image_positions()
    assert positions.tolist() == block[1:].tolist()
    images = torch.rand(2, 3, model.image_size, model.image_size)
    with torch.no_grad():
        tokens = model.image_tokens(images, 1)
        full = model.backbone(**model.adapter.forward_inputs(model.image_prompt(), model.adapter.preprocess(images), 2),
                              use_cache=False, output_hidden_states=True).hidden_states[1]
    assert tokens.shape == (2, 16, 32) and torch.allclose(tokens, full[:, block[1:]], atol=1e-5)


def test_a_crop_that_does_not_match_the_tower_is_refused(tmp_path):
    llava.build(tmp_path)
    config_file = tmp_path / "processor_config.json"
    saved = json.loads(config_file.read_text())
    saved["image_processor"]["crop_size"] = {"height": 24, "width": 24}
    config_file.write_text(json.dumps(saved))
    with pytest.raises(UserError, match="gives 24-px images but its vision tower takes 32 px"):
        ld.load(str(tmp_path), device="cpu")


def test_real_geometry_336_px_24x24_tokens():
    from transformers import LlavaConfig, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    config = LlavaConfig(vision_config=dict(model_type="clip_vision_model", image_size=336, patch_size=14,
                                            hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                            num_attention_heads=16), vision_feature_layer=-2)
    tokenizer = llava.build_tokenizer()
    config.image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336},
                                              do_center_crop=True, image_mean=llava.CLIP_MEAN, image_std=llava.CLIP_STD),
        tokenizer=tokenizer, patch_size=14, vision_feature_select_strategy="default", chat_template=llava.CHAT_TEMPLATE,
        num_additional_image_tokens=1)
    adapter = LlavaAdapter(SimpleNamespace(config=config), processor)
    assert adapter.image_size == 336 and adapter.grid == (24, 24)
    prompt = adapter.image_prompt("chat")["input_ids"]
    assert adapter.image_positions(prompt).numel() == 576
    assert adapter.vision_dims().tokens == 577  # CLS runs through the tower
    cfg = make_config("paper", image_size=336, grid=adapter.grid, layer=1, num_layers=32)
    assert cfg.canvas == 168 and cfg.sigma_end == 24
