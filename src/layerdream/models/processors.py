"""Load a checkpoint's processor where its video processor cannot be built (no torchvision).

Why this exists: InternVL, Qwen2.5-VL, Qwen3-VL, SmolVLM and LLaVA-OneVision processors carry a video
processor. In transformers 5 every video processor is torchvision-backed, so where torchvision does
not import (PyPI's torchvision beside the CPU torch 2.13 wheel, our CI) ``AutoProcessor.from_pretrained``
fails with an ImportError, and the processor's own constructor refuses ``video_processor=None`` (its
type check even looks the expected class up in the torchvision-only video registry). layerdream only
ever feeds images, so the video slot is filled with :class:`ImagesOnlyVideoProcessor`: it carries the
saved video configuration (``num_frames`` and the like, which some chat templates read), saves back
under the original type name, and fails with one line if video is ever asked of it.

Where torchvision works, :func:`load_processor` is exactly ``AutoProcessor.from_pretrained``.
"""
from __future__ import annotations

import os
from typing import Any

from transformers.video_processing_utils import VideoProcessorMixin

from ..errors import UserError

VIDEO_SLOT = "video_processor"


def _modality(attribute: str) -> str:
    """The canonical slot kind of a processor attribute (``encoder_tokenizer`` -> ``tokenizer``)."""
    from transformers.processing_utils import _get_modality_for_attribute

    return _get_modality_for_attribute(attribute)


class ImagesOnlyVideoProcessor(VideoProcessorMixin):
    """Holds a video processor's saved settings; processes no video (that needs torchvision)."""

    def __init__(self, video_processor_type: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.original_type = video_processor_type

    def preprocess(self, videos, **kwargs):
        raise UserError(f"video input needs torchvision ({self.original_type or 'video processor'}); layerdream feeds images only, "
                        "install a torchvision that matches your torch to process videos")

    def to_dict(self) -> dict[str, Any]:
        # saved back under the real type, so the folder still loads the real one where torchvision works
        out = super().to_dict()
        out.pop("original_type", None)
        out.pop("video_processor_type", None)
        if self.original_type:  # else AutoVideoProcessor picks the class from the model type, as before
            out["video_processor_type"] = self.original_type
        return out


def share_chat_template(processor) -> None:
    """Give text prompts the template the image prompt uses: the processor's.

    The processor's chat template is the multimodal one (it renders the image). The tokenizer's, which
    concept prompts go through, may be missing (``llava-hf`` repos keep the template only in the
    processor's legacy ``chat_template.json``, which tokenizers do not read: the text side would fall
    back to raw prompts) or be the base language model's own (a Qwen2 tokenizer's template adds a
    system turn the image prompt does not have). Either way text and image prompts would differ.
    """
    tokenizer = getattr(processor, "tokenizer", None)
    template = getattr(processor, "chat_template", None)
    if tokenizer is not None and isinstance(template, str) and template and tokenizer.chat_template != template:
        tokenizer.chat_template = template


def images_only_video_processor(video_processor_type: str | None = None, **settings: Any) -> ImagesOnlyVideoProcessor:
    """A video-slot stand-in with the given saved settings (tests build tiny checkpoints with it)."""
    return ImagesOnlyVideoProcessor(video_processor_type=video_processor_type, **settings)


def _accepting(processor_cls: type) -> type:
    """``processor_cls`` whose constructor accepts the stand-in in its video slot (and nothing else new)."""
    def check_argument_for_proper_class(self, argument_name, argument):
        if isinstance(argument, ImagesOnlyVideoProcessor) and _modality(argument_name) == VIDEO_SLOT:
            return ImagesOnlyVideoProcessor
        return processor_cls.check_argument_for_proper_class(self, argument_name, argument)

    return type(processor_cls.__name__, (processor_cls,), {
        "check_argument_for_proper_class": check_argument_for_proper_class,
        "__module__": processor_cls.__module__, "__doc__": processor_cls.__doc__,
    })


def make_processor(processor_cls: type, *args: Any, **kwargs: Any):
    """``processor_cls(*args, **kwargs)``, where a video slot may hold an :func:`images_only_video_processor`.

    The object returned is a real ``processor_cls`` (only its construction goes through a subclass
    whose type check accepts the stand-in), so ``save_pretrained`` writes the family's own files.
    """
    processor = _accepting(processor_cls)(*args, **kwargs)
    processor.__class__ = processor_cls
    return processor


def _is_video_backend_error(err: BaseException) -> bool:
    """Missing torchvision (ImportError), a broken one (RuntimeError on import), or the dummy video
    registry the processor's type check falls into (AttributeError on ``VIDEO_PROCESSOR_MAPPING``)."""
    text = str(err).lower()
    return "torchvision" in text or "video_processor" in text


def _processor_class(location: str, **kwargs: Any) -> type | None:
    """The processor class a folder or hub id names (processor config first, then the model type)."""
    from transformers import AutoConfig, ProcessorMixin
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES, processor_class_from_name

    try:
        processor_dict, _ = ProcessorMixin.get_processor_dict(location, **kwargs)
    except (OSError, ValueError):
        processor_dict = {}
    name = processor_dict.get("processor_class")
    if not name:
        model_type = AutoConfig.from_pretrained(location, **kwargs).model_type
        name = PROCESSOR_MAPPING_NAMES.get(model_type)
    return processor_class_from_name(name) if name else None


def _load_without_video(processor_cls: type, location: str, **kwargs: Any):
    """The processor with each video slot filled by the stand-in, every other slot loaded as usual."""
    from transformers.processing_utils import MODALITY_TO_AUTOPROCESSOR_MAPPING

    processor_dict, instantiation_kwargs = processor_cls.get_processor_dict(location, **kwargs)
    subfolder = kwargs.pop("subfolder", "")
    standin = ImagesOnlyVideoProcessor
    args = []
    for attribute in processor_cls.get_attributes():
        modality = _modality(attribute)
        if modality == VIDEO_SLOT:
            try:  # the library's own lookup: nested in processor_config.json, else its own file
                args.append(standin.from_pretrained(location, subfolder=subfolder, **kwargs))
            except OSError:
                args.append(standin())
        elif modality == "tokenizer":
            args.append(processor_cls._load_tokenizer_from_pretrained(attribute, location, subfolder=subfolder, **kwargs))
        elif attribute == modality:
            args.append(MODALITY_TO_AUTOPROCESSOR_MAPPING[attribute].from_pretrained(location, subfolder=subfolder, **kwargs))
        else:  # a second image processor or feature extractor: no family layerdream supports has one
            raise ValueError(f"cannot load the processor slot {attribute!r} of {processor_cls.__name__} without torchvision")
    processor = _accepting(processor_cls).from_args_and_dict(args, processor_dict, **instantiation_kwargs)
    processor.__class__ = processor_cls
    return processor


#: processors whose module imports a pure helper from a torchvision-only image-processor module, although
#: the PIL module next to it has the same function (identical source in transformers 5.24, checked by
#: tests/models/test_mistral3.py): torchvision-only module -> (PIL module, the names the processor imports)
TORCHVISION_ONLY_HELPERS = {
    # PixtralProcessor (Mistral 3): `from .image_processing_pixtral import get_resize_output_image_size`
    "transformers.models.pixtral.image_processing_pixtral": (
        "transformers.models.pixtral.image_processing_pil_pixtral", ("get_resize_output_image_size", "_num_image_tokens"),
        "transformers.models.pixtral.processing_pixtral", ("PixtralProcessor",)),
}


def provide_torchvision_free_helpers() -> list[str]:
    """Where a module of :data:`TORCHVISION_ONLY_HELPERS` cannot be imported (no torchvision, or a broken
    one), register in its place a module holding only the named helpers, taken from the PIL module, so
    that the processor that imports them loads; the torchvision image-processor classes stay unavailable
    (transformers picks the PIL ones), and the processor class itself is made findable by AutoProcessor.
    Where torchvision works nothing changes. Returns what it provided."""
    import importlib
    import sys
    import types

    provided = []
    for name, (pil_name, helpers, processor_module, classes) in TORCHVISION_ONLY_HELPERS.items():
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except (ImportError, RuntimeError):
            pil = importlib.import_module(pil_name)
            stand_in = types.ModuleType(name, f"{name} without torchvision: only {', '.join(helpers)} (from {pil_name})")
            for helper in helpers:
                setattr(stand_in, helper, getattr(pil, helper))
            sys.modules[name] = stand_in
            provided.append(name)
            # transformers' lazy package marked the processor as needing torchvision when it found none: bind
            # the real class there (and at the top level), where AutoProcessor looks it up
            module = importlib.import_module(processor_module)
            package = sys.modules[processor_module.rsplit(".", 1)[0]]
            for cls in classes:
                setattr(package, cls, getattr(module, cls))
                setattr(sys.modules["transformers"], cls, getattr(module, cls))
    return provided


def load_processor(location: str | os.PathLike, **kwargs: Any):
    """``AutoProcessor.from_pretrained(location, **kwargs)``, falling back to an images-only video slot
    when the processor's video processor cannot be built (torchvision missing or broken), and with the
    pure helpers some processors import from torchvision-only modules (:func:`provide_torchvision_free_helpers`)."""
    from transformers import AutoProcessor

    location = str(location)
    provide_torchvision_free_helpers()
    try:
        return AutoProcessor.from_pretrained(location, **kwargs)
    except (ImportError, AttributeError, RuntimeError) as err:
        if not _is_video_backend_error(err):
            raise
        processor_cls = _processor_class(location, **kwargs)
        if processor_cls is None or not any(_modality(a) == VIDEO_SLOT for a in processor_cls.get_attributes()):
            raise
        return _load_without_video(processor_cls, location, **kwargs)


__all__ = ["load_processor", "provide_torchvision_free_helpers", "make_processor", "images_only_video_processor", "ImagesOnlyVideoProcessor", "share_chat_template"]
