"""MiniCPM-V 4.6: a NaViT SigLIP tower whose window-attention merger folds every 2 x 2 window of patches into one
token after layer ``insert_layer_id``, then a 2 x 2 MLP merger into the LLM's width (16x fewer tokens than patches
in the default ``"16x"`` mode), then a Qwen3.5 hybrid text model (Gated-DeltaNet / full-attention blocks).

The tiny checkpoint keeps what matters for the adapter: 2 ViT layers with the window merger after layer 0 (so
both halves of the tower run), patch 4 and ``scale_resolution`` 64 (16 x 16 patches -> 8 x 8 after the window
merger -> 4 x 4 = 16 tokens; 448 px, patch 14, 8 x 8 = 64 tokens on the real checkpoints), 3 decoder blocks
linear / full / linear. The processor is the real ``MiniCPMV4_6Processor`` with the PIL twin that transformers
itself ships (``MiniCPMV4_6ImageProcessorPil``: same arithmetic as the torchvision class, picked by
AutoImageProcessor where torchvision is missing); its video slot holds the images-only stand-in. The chat template
is the released one reduced to a user turn of images and text (``<|image_pad|>`` per image, parts joined by a
newline) and the generation prompt with its empty ``<think>`` block (``enable_thinking`` off by default).

MiniCPM-V 4.7 (canvas M-RoPE) and MiniCPM-OCR (``"4x"``: no window merger) build on this module.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "minicpmv4_6"
CLASS = "MiniCPMV4_6ForConditionalGeneration"
#: a square at ``scale_resolution`` is one view at the processor's defaults (no slices): no option is fixed
PROCESSOR_KWARGS: dict = {}

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant", "system", "0", ":"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>", "<image>", "</image>",
            "<slice>", "</slice>", "<image_id>", "</image_id>", "<think>", "</think>", "<unk>"]
EXTRA_SPECIALS = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>", "image_start_token": "<image>",
                  "image_end_token": "</image>", "slice_start_token": "<slice>", "slice_end_token": "</slice>",
                  "image_id_start_token": "<image_id>", "image_id_end_token": "</image_id>"}

# The released template (chat_template.jinja of openbmb/MiniCPM-V-4.6, Qwen3.5's ChatML) reduced to what the
# battery sends: tools, system turns and reasoning history left out.
CHAT_TEMPLATE = (
    "{%- if enable_thinking is not defined %}{%- set enable_thinking = false %}{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] | trim }}"
    "{%- else %}{%- set ns = namespace(parts=[]) %}"
    "{%- for item in message['content'] %}"
    "{%- if item['type'] == 'image' or 'image' in item %}{%- set ns.parts = ns.parts + ['<|image_pad|>'] %}"
    "{%- elif 'text' in item %}{%- set ns.parts = ns.parts + [item['text']] %}{%- endif %}"
    "{%- endfor %}{{- (ns.parts | join('\\n')) | trim }}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking %}{{- '<think>\\n' }}{%- else %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)
PATCH, SCALE = 4, 48


def build_tokenizer():
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>",
                               extra_special_tokens=EXTRA_SPECIALS)
    tok.add_tokens(SPECIALS, special_tokens=True)
    return tok


def build_model_and_processor(*, variant: str = "minicpmv4_6", layers: int = 3, seed: int = 0, image_processor=None,
                              downsample_mode: str = "16x", scale: int = SCALE):
    """(model, processor) of a random-init MiniCPM-V 4.6 / 4.7 / MiniCPM-OCR (``variant``) with the real classes."""
    import torch
    import transformers
    from transformers.models.minicpmv4_6.image_processing_pil_minicpmv4_6 import MiniCPMV4_6ImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor

    prefix = {"minicpmv4_6": "MiniCPMV4_6", "minicpmv4_7": "MiniCPMV4_7", "minicpm_ocr": "MiniCPMOcr"}[variant]
    tok = build_tokenizer()
    ids = tok.convert_tokens_to_ids
    if image_processor is None:
        image_processor = MiniCPMV4_6ImageProcessorPil(scale_resolution=scale, patch_size=PATCH,
                                                       downsample_mode=downsample_mode)
    # 4.7 has no video processor class of its own: AutoVideoProcessor maps it to 4.6's
    video_type = "MiniCPMV4_6VideoProcessor" if variant == "minicpmv4_7" else f"{prefix}VideoProcessor"
    video = images_only_video_processor(video_type, scale_resolution=scale, patch_size=PATCH,
                                        slice_mode=True, downsample_mode=downsample_mode)
    processor = make_processor(getattr(transformers, f"{prefix}Processor"), image_processor=image_processor,
                               video_processor=video, tokenizer=tok, chat_template=CHAT_TEMPLATE)
    markers = {}
    if variant == "minicpmv4_7":  # canvas M-RoPE pins these markers (config.json of the released checkpoints)
        markers = dict(image_start_id=ids("<image>"), image_end_id=ids("</image>"), slice_start_id=ids("<slice>"),
                       slice_end_id=ids("</slice>"), newline_id=ids("\n"))
    config = getattr(transformers, f"{prefix}Config")(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           patch_size=PATCH, image_size=scale),
        text_config=dict(model_type="qwen3_5_text", vocab_size=len(tok), hidden_size=64, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, intermediate_size=128,
                         max_position_embeddings=512, linear_key_head_dim=16, linear_value_head_dim=16,
                         linear_num_key_heads=2, linear_num_value_heads=4,
                         layer_types=["linear_attention", "full_attention", "linear_attention"][:layers],
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1],
                                          "mrope_interleaved": True, "partial_rotary_factor": 0.5},
                         pad_token_id=ids("<|endoftext|>")),
        insert_layer_id=0, image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        downsample_mode=downsample_mode, **markers,
    )
    torch.manual_seed(seed)
    model = getattr(transformers, f"{prefix}ForConditionalGeneration")(config).eval()
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
