"""Qwen2-VL traps the battery cannot see: the model's own 3-D positions, and the released
checkpoints' geometry (patch 14, 448 px, the tower's ``embed_dim``/``mlp_ratio`` names) with the
memory model fed by this tower's measured terms."""
from __future__ import annotations

import pytest
import torch

from model_checks import assert_memory_model_close, assert_processor_pixels_and_gradients, picture_and_chat_inputs
import layerdream as ld
from families import qwen2_5_vl as q25
from families import qwen2_vl as family  # tests/models/families


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qwen2_vl") / "checkpoint"
    folder.mkdir()
    from families import save_checkpoint

    save_checkpoint(folder, *family.build_model_and_processor(max_side=None), q25.BASELINE)  # the default bounds
    return ld.load(str(folder), device="cpu")


def test_default_processor_fixes_16x16_tokens(vlm):
    """At the processor's default pixel bounds the square is 16 x 16 tokens (448 px at patch 14; the
    tiny tower's patch 8 gives 256 px)."""
    assert vlm.grid == (16, 16) and vlm.image_size == 16 * family.PATCH * 2
    assert type(vlm.adapter).__name__ == "Qwen2VLAdapter"


def test_image_states_use_the_models_own_3d_positions(vlm):
    """Our explicit positions equal what the model builds from the processor's own output
    (mm_token_type_ids + image_grid_thw). Unlike Qwen2.5-VL, whose forward silently falls back to 1-D
    positions without mm_token_type_ids, Qwen2-VL's refuses them (a ValueError)."""
    x, enc = picture_and_chat_inputs(vlm)
    ours = vlm.image_tokens(x, 1).detach()
    base, positions = vlm.model.model, vlm.image_positions()
    with torch.no_grad():
        base.rope_deltas = None
        theirs = base(**enc, use_cache=False, output_hidden_states=True).hidden_states[1][:, positions]
        enc.pop("mm_token_type_ids")
        base.rope_deltas = None
        with pytest.raises(ValueError, match="mm_token_type_ids"):
            base(**enc, use_cache=False)
    base.rope_deltas = None
    torch.testing.assert_close(ours, theirs.float(), rtol=0, atol=1e-5)


def test_real_qwen2_vl_geometry_on_cpu():
    """The released checkpoints' processor (defaults: patch 14, merge 2, CLIP mean/std) and ViT layout
    (width ``embed_dim``, MLP ``mlp_ratio`` x width, full attention) with tiny widths: 448 px, 16 x 16
    tokens, pixels equal to the processor's, gradients reach the image, and the memory model's estimate
    of one copy is within 10 % of what autograd keeps."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor
    from layerdream.models.qwen2_vl import Qwen2VLAdapter
    from layerdream.models.vlm import VLM

    tokenizer = q25.build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    processor = make_processor(Qwen2VLProcessor, image_processor=Qwen2VLImageProcessorPil(), tokenizer=tokenizer,
                               video_processor=images_only_video_processor("Qwen2VLVideoProcessor"),
                               chat_template=q25.CHAT_TEMPLATE)
    config = Qwen2VLConfig(
        vision_config=dict(depth=2, embed_dim=64, mlp_ratio=4, num_heads=2, hidden_size=64, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"))
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(config).eval().requires_grad_(False)
    vlm = VLM(model, processor, Qwen2VLAdapter(model, processor), name="qwen2-vl-geometry")
    assert (vlm.image_size, vlm.grid) == (448, (16, 16))
    dims = vlm.adapter.vision_dims()
    assert vlm.image_positions().numel() == 256 and dims.tokens == 1024 and (dims.width, dims.layers) == (64, 2)

    assert_processor_pixels_and_gradients(vlm, processor, 448, 1)
    assert_memory_model_close(vlm, 448, 1)
