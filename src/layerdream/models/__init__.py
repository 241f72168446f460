"""Model loading, the VLM handle, and one adapter per VLM family."""
from .._lazy import lazy

__getattr__, __dir__ = lazy(__name__, {
    "ADAPTERS": ".registry",
    "DEFAULT_MODEL": ".registry",
    "TOY_MODELS": ".registry",
    "load": ".registry",
    "VLM": ".vlm",
})

__all__ = ["load", "VLM", "ADAPTERS", "DEFAULT_MODEL", "TOY_MODELS"]
