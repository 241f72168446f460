"""Qwen3-VL's DeepStack (dense and mixture-of-experts checkpoints): layer l is read after the
features DeepStack adds to the image tokens, the model's own output is unchanged by how we do it, and
every result says so."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from model_checks import assert_memory_model_close, assert_processor_pixels_and_gradients
import layerdream as ld
from families import qwen3_vl as family  # tests/models/families
from families import cohere_compass, cosmos3_omni, qwen3_omni_moe_thinker, qwen3_vl_moe


@pytest.fixture(scope="module", params=[family, qwen3_vl_moe, qwen3_omni_moe_thinker, cosmos3_omni, cohere_compass], ids=lambda m: m.FAMILY)
def checkpoint(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param.FAMILY) / "checkpoint"
    path.mkdir()
    request.param.build(path)
    return request.param, path


@pytest.fixture(scope="module")
def vlm(checkpoint):
    return ld.load(str(checkpoint[1]), device="cpu")


@pytest.fixture(scope="module")
def plain(checkpoint):
    """The same checkpoint as transformers alone loads it: no layerdream hooks."""
    import transformers

    module, path = checkpoint
    return getattr(transformers, module.CLASS).from_pretrained(str(path)).eval()


def _image(vlm, seed=0):
    from PIL import Image

    array = np.random.default_rng(seed).integers(0, 256, (vlm.image_size, vlm.image_size, 3), dtype=np.uint8)
    return Image.fromarray(array), torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255


def _plain_states(vlm, plain, pil):
    """From the unhooked model, for every block l: its output as HF reports it (``hidden_states[l]``,
    before DeepStack's addition; a hook for the last block, whose hidden_states entry is post-norm) and
    the state the next block actually reads (after the addition), plus the final output."""
    enc = vlm.processor.apply_chat_template([{"role": "user", "content": [{"type": "image", "image": pil}]}],
                                            add_generation_prompt=True, tokenize=True, return_dict=True,
                                            return_tensors="pt")
    layers = plain.model.language_model.layers
    outputs, read_next = {}, {}
    handles = [layers[i].register_forward_hook(lambda m, a, o, i=i: outputs.__setitem__(i + 1, o)) for i in range(len(layers))]
    handles += [layers[i].register_forward_pre_hook(lambda m, a, i=i: read_next.__setitem__(i, a[0])) for i in range(1, len(layers))]
    try:
        with torch.no_grad():
            out = plain.model(**dict(enc), use_cache=False, output_hidden_states=True)
    finally:
        for h in handles:
            h.remove()
    return outputs, read_next, out


def test_layer_l_is_read_after_the_deepstack_injection(checkpoint, vlm, plain):
    module, _ = checkpoint
    pil, x = _image(vlm)
    outputs, read_next, out = _plain_states(vlm, plain, pil)
    positions = vlm.image_positions()
    assert vlm.adapter.deepstack_layers == module.DEEPSTACK_LAYERS
    for layer in range(1, vlm.num_layers + 1):
        with torch.no_grad():
            ours = vlm.image_tokens(x, layer)
        before = outputs[layer][:, positions]
        if layer < vlm.num_layers:
            torch.testing.assert_close(before, out.hidden_states[layer][:, positions], rtol=0, atol=0)
            after = read_next[layer][:, positions]  # what block l+1 reads: the residual stream
            torch.testing.assert_close(ours, after, rtol=0, atol=1e-5)
        if layer in module.DEEPSTACK_LAYERS:
            assert (ours - before).abs().max() > 1e-2, layer  # the injected features are in our layer l
        else:
            torch.testing.assert_close(ours, before, rtol=0, atol=1e-5)
    assert vlm.adapter._pending is None  # the early exit did not keep the features alive


def test_the_models_own_output_is_unchanged_and_text_untouched(vlm, plain):
    """The addition moved into the block's output, not doubled nor lost: the final states equal the
    unhooked model's; a text prompt (no image, no DeepStack) gives the same states as there."""
    pil, x = _image(vlm, seed=1)
    _, _, out = _plain_states(vlm, plain, pil)
    prompt = vlm.image_prompt()
    pixels = vlm.adapter.preprocess(x)
    with torch.no_grad():
        ours = vlm.backbone(**vlm.adapter.forward_inputs(prompt, pixels, 1), use_cache=False).last_hidden_state
    torch.testing.assert_close(ours, out.last_hidden_state, rtol=0, atol=1e-5)

    ids = vlm.tokenizer("red dog", add_special_tokens=False, return_tensors="pt")["input_ids"]
    mask = torch.ones_like(ids)
    with torch.no_grad():
        text_ours = vlm.residual(1, **vlm.adapter.text_inputs(ids, mask))
        text_plain = plain.model(input_ids=ids, attention_mask=mask, use_cache=False,
                                 output_hidden_states=True).hidden_states[1]
    torch.testing.assert_close(text_ours, text_plain, rtol=0, atol=1e-6)


def test_each_result_says_layer_l_was_read_after_deepstack(vlm, tmp_path):
    [result] = ld.synthesize(vlm, "red", layers=[1], seeds=[0], steps=2, preset="fast", progress=False)
    assert result.config["deepstack"] == {"layer_read": "after_injection", "injected_after_layers": [1, 2]}
    _, json_path = result.save(tmp_path)
    assert '"layer_read": "after_injection"' in json_path.read_text()


def test_geometry_is_qwen_s_fixed_square(vlm):
    assert (vlm.image_size, vlm.grid) == (64, (4, 4))
    assert vlm.adapter.patch == 8 and vlm.adapter.merge == 2


def test_real_qwen3_vl_geometry_on_cpu():
    """The released checkpoints' image processor (patch 16, merge 2, mean = std = 0.5, 65536..16777216
    px) and a 48 x 48 learned position grid with tiny widths: 512 px, 16 x 16 tokens, pixels equal
    to the processor's, DeepStack on every injected layer, gradients reach the image, and the
    memory model's estimate of one copy is within 10 % of what autograd keeps."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor
    from layerdream.models.qwen3_vl import Qwen3VLAdapter
    from layerdream.models.vlm import VLM

    tokenizer = family.build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    image_processor = Qwen2VLImageProcessorPil(size={"shortest_edge": 65536, "longest_edge": 16777216}, patch_size=16,
                                               merge_size=2, temporal_patch_size=2, image_mean=[0.5] * 3,
                                               image_std=[0.5] * 3)
    processor = make_processor(Qwen3VLProcessor, image_processor=image_processor, tokenizer=tokenizer,
                               video_processor=images_only_video_processor("Qwen3VLVideoProcessor"),
                               chat_template=family.CHAT_TEMPLATE)
    config = Qwen3VLConfig(
        vision_config=dict(depth=4, hidden_size=64, intermediate_size=240, num_heads=2, patch_size=16,
                           spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=64,
                           num_position_embeddings=2304, deepstack_visual_indexes=[0, 1, 2]),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=2048,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3],
                                          "mrope_interleaved": True}),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"))
    torch.manual_seed(0)
    model = Qwen3VLForConditionalGeneration(config).eval().requires_grad_(False)
    vlm = VLM(model, processor, Qwen3VLAdapter(model, processor), name="qwen3-vl-geometry")
    assert (vlm.image_size, vlm.grid) == (512, (16, 16)) and vlm.adapter.deepstack_layers == (1, 2, 3)
    assert vlm.image_positions().numel() == 256 and vlm.adapter.vision_dims().tokens == 1024

    assert_processor_pixels_and_gradients(vlm, processor, 512, 3)
    assert_memory_model_close(vlm, 512, 3)
