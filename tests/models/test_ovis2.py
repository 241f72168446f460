"""Ovis2's trap: a checkpoint whose visual tokens are one-hot rows (``st_argmax``) is refused in one line."""
from __future__ import annotations

import json

import pytest

import layerdream as ld
from families import ovis2 as family  # tests/models/families
from layerdream.errors import UserError


def test_one_hot_visual_tokens_are_refused(tmp_path):
    family.build(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["vision_config"]["tokenize_function"] = "st_argmax"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="tokenize_function='softmax'"):
        ld.load(str(tmp_path), device="cpu")
