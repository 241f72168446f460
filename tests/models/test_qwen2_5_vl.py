"""Qwen2.5-VL traps the family battery cannot see: 3-D M-RoPE positions, the model's cached
``rope_deltas``, the merge-window token order, and the fixed geometry on the real checkpoints' bounds."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from model_checks import assert_memory_model_close, assert_processor_pixels_and_gradients
import layerdream as ld
from families import qwen2_5_vl as family  # tests/models/families
from layerdream.models.qwen2_5_vl import fixed_side


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qwen2_5_vl") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def _pil_and_tensor(size: int, seed: int = 0):
    from PIL import Image

    array = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return Image.fromarray(array), torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255


def _hf_inputs(vlm, pil):
    """What a user of transformers would pass: the processor's own output for the image-only prompt."""
    enc = vlm.processor.apply_chat_template([{"role": "user", "content": [{"type": "image", "image": pil}]}],
                                            add_generation_prompt=True, tokenize=True, return_dict=True,
                                            return_tensors="pt")
    return dict(enc)


def test_image_states_use_the_models_own_3d_positions(vlm):
    """Our explicit positions equal what the model builds from mm_token_type_ids + image_grid_thw;
    with plain 1-D positions (mm_token_type_ids dropped) the layer-1 states differ."""
    pil, x = _pil_and_tensor(vlm.image_size)
    ours = vlm.image_tokens(x, 1).detach()
    inputs = _hf_inputs(vlm, pil)
    positions = vlm.image_positions()
    base = vlm.model.model
    with torch.no_grad():
        base.rope_deltas = None
        theirs = base(**inputs, use_cache=False, output_hidden_states=True).hidden_states[1][:, positions]
        inputs.pop("mm_token_type_ids")
        base.rope_deltas = None
        flat = base(**inputs, use_cache=False, output_hidden_states=True).hidden_states[1][:, positions]
    base.rope_deltas = None
    torch.testing.assert_close(ours, theirs.float(), rtol=0, atol=1e-5)
    assert (ours - flat).abs().max() > 1e-4  # the trap is real on this checkpoint (10x the tolerance above)


def test_rope_deltas_are_never_read_nor_left_behind(vlm):
    """A stale ``rope_deltas`` (as generate() leaves it) changes nothing of ours, and our calls leave
    the user's model as they found it: a forward by inputs_embeds afterwards (a path that adds the
    cached deltas) gives what it gives on a fresh model."""
    base = vlm.model.model
    x = torch.rand(3, 3, vlm.image_size, vlm.image_size, generator=torch.Generator().manual_seed(1))
    base.rope_deltas = None
    with torch.no_grad():
        fresh_tokens = vlm.image_tokens(x, 1)
    fresh_vector = ld.concept_vector(vlm, "red", layer=1)
    ids = vlm.tokenizer("red blue", add_special_tokens=False, return_tensors="pt")["input_ids"]
    embeds = base.get_input_embeddings()(ids)
    with torch.no_grad():
        base.rope_deltas = None
        user_fresh = base(inputs_embeds=embeds, use_cache=False).last_hidden_state

    stale = torch.tensor([[41]])
    base.rope_deltas = stale
    vlm.cache.clear()
    with torch.no_grad():
        tokens = vlm.image_tokens(x, 1)
    vector = ld.concept_vector(vlm, "red", layer=1)
    assert base.rope_deltas is stale  # neither read-and-replaced nor overwritten by our batch of 3
    torch.testing.assert_close(tokens, fresh_tokens, rtol=0, atol=0)
    torch.testing.assert_close(vector, fresh_vector, rtol=0, atol=0)

    base.rope_deltas = None
    with torch.no_grad():
        vlm.image_tokens(x, 1)
        user_after = base(inputs_embeds=embeds, use_cache=False).last_hidden_state
    torch.testing.assert_close(user_after, user_fresh, rtol=0, atol=0)


def test_each_image_of_a_batch_is_its_own_image(vlm):
    """image_grid_thw per image: a batch of three gives each image's states alone (windowed ViT
    attention and the merger never mix images)."""
    x = torch.rand(3, 3, vlm.image_size, vlm.image_size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        together = vlm.image_tokens(x, 1)
        alone = torch.cat([vlm.image_tokens(x[i:i + 1], 1) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


def test_grid_is_the_token_order_of_the_merged_patches(vlm):
    """Token k of the flattened pixels holds the pixels of grid cell (k // cols, k % cols), and the
    model's own M-RoPE gives it those (h, w) positions: the spatial prior's grid is the sequence."""
    rows, cols = vlm.grid
    cell = vlm.image_size // cols
    image = torch.zeros(1, 3, vlm.image_size, vlm.image_size)
    for r in range(rows):
        for c in range(cols):
            image[..., r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = (r * cols + c) / (rows * cols)
    pixels = vlm.adapter.preprocess(image)["pixel_values"]
    per_token = pixels.reshape(rows * cols, -1, 3, pixels.shape[-1] // 3)  # (tokens, merge^2, channel, t*p*p)
    std = vlm.adapter.std.flatten()[0]
    mean = vlm.adapter.mean.flatten()[0]
    values = per_token[:, :, 0] * std + mean
    expected = torch.arange(rows * cols, dtype=torch.float32) / (rows * cols)
    torch.testing.assert_close(values.amin(dim=(1, 2)), expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(values.amax(dim=(1, 2)), expected, rtol=0, atol=1e-5)

    positions = vlm.image_prompt()["position_ids"][:, 0, vlm.image_positions()]
    h, w = positions[1] - positions[1].min(), positions[2] - positions[2].min()
    k = torch.arange(rows * cols)
    assert torch.equal(h, k // cols) and torch.equal(w, k % cols)


@pytest.mark.parametrize("unit,min_pixels,max_pixels,side", [
    (28, 56 * 56, 28 * 28 * 16384, 16),   # Qwen2.5-VL (patch 14, merge 2): 448 px, 256 tokens
    (32, 65536, 16777216, 16),             # Qwen3-VL (patch 16, merge 2): 512 px
    (28, 56 * 56, 256 * 28 * 28, 16),      # a max_pixels of 256 tokens still allows 16 x 16
    (28, 56 * 56, 100 * 28 * 28, 10),      # a smaller max_pixels shrinks the square
    (28, 600 * 600, 28 * 28 * 16384, 22),  # a larger min_pixels grows it
    (16, 256, 64 * 64, 4),                 # the tiny test checkpoint
])
def test_fixed_geometry_is_left_alone_by_smart_resize(unit, min_pixels, max_pixels, side):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    assert fixed_side(unit, min_pixels, max_pixels) == side
    size = side * unit
    assert smart_resize(size, size, factor=unit, min_pixels=min_pixels, max_pixels=max_pixels) == (size, size)


def test_the_loaded_tiny_checkpoint_is_a_4x4_grid_of_16px_tokens(vlm):
    assert (vlm.image_size, vlm.grid) == (64, (4, 4))
    assert vlm.image_positions().numel() == 16


def test_real_qwen2_5_vl_geometry_on_cpu():
    """The released checkpoints' image processor (patch 14, merge 2, CLIP mean/std, 3136..12845056 px)
    and ViT geometry (112-px windows, a full-attention block) with tiny widths: 448 px, 16 x 16 tokens,
    pixels equal to the processor's, 256 image tokens in the prompt, gradients reach the image,
    and the memory model's estimate of one copy is within 10 % of what autograd keeps."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor
    from layerdream.models.qwen2_5_vl import Qwen2_5_VLAdapter
    from layerdream.models.vlm import VLM

    tokenizer = family.build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    image_processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=28 * 28 * 16384, patch_size=14,
                                               merge_size=2, temporal_patch_size=2, image_mean=family.CLIP_MEAN,
                                               image_std=family.CLIP_STD)
    processor = make_processor(Qwen2_5_VLProcessor, image_processor=image_processor, tokenizer=tokenizer,
                               video_processor=images_only_video_processor("Qwen2VLVideoProcessor"),
                               chat_template=family.CHAT_TEMPLATE)
    config = Qwen2_5_VLConfig(
        vision_config=dict(depth=4, hidden_size=64, intermediate_size=171, num_heads=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=112, out_hidden_size=64,
                           fullatt_block_indexes=[3]),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"))
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(config).eval().requires_grad_(False)
    vlm = VLM(model, processor, Qwen2_5_VLAdapter(model, processor), name="qwen2.5-vl-geometry")
    assert (vlm.image_size, vlm.grid) == (448, (16, 16))
    assert vlm.image_positions().numel() == 256 and vlm.adapter.vision_dims().tokens == 1024

    assert_processor_pixels_and_gradients(vlm, processor, 448, 1)
    assert_memory_model_close(vlm, 448, 1)


def test_concept_prompt_uses_the_processors_template(tmp_path):
    """A hub layout: the processor's template in the legacy chat_template.json, the tokenizer with
    the base Qwen2.5 LLM's (another default system turn): concept prompts still get the image
    prompt's template, system turn included."""
    import json

    from layerdream.concepts import render

    family.build(tmp_path)
    template = (tmp_path / "chat_template.jinja").read_text()
    (tmp_path / "chat_template.jinja").unlink()
    (tmp_path / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    config["chat_template"] = (
        "{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba "
        "Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}{%- for m in messages %}{{- '<|im_start|>' "
        "+ m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}"
        "{{- '<|im_start|>assistant\\n' }}{%- endif %}")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    vlm = ld.load(str(tmp_path), device="cpu")
    assert render(vlm, "red")[0] == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                                     "<|im_start|>user\nred<|im_end|>\n<|im_start|>assistant\n")
