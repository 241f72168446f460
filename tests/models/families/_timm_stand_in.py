"""Test-only: the real timm (and the real torchvision-only image processors) where torchvision does not import.

PyPI's torchvision wheels are CUDA builds (``torchvision/_C.so`` links ``libtorch_cuda.so``), which our CPU torch
lacks, and ``import timm`` binds a few torchvision names at import time. Nothing timm runs to build or call a
Perception Encoder (``timm.models.eva``) or a FastViT touches them. :func:`import_timm` therefore:

1. pins transformers' availability checks first (``is_torchvision_available()`` / ``is_timm_available()`` are
   ``lru_cache``'d: they stay False, as they are without a torchvision, for every other test);
2. puts placeholder ``torchvision`` modules in ``sys.modules`` **only while** ``timm`` and the torchvision-only
   modules named by the caller are imported, and removes them straight after (``import torchvision`` still fails
   for the rest of the session). The placeholders: ``ops.misc.FrozenBatchNorm2d``, the
   ``models.feature_extraction`` functions, ten ``datasets`` classes and ``transforms.ToTensor``, each a class or
   function that raises if it is ever instantiated or called; ``transforms.functional.InterpolationMode``, an enum
   of torchvision's members and values (timm builds string maps from it at import);
   ``transforms.v2.functional``: the module the image processor imports, the stand-in of
   :func:`install_tvf_stand_in`;
3. in ``transformers.models.timm_wrapper.modeling_timm_wrapper`` only: binds the imported ``timm`` (the module
   imports it only where ``is_timm_available()``) and lets its ``requires_backends`` skip the ``"timm"`` backend
   (which transformers counts as missing whenever torchvision is). Every other check is left as it is.

Where torchvision imports (a user's machine), :func:`import_timm` is a plain ``import timm`` and nothing is
stood in. Without timm it returns None (the caller skips).
"""
from __future__ import annotations

import contextlib
import enum
import importlib
import importlib.util
import sys
import types


class InterpolationMode(enum.Enum):
    """torchvision's ``InterpolationMode`` members and values."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _unavailable(name: str):
    def refuse(*args, **kwargs):
        raise RuntimeError(f"torchvision.{name} is a test stand-in (tests/models/families/_timm_stand_in.py): "
                           "torchvision does not import here")

    return type(name.rsplit(".", 1)[-1], (), {"__init__": refuse, "__call__": refuse})


def _module(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    module.__path__ = []
    return module


def _placeholder_modules() -> dict[str, types.ModuleType]:
    datasets = ["CIFAR100", "CIFAR10", "MNIST", "KMNIST", "FashionMNIST", "ImageFolder", "Places365", "INaturalist",
                "QMNIST", "ImageNet"]
    functional = _module("torchvision.transforms.functional", InterpolationMode=InterpolationMode)
    v2_functional = _module("torchvision.transforms.v2.functional", **vars(tvf_stand_in()))
    return {
        "torchvision": _module("torchvision"),
        "torchvision.ops": _module("torchvision.ops"),
        "torchvision.ops.misc": _module("torchvision.ops.misc", FrozenBatchNorm2d=_unavailable("ops.misc.FrozenBatchNorm2d")),
        "torchvision.models": _module("torchvision.models"),
        "torchvision.models.feature_extraction": _module(
            "torchvision.models.feature_extraction",
            create_feature_extractor=_unavailable("models.feature_extraction.create_feature_extractor"),
            get_graph_node_names=_unavailable("models.feature_extraction.get_graph_node_names")),
        "torchvision.datasets": _module("torchvision.datasets",
                                        **{n: _unavailable(f"datasets.{n}") for n in datasets}),
        "torchvision.transforms": _module("torchvision.transforms", functional=functional,
                                          InterpolationMode=InterpolationMode,
                                          ToTensor=_unavailable("transforms.ToTensor")),
        "torchvision.transforms.functional": functional,
        "torchvision.transforms.v2": _module("torchvision.transforms.v2", functional=v2_functional),
        "torchvision.transforms.v2.functional": v2_functional,
    }


@contextlib.contextmanager
def _torchvision_placeholders():
    names = _placeholder_modules()
    clash = [k for k in names if k in sys.modules]
    if clash:
        raise RuntimeError(f"torchvision modules already imported: {clash}")
    sys.modules.update(names)
    try:
        yield
    finally:
        for name in list(sys.modules):
            if name == "torchvision" or name.startswith("torchvision."):
                del sys.modules[name]


def import_timm(*torchvision_only_modules: str):
    """The real ``timm`` (None where it is not installed), and the given torchvision-only transformers modules
    imported (their module objects are then the real ones, e.g. an image processor's)."""
    if importlib.util.find_spec("timm") is None:
        return None
    from transformers.utils import import_utils

    if import_utils.is_timm_available():  # a working torchvision: nothing to stand in
        import timm

        for name in torchvision_only_modules:
            importlib.import_module(name)
        return timm
    assert not import_utils.is_torchvision_available()  # pinned (lru_cache) before the placeholders exist
    if "timm" not in sys.modules or any(n not in sys.modules for n in torchvision_only_modules):
        with _torchvision_placeholders():
            import timm  # noqa: F401

            for name in torchvision_only_modules:
                importlib.import_module(name)
    assert not import_utils.is_torchvision_available() and not import_utils.is_timm_available()
    timm = sys.modules["timm"]
    wrapper = importlib.import_module("transformers.models.timm_wrapper.modeling_timm_wrapper")
    if getattr(wrapper, "timm", None) is not timm:
        real = wrapper.requires_backends
        wrapper.timm = timm
        wrapper.requires_backends = lambda obj, backends: real(obj, [b for b in backends if b != "timm"])
    return timm


def tvf_stand_in() -> types.SimpleNamespace:
    """What transformers' ``TorchvisionBackend`` calls of ``torchvision.transforms.v2.functional`` for an RGB picture:
    ``resize`` (identity at the picture's own size, the only case whose values a test compares; otherwise torch's
    ``interpolate`` with antialias, rounded and clamped back to uint8 as torchvision does for uint8 input),
    ``normalize`` ((x - mean) / std), ``grayscale_to_rgb`` and ``InterpolationMode``."""
    import torch

    def resize(image, size, interpolation=InterpolationMode.BILINEAR, antialias=True):
        size = tuple(int(s) for s in size)
        if tuple(image.shape[-2:]) == size:
            return image
        if interpolation not in (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC):
            raise NotImplementedError(f"the test stand-in resizes bilinearly or bicubically only, not {interpolation}")
        flat = image.reshape(-1, *image.shape[-3:])
        out = torch.nn.functional.interpolate(flat.float(), size=size, mode=interpolation.value, align_corners=False,
                                              antialias=antialias)
        if image.dtype == torch.uint8:
            out = out.round_().clamp_(0, 255).to(torch.uint8)
        return out.reshape(*image.shape[:-2], *size)

    def normalize(image, mean, std, inplace=False):
        mean = torch.as_tensor(mean, dtype=image.dtype, device=image.device).view(-1, 1, 1)
        std = torch.as_tensor(std, dtype=image.dtype, device=image.device).view(-1, 1, 1)
        return (image - mean) / std

    def grayscale_to_rgb(image):
        return image if image.shape[-3] == 3 else image.expand(*image.shape[:-3], 3, *image.shape[-2:])

    return types.SimpleNamespace(resize=resize, normalize=normalize, grayscale_to_rgb=grayscale_to_rgb,
                                 InterpolationMode=InterpolationMode)


def install_tvf_stand_in() -> bool:
    """Where torchvision is missing, bind :func:`tvf_stand_in` (and the PIL -> InterpolationMode map) in
    ``transformers.image_processing_backends`` only. It replaces a narrower test stand-in already there (Molmo2's:
    bilinear float resizes, which this one does the same way). True if installed."""
    import transformers.image_processing_backends as backends
    from transformers.image_utils import PILImageResampling

    current = getattr(backends, "tvF", None)
    if current is not None and not isinstance(current, types.SimpleNamespace):
        return False  # the real torchvision
    backends.tvF = tvf_stand_in()
    backends.pil_torch_interpolation_mapping = {PILImageResampling.BILINEAR: InterpolationMode.BILINEAR,
                                                PILImageResampling.BICUBIC: InterpolationMode.BICUBIC}
    return True
