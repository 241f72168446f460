"""load_processor: a processor whose video processor needs torchvision still loads for images.

The folder here is saved the way an InternVL ``-hf`` checkpoint is: an ``InternVLProcessor`` with a
video processor of type ``InternVLVideoProcessor``, either nested in ``processor_config.json``
(transformers 5) or in its own ``video_preprocessor_config.json`` (hub checkpoints converted earlier).
Where torchvision does not import, ``AutoProcessor.from_pretrained`` fails on such a folder.
"""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from layerdream.errors import UserError
from layerdream.models.processors import ImagesOnlyVideoProcessor, images_only_video_processor, load_processor, make_processor

TEMPLATE = (  # InternVL -hf's chat template (chatml, image as <IMG_CONTEXT>)
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\\n' }}"
    "{% elif content['type'] == 'video' %}{{ '<video>\\n' }}{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}{% endif %}{{'<|im_end|>\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIALS = {"context_image_token": "<IMG_CONTEXT>", "start_image_token": "<img>", "end_image_token": "</img>",
            "video_token": "<video>", "im_start_token": "<|im_start|>"}


def _torchvision_works() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:
        return False
    return True


def save_internvl_style(folder, layout: str = "nested") -> None:
    from transformers import InternVLProcessor
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tokenizer = build_word_tokenizer(
        ["red", "dog"], special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>", "<unk>"],
        template_words=["user", "assistant", "\n"], chat_template=TEMPLATE, bos_token=None, eos_token="<|im_end|>",
        pad_token="<|endoftext|>", extra_special_tokens=SPECIALS)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    image_processor = GotOcr2ImageProcessorPil(size={"height": 28, "width": 28}, crop_to_patches=False, image_mean=mean, image_std=std)
    video = images_only_video_processor("InternVLVideoProcessor", size={"height": 28, "width": 28}, image_mean=mean,
                                        image_std=std, num_frames=8)
    processor = make_processor(InternVLProcessor, image_processor=image_processor, tokenizer=tokenizer,
                               video_processor=video, image_seq_length=4, chat_template=TEMPLATE)
    assert type(processor) is InternVLProcessor
    processor.save_pretrained(folder)
    config = json.loads((folder / "processor_config.json").read_text())
    assert config["video_processor"]["video_processor_type"] == "InternVLVideoProcessor"
    if layout == "file":  # the older hub layout: one JSON per sub-processor
        (folder / "video_preprocessor_config.json").write_text(json.dumps(config.pop("video_processor")))
        (folder / "processor_config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("layout", ["nested", "file"])
def test_internvl_style_processor_loads_for_images(tmp_path, layout):
    from transformers import InternVLProcessor

    save_internvl_style(tmp_path, layout)
    processor = load_processor(tmp_path)
    assert type(processor) is InternVLProcessor
    assert processor.video_processor.num_frames == 8  # saved settings kept (some templates read them)
    enc = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (28, 28), (10, 200, 30))}]}],
        add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
    assert enc["pixel_values"].shape == (1, 3, 28, 28)
    ids = enc["input_ids"][0].tolist()
    assert ids.count(processor.image_token_id) == 4 and ids.count(processor.tokenizer.convert_tokens_to_ids("<|im_start|>")) == 2


@pytest.mark.skipif(_torchvision_works(), reason="with a working torchvision AutoProcessor loads it itself")
def test_without_the_fallback_autoprocessor_fails_here(tmp_path):
    from transformers import AutoProcessor

    save_internvl_style(tmp_path)
    with pytest.raises(ImportError, match="(?i)torchvision"):
        AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(load_processor(tmp_path).video_processor, ImagesOnlyVideoProcessor)


@pytest.mark.skipif(_torchvision_works(), reason="the stand-in is only used without torchvision")
def test_stand_in_saves_the_real_type_and_refuses_video(tmp_path):
    save_internvl_style(tmp_path / "a")
    processor = load_processor(tmp_path / "a")
    processor.save_pretrained(tmp_path / "b")
    saved = json.loads((tmp_path / "b" / "processor_config.json").read_text())["video_processor"]
    assert saved["video_processor_type"] == "InternVLVideoProcessor" and saved["num_frames"] == 8
    with pytest.raises(UserError, match="video input needs torchvision"):
        processor.video_processor(torch.zeros(2, 3, 28, 28))


def test_folders_without_a_video_slot_load_as_before(tmp_path):
    from tinymodels import make_tiny_folder  # tests/tinymodels.py: a Gemma 3 checkpoint

    make_tiny_folder(tmp_path)
    processor = load_processor(tmp_path)
    assert type(processor).__name__ == "Gemma3Processor"
