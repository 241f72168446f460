"""InstructBLIP-Video (Vicuna): InstructBLIP per frame (ViT -> Q-Former reading the frame and the
instruction -> linear) -> Llama, the frames' query outputs one block after the other; the processor always
writes 4 frames' worth of ``<video>`` tokens. layerdream feeds an image as 4 equal frames.

The real ``InstructBlipVideoProcessor`` at its defaults except the tiny 8 queries, with InstructBLIP's test
tokenizers (a Llama-style one that adds ``<s>``, BERT-style for the Q-Former), and the **real**
``InstructBlipVideoVideoProcessor`` (its only pixel processor) at the class's defaults except the tiny 32-px
``size`` (384 by default, 224 on the released checkpoints; BICUBIC, CLIP mean/std). That class is
torchvision-only in transformers 5.24 and torchvision does not import here: its module imports
``torchvision.transforms.v2.functional`` (only for a type annotation), and of torchvision it calls only
``grayscale_to_rgb`` (the video base class), ``resize`` and ``normalize`` (through the backend). :func:`install_torchvision_stand_in` imports the module
with a stub ``torchvision`` in ``sys.modules`` for the import only, and gives the backend module a
``resize`` that is torchvision's own shortcut at equal size (``resize_image`` returns the input unchanged
when the size does not change, which is all the fixed square asks; any other size fails loudly, or goes to
bilinear ``interpolate`` for float tensors, what Molmo2's stand-in does), ``normalize`` as
``(x - mean) / std`` and ``grayscale_to_rgb`` as torchvision's (3 channels pass unchanged). Every other step (frames, RGB, rescale fused into normalise, stacking) is the class's own.
"""
from __future__ import annotations

from families import blip2, instructblip, save_checkpoint

FAMILY = "instructblipvideo"
CLASS = "InstructBlipVideoForConditionalGeneration"
QUERIES = 8
SIZE = 32


def reference_prompt(processor, pil) -> list[int]:
    return list(processor(images=pil, text="")["input_ids"][0])


def install_torchvision_stand_in() -> bool:
    """Where torchvision is missing, make the real ``InstructBlipVideoVideoProcessor`` runnable: import its
    module with a stub torchvision present for the import only, and bind ``resize`` / ``normalize`` /
    ``InterpolationMode`` (BICUBIC mapped) in the backend module, keeping a stand-in another family's test
    installed (Molmo2's) where there is one. Does nothing where torchvision imports. True if installed."""
    import enum
    import importlib
    import sys
    import types

    import torch
    import transformers.image_processing_backends as backends
    import transformers.video_processing_utils as video_utils
    from transformers.image_utils import PILImageResampling
    from transformers.utils import import_utils

    if import_utils.is_torchvision_available():
        return False
    name = "transformers.models.instructblipvideo.video_processing_instructblipvideo"
    if name not in sys.modules:
        stubs = ["torchvision", "torchvision.transforms", "torchvision.transforms.v2", "torchvision.transforms.v2.functional"]
        assert not any(s in sys.modules for s in stubs)
        for stub in stubs:
            sys.modules[stub] = types.ModuleType(stub)
        try:
            importlib.import_module(name)
        finally:
            for stub in stubs:
                del sys.modules[stub]
    previous = getattr(backends, "tvF", None)
    if previous is not None and getattr(previous, "instructblipvideo_stand_in", False):
        return True

    class InterpolationMode(enum.Enum):
        BILINEAR = "bilinear"
        BICUBIC = "bicubic"
        LANCZOS = "lanczos"

    modes = getattr(previous, "InterpolationMode", InterpolationMode)

    def resize(image, size, interpolation=None, antialias=True):
        if tuple(size) == tuple(image.shape[-2:]):  # torchvision's resize_image: unchanged at equal size
            return image
        if previous is not None:
            return previous.resize(image, size, interpolation=interpolation, antialias=antialias)
        if interpolation is not modes.BILINEAR or not image.is_floating_point():
            raise NotImplementedError("the test stand-in resizes only to the same size, or float tensors bilinearly")
        flat = image.reshape(-1, *image.shape[-3:])
        out = torch.nn.functional.interpolate(flat, size=tuple(size), mode="bilinear", align_corners=False,
                                              antialias=antialias)
        return out.reshape(*image.shape[:-2], *out.shape[-2:])

    def normalize(image, mean, std, inplace=False):
        mean = torch.as_tensor(mean, dtype=image.dtype, device=image.device).view(-1, 1, 1)
        std = torch.as_tensor(std, dtype=image.dtype, device=image.device).view(-1, 1, 1)
        return (image - mean) / std

    def grayscale_to_rgb(image):  # torchvision's: a 3-channel image unchanged, one channel repeated
        return image if image.shape[-3] >= 3 else image.repeat_interleave(3, dim=-3)

    stand_in = types.SimpleNamespace(resize=resize, normalize=normalize, grayscale_to_rgb=grayscale_to_rgb,
                                     InterpolationMode=modes,
                                     instructblipvideo_stand_in=True)
    backends.tvF = stand_in
    video_utils.tvF = stand_in
    mapping = dict(getattr(backends, "pil_torch_interpolation_mapping", {}) or {})
    mapping.update({PILImageResampling.BILINEAR: modes.BILINEAR, PILImageResampling.BICUBIC: modes.BICUBIC})
    backends.pil_torch_interpolation_mapping = mapping
    return True


def video_processor_class():
    """The real ``InstructBlipVideoVideoProcessor``, findable by AutoVideoProcessor for such a folder."""
    import importlib
    import sys

    from transformers import InstructBlipVideoConfig
    from transformers.models.auto.video_processing_auto import AutoVideoProcessor  # (the top-level name is a placeholder)

    install_torchvision_stand_in()
    cls = importlib.import_module("transformers.models.instructblipvideo.video_processing_instructblipvideo"
                                  ).InstructBlipVideoVideoProcessor
    AutoVideoProcessor.register(InstructBlipVideoConfig, video_processor_classes={"torchvision": cls}, exist_ok=True)
    # the processor's type check looks its video slot's base class up at the top level, where transformers binds
    # it only beside torchvision: bind the real one (a video-slot stand-in of another family is one too)
    transformers = sys.modules["transformers"]
    if not hasattr(transformers, "VideoProcessorMixin"):
        from transformers.video_processing_utils import VideoProcessorMixin

        transformers.VideoProcessorMixin = VideoProcessorMixin
    return cls


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import (InstructBlipVideoConfig, InstructBlipVideoForConditionalGeneration,
                              InstructBlipVideoProcessor)

    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(blip2.WORDS, special_tokens=["<pad>", "<s>", "</s>", "<unk>", "<video>"],
                               template_words=[":", "\n"], chat_template=None, bos_token="<s>", eos_token="</s>",
                               pad_token="<pad>", unk_token="<unk>", extra_special_tokens={"video_token": "<video>"})
    tok.add_tokens(["<video>"], special_tokens=True)
    tok.add_bos_token = True
    ids = tok.convert_tokens_to_ids
    qtok = instructblip.qformer_tokenizer()
    video_processor = video_processor_class()(size={"height": SIZE, "width": SIZE})
    processor = InstructBlipVideoProcessor(video_processor=video_processor, tokenizer=tok, qformer_tokenizer=qtok,
                                           num_query_tokens=QUERIES)
    config = InstructBlipVideoConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=SIZE,
                           patch_size=8),
        qformer_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                            encoder_hidden_size=32, vocab_size=len(qtok), pad_token_id=qtok.pad_token_id),
        text_config=dict(model_type="llama", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=256, pad_token_id=ids("<pad>"), bos_token_id=ids("<s>"),
                         eos_token_id=ids("</s>")),
        num_query_tokens=QUERIES, video_token_index=ids("<video>"),
    )
    torch.manual_seed(seed)
    model = InstructBlipVideoForConditionalGeneration(config).eval()
    with torch.no_grad():  # as for InstructBLIP: random init leaves the queries at zero and the ViT near zero
        model.query_tokens.normal_(std=0.5)
        for name, weight in model.named_parameters():
            if weight.dim() > 1 and name.startswith(("vision_model.", "qformer.")):
                weight.normal_(std=0.5 / weight.shape[-1] ** 0.5)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), blip2.BASELINE)
