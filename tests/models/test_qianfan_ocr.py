"""Qianfan-OCR traps the family battery cannot see: the raw prompt's placeholder (``<image>``, not the
image token) and the real 448-px geometry."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

import layerdream as ld
from families import qianfan_ocr  # tests/models/families/qianfan_ocr.py
from layerdream.models.qianfan_ocr import QianfanOCRAdapter


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    path = tmp_path_factory.mktemp("qianfan_ocr")
    qianfan_ocr.build(path)
    return ld.load(str(path), device="cpu")


def test_raw_prompt_uses_the_processors_placeholder(vlm):
    """The processor expands ``<image>``; InternVL's placeholder (the image token itself) would be
    refused by its input check (0 placeholders for 1 image)."""
    ids = vlm.image_prompt("raw")["input_ids"][0]
    assert (ids == vlm.model.config.image_token_id).sum() == 16
    tokens = vlm.processor.tokenizer.convert_ids_to_tokens(ids.tolist())
    assert tokens[0] == "<img>" and tokens[-1] == "</img>"


def test_real_geometry_is_one_448_tile_of_16x16_tokens():
    from transformers import QianfanOCRConfig

    processor = qianfan_ocr.build_processor(image_size=448, tokens=256)
    adapter = QianfanOCRAdapter(SimpleNamespace(config=QianfanOCRConfig()), processor)
    assert adapter.image_size == 448 and adapter.grid == (16, 16)
    assert (adapter.image_prompt("chat")["input_ids"][0] == processor.image_token_id).sum() == 256
