"""LLaVA-NeXT / OneVision traps the family battery cannot see: the fixed anyres geometry (canvas,
padding, tiles, ``image_sizes``), the newline tokens inside the grid, the grid's order, the base
view kept out of the grid, pinpoints that would resize, the memory model's views, and the real
336/384-px geometry."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

import layerdream as ld
from families import llava, llava_next, llava_onevision  # tests/models/families/
from layerdream.errors import UserError
from layerdream.synthesis.presets import make_config

FAMILIES = {"llava_next": llava_next, "llava_onevision": llava_onevision}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def vlm(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    FAMILIES[request.param].build(folder)
    return ld.load(str(folder), device="cpu")


def _features(vlm, images):
    pixels = vlm.adapter.preprocess(images)
    out = vlm.model.model.get_image_features(pixel_values=pixels["pixel_values"], image_sizes=pixels["image_sizes"])
    return out.pooler_output


def test_image_block_is_base_then_rows_closed_by_newlines(vlm):
    g = vlm.grid[0]
    assert vlm.grid == (g, g + 1)
    ids = vlm.image_prompt()["input_ids"][0]
    block = (ids == vlm.model.config.image_token_id).nonzero().flatten()
    assert block.numel() == g * g + g * (g + 1)
    assert vlm.image_positions().tolist() == block[g * g:].tolist()  # the base view is not in the grid
    with torch.no_grad():
        [features] = _features(vlm, torch.rand(1, 3, vlm.image_size, vlm.image_size))
    assert features.shape[0] == block.numel()
    newline = vlm.model.model.image_newline
    grid = features[g * g:].view(g, g + 1, -1)
    assert torch.equal(grid[:, g], newline.expand(g, -1))  # last column: the newline token
    assert not torch.isclose(grid[:, :g], newline).all(-1).any()


@pytest.mark.parametrize("cell", [(0, 0), (0, 3), (3, 0), (2, 1)])
def test_grid_is_row_major_over_the_image(vlm, cell):
    rows, cols = vlm.grid
    size = vlm.image_size // rows
    r, c = cell
    base = torch.full((1, 3, vlm.image_size, vlm.image_size), 0.5)
    poked = base.clone()
    poked[..., r * size:(r + 1) * size, c * size:(c + 1) * size] = torch.rand(3, size, size)
    with torch.no_grad():
        change = (vlm.image_tokens(poked, 1) - vlm.image_tokens(base, 1))[0].norm(dim=-1).view(rows, cols)
    assert int(change[:, :-1].argmax()) == r * (cols - 1) + c, change


def test_memory_model_counts_every_view(vlm):
    tiles = {"llava_next": 2, "llava_onevision": 1}[vlm.model.config.model_type]
    cls = 1 if vlm.model.config.model_type == "llava_next" else 0
    assert vlm.adapter.tiles == tiles
    assert vlm.adapter.vision_dims().tokens == (1 + tiles) * (16 + cls)


def test_next_pads_the_square_on_a_two_tile_canvas(tmp_path):
    llava_next.build(tmp_path)
    model = ld.load(str(tmp_path), device="cpu")
    x = torch.rand(1, 3, 32, 32)
    pixels = model.adapter.preprocess(x)["pixel_values"][0]
    mean, std = model.adapter.mean[0], model.adapter.std[0]
    black = (0 - mean) / std
    assert torch.allclose(pixels[1][..., :16], black.expand(3, 32, 16))  # left tile: black, then the image's left half
    assert torch.allclose(pixels[1][..., 16:], ((x[0] - mean) / std)[..., :16])
    assert torch.allclose(pixels[2][..., :16], ((x[0] - mean) / std)[..., 16:])


def test_pinpoints_that_would_resize_the_square_are_refused(tmp_path):
    llava_next.build(tmp_path)
    for name in ("config.json", "processor_config.json"):
        path = tmp_path / name
        saved = json.loads(path.read_text())
        target = saved if name == "config.json" else saved["image_processor"]
        target["image_grid_pinpoints"] = [[64, 64], [64, 128]]
        path.write_text(json.dumps(saved))
    with pytest.raises(UserError, match="pinpoints would resize a 32-px square to 64x64"):
        ld.load(str(tmp_path), device="cpu")


def test_real_geometry_next_336_and_onevision_384():
    from transformers import LlavaNextConfig, LlavaNextProcessor, LlavaOnevisionConfig, LlavaOnevisionProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import LlavaOnevisionImageProcessorPil

    from layerdream.models.llava_next import LlavaNextAdapter
    from layerdream.models.llava_onevision import LlavaOnevisionAdapter
    from layerdream.models.processors import images_only_video_processor, make_processor
    from layerdream.models.tiny import build_word_tokenizer

    next_config = LlavaNextConfig()  # CLIP-L/336, LLaVA-1.6 pinpoints
    tokenizer = llava.build_tokenizer()
    next_config.image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    processor = LlavaNextProcessor(
        image_processor=LlavaNextImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336},
                                                   image_grid_pinpoints=next_config.image_grid_pinpoints),
        tokenizer=tokenizer, patch_size=14, vision_feature_select_strategy="default",
        chat_template=llava_next.CHAT_TEMPLATE, num_additional_image_tokens=1)
    adapter = LlavaNextAdapter(SimpleNamespace(config=next_config), processor)
    assert (adapter.image_size, adapter.grid, adapter.tiles, adapter._canvas, adapter._pad) == (336, (24, 25), 2, (336, 672), (0, 168))
    assert adapter.image_positions(adapter.image_prompt("chat")["input_ids"]).numel() == 600  # after 576 base tokens
    assert adapter.preprocess(torch.rand(1, 3, 336, 336))["pixel_values"].shape == (1, 3, 3, 336, 336)
    cfg = make_config("paper", image_size=336, grid=adapter.grid, layer=1, num_layers=32)
    assert cfg.canvas == 168 and cfg.sigma_end == 25

    ov_config = LlavaOnevisionConfig()  # SigLIP 384/14, anyres_max_9 pinpoints
    ov_tokenizer = build_word_tokenizer(llava.WORDS, special_tokens=llava_onevision.SPECIAL_TOKENS,
                                        template_words=["user", "assistant", "\n"], chat_template=None, bos_token=None,
                                        eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        extra_special_tokens={"image_token": "<image>", "video_token": "<video>"})
    ov_config.image_token_id = ov_tokenizer.convert_tokens_to_ids("<image>")
    ov_processor = make_processor(
        LlavaOnevisionProcessor, image_processor=LlavaOnevisionImageProcessorPil(image_grid_pinpoints=ov_config.image_grid_pinpoints),
        tokenizer=ov_tokenizer, video_processor=images_only_video_processor("LlavaOnevisionVideoProcessor"),
        num_image_tokens=729, vision_feature_select_strategy="full", chat_template=llava_onevision.CHAT_TEMPLATE)
    ov = LlavaOnevisionAdapter(SimpleNamespace(config=ov_config), ov_processor)
    assert (ov.image_size, ov.grid, ov.tiles, ov._pad) == (384, (27, 28), 1, (0, 0))
    assert ov.image_positions(ov.image_prompt("chat")["input_ids"]).numel() == 756  # after 729 base tokens


QWEN_TEMPLATE = (  # Qwen2's own chat template (default system turn), as a Qwen2 tokenizer may carry it
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def test_text_prompts_use_the_processor_template_not_the_tokenizers_own(tmp_path):
    from layerdream.concepts import render

    llava_onevision.build(tmp_path)
    config_file = tmp_path / "tokenizer_config.json"
    saved = json.loads(config_file.read_text())
    saved["chat_template"] = QWEN_TEMPLATE
    config_file.write_text(json.dumps(saved))
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(tmp_path).chat_template == QWEN_TEMPLATE  # the trap is set
    model = ld.load(str(tmp_path), device="cpu")
    prompt, start, end = render(model, "red")
    assert prompt == "<|im_start|>user \nred<|im_end|><|im_start|>assistant\n" and prompt[start:end] == "red"
    image = model.tokenizer.convert_ids_to_tokens(model.image_prompt()["input_ids"][0])  # the same template
    assert image[:3] == ["<|im_start|>", "user", "<image>"] and image[-4:] == ["<|im_end|>", "<|im_start|>", "assistant", "\n"]
