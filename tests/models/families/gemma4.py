"""Gemma 4: variable-resolution ViT (patches in, 3x3 pooling by position) -> RMSNorm -> linear -> Gemma 4.

The tiny checkpoint mirrors the released ones where it matters: a ``Gemma4ImageProcessor`` that
patchifies and pads to ``max_soft_tokens * 9`` patches with ``image_position_ids`` (here 2-px patches
and the smallest budget, 70 soft tokens: a square picture becomes 48 px, 24x24 patches, an 8x8 grid;
the released 16-px patches and 280 give 768 px and 16x16), no normalisation in the processor (the
model scales pixels itself), per-layer embeddings (PLE, as E2B/E4B), bidirectional attention over the
image block via ``mm_token_type_ids`` (``use_bidirectional_attention="vision"``, as 26B/31B), a
KV-shared last layer, and the instruction-tuned template's ``<|turn>`` markup with the image written
as ``\\n\\n<|image|>\\n\\n`` (boi ``<|image>``, eoi ``<image|>``). Audio and video slots are filled with
the real feature extractor and layerdream's images-only video stand-in.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "gemma4"
CLASS = "Gemma4ForConditionalGeneration"

# Gemma 4 -it's chat template without its tool, system and thinking branches (template text is data)
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- for message in messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{- '<|turn>' + role + '\\n' }}"
    "{%- if message['content'] is string -%}{{- message['content'] | trim -}}"
    "{%- elif message['content'] is sequence -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'text' -%}{{- item['text'] | trim -}}"
    "{%- elif item['type'] == 'image' -%}{{- '\\n\\n<|image|>\\n\\n' -}}"
    "{%- elif item['type'] == 'audio' -%}{{- '<|audio|>' -}}"
    "{%- elif item['type'] == 'video' -%}{{- '\\n\\n<|video|>\\n\\n' -}}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{- '<turn|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|turn>model\\n' -}}{%- endif -%}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
MEDIA = {"image_token": "<|image|>", "boi_token": "<|image>", "eoi_token": "<image|>",
         "audio_token": "<|audio|>", "boa_token": "<|audio>", "eoa_token": "<audio|>"}


def build_model_and_processor(*, patch_size: int = 2, max_soft_tokens: int = 70, layers: int = 3,
                              bidirectional: str | None = "vision", seed: int = 0):
    import torch
    from transformers import Gemma4Config, Gemma4ForConditionalGeneration, Gemma4Processor
    from transformers.models.gemma4.feature_extraction_gemma4 import Gemma4AudioFeatureExtractor
    from transformers.models.gemma4.image_processing_pil_gemma4 import Gemma4ImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(
        WORDS, special_tokens=["<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>", *MEDIA.values()],
        template_words=["user", "model", "\n"], chat_template=CHAT_TEMPLATE, extra_special_tokens=dict(MEDIA),
    )
    tok.add_tokens(["<|turn>", "<turn|>"], special_tokens=True)  # whole tokens, as in the real tokenizer
    image_processor = Gemma4ImageProcessorPil(patch_size=patch_size, max_soft_tokens=max_soft_tokens, pooling_kernel_size=3)
    video = images_only_video_processor("Gemma4VideoProcessor", patch_size=patch_size, max_soft_tokens=max_soft_tokens,
                                        pooling_kernel_size=3, num_frames=32)
    processor = make_processor(Gemma4Processor, feature_extractor=Gemma4AudioFeatureExtractor(),
                               image_processor=image_processor, tokenizer=tok, video_processor=video,
                               chat_template=CHAT_TEMPLATE, image_seq_length=max_soft_tokens)  # adds <|video|>
    ids = tok.convert_tokens_to_ids
    vocab = len(tok)
    layer_types = ["sliding_attention", "full_attention"] * (layers // 2) + ["full_attention"] * (layers % 2)
    config = Gemma4Config(
        text_config=dict(vocab_size=vocab, vocab_size_per_layer_input=vocab, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, layer_types=layer_types, num_attention_heads=2, num_key_value_heads=1,
                         head_dim=16, global_head_dim=16, hidden_size_per_layer_input=8, sliding_window=512,
                         max_position_embeddings=1024, use_bidirectional_attention=bidirectional,
                         num_kv_shared_layers=1 if layers > 2 else 0,
                         pad_token_id=ids("<pad>"), bos_token_id=ids("<bos>"), eos_token_id=ids("<eos>")),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           num_key_value_heads=2, head_dim=16, patch_size=patch_size, pooling_kernel_size=3,
                           position_embedding_size=256, default_output_length=max_soft_tokens),
        audio_config=None, image_token_id=ids("<|image|>"), boi_token_id=ids("<|image>"), eoi_token_id=ids("<image|>"),
        video_token_id=ids("<|video|>"), audio_token_id=ids("<|audio|>"), boa_token_id=ids("<|audio>"),
        eoa_token_index=ids("<audio|>"), vision_soft_tokens_per_image=max_soft_tokens,
    )
    torch.manual_seed(seed)
    model = Gemma4ForConditionalGeneration(config).eval()
    with torch.no_grad():  # transformers initialises the position table to ones and the patch projection at
        embedder = model.model.vision_tower.patch_embedder  # std 0.02: pixels would barely move a random model
        embedder.position_embedding_table.normal_(std=0.1)
        embedder.input_proj.weight.normal_(std=1.0 / embedder.input_proj.in_features**0.5)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
