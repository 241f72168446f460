"""HyperCLOVA X SEED Vision: with Qwen2.5-VL's tower and pixels but 1-D text positions, our image states equal
the model's own from the processor's output (no M-RoPE positions are built or passed: the model has no
``get_rope_index``)."""
from __future__ import annotations

from model_checks import assert_1d_positions_states_equal_the_models_own
from families import hyperclovax_vision_v2 as family  # tests/models/families


def test_image_states_equal_the_models_own(tmp_path):
    assert_1d_positions_states_equal_the_models_own(family, tmp_path)
