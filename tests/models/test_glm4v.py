"""GLM-4.1V / 4.5V traps the battery cannot see: the model's own 3-D positions, a processor whose
pixel bounds would resize the square (refused), the MoE variant, and the memory model's tower terms."""
from __future__ import annotations

import pytest
import torch

from model_checks import assert_memory_model_close, picture_and_chat_inputs
import layerdream as ld
from families import glm4v as family  # tests/models/families
from layerdream.errors import UserError


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("glm4v") / "checkpoint"
    folder.mkdir()
    from families import save_checkpoint

    save_checkpoint(folder, *family.build_model_and_processor(max_side=None), family.BASELINE)  # the default bounds
    return ld.load(str(folder), device="cpu")


def test_image_states_use_the_models_own_3d_positions(vlm):
    x, enc = picture_and_chat_inputs(vlm)
    ours = vlm.image_tokens(x, 1).detach()
    base = vlm.model.model
    with torch.no_grad():
        base.rope_deltas = None
        theirs = base(**enc, use_cache=False, output_hidden_states=True).hidden_states[1][:, vlm.image_positions()]
    base.rope_deltas = None
    assert vlm.grid == (16, 16)
    torch.testing.assert_close(ours, theirs.float(), rtol=0, atol=1e-5)


def test_the_square_follows_glms_budget_and_impossible_bounds_are_refused(vlm):
    """GLM's budget counts the temporal patch: a 2 x 128^2-px budget fixes a 128-px square (8 x 8 tokens of
    16 px), which smart_resize leaves alone; bounds no square satisfies are refused in one line."""
    from transformers.models.glm4v.image_processing_pil_glm4v import smart_resize

    from layerdream.models.glm4v import Glm4vAdapter

    processor = vlm.processor
    saved = dict(processor.image_processor.size)
    try:
        processor.image_processor.size = {"shortest_edge": 2 * 32 * 32, "longest_edge": 2 * 128 * 128}
        adapter = Glm4vAdapter(vlm.model, processor)
        assert (adapter.image_size, adapter.grid) == (128, (8, 8))
        assert smart_resize(2, 128, 128, factor=16, min_pixels=2 * 32 * 32, max_pixels=2 * 128 * 128) == (128, 128)
        processor.image_processor.size = {"shortest_edge": 2 * 80 * 80, "longest_edge": 2 * 64 * 64}
        with pytest.raises(UserError, match="resizes a .*-px square"):
            Glm4vAdapter(vlm.model, processor)
    finally:
        processor.image_processor.size = saved


def test_the_moe_variant_is_served_by_the_same_adapter():
    from transformers import Glm4vMoeConfig, Glm4vMoeForConditionalGeneration

    from layerdream.models.glm4v import Glm4vAdapter
    from layerdream.models.vlm import VLM

    model, processor = family.build_model_and_processor(
        config_cls=Glm4vMoeConfig, model_cls=Glm4vMoeForConditionalGeneration, layers=1,
        text={"n_routed_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32, "first_k_dense_replace": 0,
              "n_shared_experts": 1})
    model.requires_grad_(False)
    vlm = VLM(model, processor, Glm4vAdapter(model, processor), name="glm4v-moe")
    x = torch.rand(1, 3, vlm.image_size, vlm.image_size, requires_grad=True)
    vlm.image_tokens(x, 1).pow(2).mean().backward()
    assert x.grad.abs().sum() > 0 and vlm.image_positions().numel() == 16  # 4 x 4 at the tiny bounds


def test_glm46v_is_served_with_the_models_own_positions():
    """GLM-4.6V: the same vision path under its own classes (Glm46VProcessor, its own get_rope_index):
    our explicit positions give the states the model computes from the processor's own output."""
    from transformers import Glm46VConfig, Glm46VForConditionalGeneration, Glm46VProcessor
    from transformers.models.glm46v.image_processing_pil_glm46v import Glm46VImageProcessorPil

    from layerdream.models.glm4v import Glm4vAdapter
    from layerdream.models.vlm import VLM

    model, processor = family.build_model_and_processor(
        config_cls=Glm46VConfig, model_cls=Glm46VForConditionalGeneration, processor_cls=Glm46VProcessor,
        image_processor_cls=Glm46VImageProcessorPil, layers=2)  # layer 1 < L: hidden_states[L] is post-norm
    model.requires_grad_(False)
    vlm = VLM(model, processor, Glm4vAdapter(model, processor), name="glm46v")
    x, enc = picture_and_chat_inputs(vlm, 1, processor=processor)
    ours = vlm.image_tokens(x, 1)
    with torch.no_grad():
        model.model.rope_deltas = None
        theirs = model.model(**enc, use_cache=False, output_hidden_states=True).hidden_states[1][:, vlm.image_positions()]
    torch.testing.assert_close(ours, theirs.float(), rtol=0, atol=1e-5)
    x.requires_grad_(True)
    vlm.image_tokens(x, 1).pow(2).mean().backward()
    assert x.grad.abs().sum() > 0


def test_memory_model_matches_what_the_tower_keeps(vlm):
    assert_memory_model_close(vlm, vlm.image_size, 1)


def test_memory_model_reads_the_vision_mlp_width_not_the_mergers():
    """GLM-4V's vision MLP is ``out_hidden_size`` wide; ``intermediate_size`` is the merger's (13696 vs 4096 on
    GLM-4.1V). With the two apart, the estimate that read ``intermediate_size`` was far off what autograd keeps."""
    from layerdream.models.glm4v import Glm4vAdapter
    from layerdream.models.vlm import VLM

    # 4 blocks: the merger (intermediate_size wide, on a quarter of the tokens, not in the model) stays small
    # beside the blocks, as on GLM-4.1V's 24; measured/predicted 0.95 now, 1.55 when reading intermediate_size
    model, processor = family.build_model_and_processor(layers=1, vision={"intermediate_size": 128, "depth": 4})
    model.requires_grad_(False)
    vlm = VLM(model, processor, Glm4vAdapter(model, processor), name="glm4v-wide-merger")
    assert vlm.adapter.vision_dims().mlp < 3 * 128  # the MLP term follows out_hidden_size (32), not the merger's 128
    assert_memory_model_close(vlm, vlm.image_size, 1)
