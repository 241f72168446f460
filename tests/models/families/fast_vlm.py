"""FastVLM: timm FastViTHD (``TimmWrapperModel`` around ``timm.models.fastvit.FastVit``, the converter's
``fastvit_mci3`` with ``inference_mode`` and, here, one block per stage and narrow stages) -> its last feature
map flattened -> MLP -> a Qwen2 text model.

The real ``LlavaProcessor`` with the converter's ChatML template and ``patch_size`` the tower's stride, and
``CLIPImageProcessorPil`` (transformers' PIL class of the CLIP processor the converter saves, saved under the hub's
name ``CLIPImageProcessor``) with the converter's settings scaled down: shortest edge 32, centre crop 32, mean 0,
std 1, ``patch_size`` 8. The tiny tower is the real ``fastvit_mci3`` code (stem /4, five stages, attention in the
last two, final MobileOne conv) of which only stage 1 downsamples: stride 8, a 32-px square gives a 4 x 4 grid
(released: stride 64, 1024 px, 16 x 16; tests/models/test_fast_vlm.py builds that too). Its convs and projector are
drawn He-normal: transformers' 0.02-std init makes the random tower's output vanish (~1e-18).

The tower needs timm, which imports torchvision: the real timm is imported with placeholder torchvision modules
present during its import only (tests/models/families/_timm_stand_in.py; no stood-in name is called).
Without timm the family is skipped (docs/families/fast_vlm.md).
"""
from __future__ import annotations

FAMILY = "fast_vlm"
CLASS = "FastVlmForConditionalGeneration"

SIZE = 32
STRIDE = 8
# the converter's template (transformers' convert_fastvlm_weights_to_hf.py), the system prompt shortened
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nyou are a vision assistant .<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n'}}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>' }}{% endfor %}"
    "{# Render all text next #}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ '\\n' + content['text'] }}{% endfor %}{{'<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "system", "user", "assistant", "you", "are", "vision", "."]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<unk>"]


def require_timm():
    import pytest

    from families._timm_stand_in import import_timm

    if import_timm() is None:
        pytest.skip("FastVLM's vision tower is a timm model: pip install timm (beside a CPU torch without "
                    "torchvision: pip install --no-deps timm); see docs/families/fast_vlm.md")


def tokenizer():
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>",
                               extra_special_tokens={"image_token": "<image>"})
    tok.add_tokens(SPECIALS[1:-1], special_tokens=True)
    return tok


#: the tiny tower's stage downsampling (stride 8); the released towers downsample in all four stages (stride 64)
DOWNSAMPLES = (False, True, False, False, False)
RELEASED_DOWNSAMPLES = (False, True, True, True, True)


def build_model_and_processor(*, size: int = SIZE, layers: int = 2, seed: int = 0, patch_size: int = STRIDE,
                              downsamples=DOWNSAMPLES):
    import torch
    from transformers import FastVlmConfig, FastVlmForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    require_timm()
    tok = tokenizer()
    ids = tok.convert_tokens_to_ids
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                            image_mean=[0.0] * 3, image_std=[1.0] * 3)
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=patch_size,
                               chat_template=CHAT_TEMPLATE, image_token="<image>")
    # attention stages: multiples of timm's head_dim 32; only stage 1 downsamples here (stride 8)
    embed_dims = (8, 32, 32, 32, 32)  # a stage also downsamples where its width changes
    config = FastVlmConfig(
        vision_config=dict(model_type="timm_wrapper", architecture="fastvit_mci3", do_pooling=True, global_pool="avg",
                           hidden_size=2 * embed_dims[-1], num_classes=0,
                           model_args=dict(inference_mode=True, layers=(1, 1, 1, 1, 1), embed_dims=embed_dims,
                                           downsamples=tuple(downsamples))),
        text_config=dict(model_type="qwen2", hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=2, num_key_value_heads=1, vocab_size=len(tok), max_position_embeddings=512,
                         pad_token_id=ids("<|endoftext|>"), eos_token_id=ids("<|im_end|>"), bos_token_id=None),
        image_token_index=ids("<image>"), image_seq_length=(size // patch_size) ** 2,
    )
    torch.manual_seed(seed)
    model = FastVlmForConditionalGeneration(config).eval()
    # transformers' init draws every conv of the timm tower at std 0.02 (initializer_range): the random tower's
    # output is then ~1e-18 of its input, which no gradient moves. Tiny random weights only: He-normal convs and
    # linears in the tower and projector, zero biases (what the released checkpoints load over anyway)
    for module in [*model.model.vision_tower.modules(), *model.model.multi_modal_projector.modules()]:
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
    assert model.model.vision_tower.timm_model.num_features == config.vision_config.hidden_size
    return model, processor


def build(folder) -> None:
    import json

    from families import save_checkpoint

    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
    config_file = folder / "processor_config.json"  # the hub's name for the image processor (as llava's module)
    saved = json.loads(config_file.read_text())
    saved["image_processor"]["image_processor_type"] = "CLIPImageProcessor"
    config_file.write_text(json.dumps(saved, indent=2))
