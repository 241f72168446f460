"""EXAONE 4.5: with Qwen2.5-VL's pixels but 1-D text positions, our image states equal the model's own
from the processor's output (no M-RoPE positions are built or passed)."""
from __future__ import annotations

from model_checks import assert_1d_positions_states_equal_the_models_own
from families import exaone4_5 as family  # tests/models/families


def test_image_states_equal_the_models_own(tmp_path):
    assert_1d_positions_states_equal_the_models_own(family, tmp_path)
