"""VipLLaVA: CLIP (five layers concatenated, CLS dropped) -> LayerNorm + MLP -> Llama.

As ``families/llava.py`` (CLIP processor with a 32-px crop, ``LlavaProcessor``, the template only in
the legacy ``chat_template.json``, a tokenizer that adds ``<s>``), with the model's default
``vision_feature_layer`` (-2, -5, -8, -11, 6): the tiny tower has the 11 layers those indices need.
The template is a reduced vip-llava-7b-hf template (``###Human: <image>\\n ... ###Assistant:``).
"""
from __future__ import annotations

from families import llava

FAMILY = "vipllava"
CLASS = "VipLlavaForConditionalGeneration"

CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ '###' + message['role'].title() + ': ' }}"
    "{% endif %}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}"
    "{% endfor %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}"
    "{% endfor %}{% endfor %}{% if add_generation_prompt %}{{ '###Assistant:' }}{% endif %}"
)


def build(folder) -> None:
    import torch
    from transformers import LlavaProcessor, VipLlavaConfig, VipLlavaForConditionalGeneration
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = llava.build_tokenizer(template_words=("human", "assistant", "#", ":", "\n"))
    ids = tokenizer.convert_tokens_to_ids
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                            do_center_crop=True, image_mean=llava.CLIP_MEAN, image_std=llava.CLIP_STD)
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                               vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE,
                               image_token="<image>", num_additional_image_tokens=1)
    config = VipLlavaConfig(
        vision_config=dict(model_type="clip_vision_model", hidden_size=16, intermediate_size=32, num_hidden_layers=11,
                           num_attention_heads=1, image_size=32, patch_size=8, projection_dim=16),
        text_config=dict(model_type="llama", vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=256, pad_token_id=ids("<pad>"), bos_token_id=ids("<s>"),
                         eos_token_id=ids("</s>")),
        image_token_index=ids("<image>"), image_seq_length=16,
    )
    torch.manual_seed(0)
    model = VipLlavaForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    llava.to_legacy_template(folder, CHAT_TEMPLATE)
    llava.rename_image_processor(folder, "CLIPImageProcessor")
    (folder / "baseline_words.txt").write_text("\n".join(llava.BASELINE) + "\n")
