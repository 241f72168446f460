"""PP-Chart2Table traps the battery cannot see: its processor expands no placeholder (the chat template writes
the image block), so a size the template was not written for is refused in one line, and a checkpoint
without the template still gets the whole block in raw prompts."""
from __future__ import annotations

import pytest
import torch

from families import pp_chart2table as family  # tests/models/families
from layerdream.errors import UserError
from layerdream.models.pp_chart2table import PPChart2TableAdapter
from layerdream.models.vlm import VLM


@pytest.fixture(scope="module")
def built():
    model, processor = family.build_model_and_processor(layers=1)
    return model.requires_grad_(False), processor


def test_a_size_the_template_was_not_written_for_is_refused_in_one_line(built):
    model, processor = built
    saved = processor.image_processor.size
    try:
        processor.image_processor.size = {"height": 128, "width": 128}  # 8 x 8 tokens; the template writes 16
        adapter = PPChart2TableAdapter(model, processor)
        with pytest.raises(UserError, match="holds 16 image tokens but the vision tower gives 64"):
            adapter.image_positions(adapter.image_prompt()["input_ids"])
    finally:
        processor.image_processor.size = saved


def test_raw_prompts_write_the_whole_image_block(built):
    model, processor = built
    template = processor.chat_template
    try:
        processor.chat_template = processor.tokenizer.chat_template = None
        vlm = VLM(model, processor, PPChart2TableAdapter(model, processor), name="pp-chart2table-raw")
        assert vlm.resolve_prompt_format("chat") == "raw"
        ids = vlm.image_prompt("raw")["input_ids"][0].tolist()
        tokens = processor.tokenizer.convert_ids_to_tokens(ids)
        assert tokens == ["<img>"] + ["<imgpad>"] * family.TOKENS + ["</img>"]
        x = torch.rand(1, 3, vlm.image_size, vlm.image_size, requires_grad=True)
        vlm.image_tokens(x, 1, prompt_format="raw").pow(2).mean().backward()
        assert x.grad.abs().sum() > 0
    finally:
        processor.chat_template = processor.tokenizer.chat_template = template
