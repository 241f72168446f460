"""Model loading, the VLM handle, and one adapter per VLM family."""
from .registry import ADAPTERS, DEFAULT_MODEL, TOY_MODELS, load
from .vlm import VLM

__all__ = ["load", "VLM", "ADAPTERS", "DEFAULT_MODEL", "TOY_MODELS"]
