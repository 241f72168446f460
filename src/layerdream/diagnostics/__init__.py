"""Diagnostics that need no synthesis: the cosine alignment analysis (``layerdream align``)."""
from .._lazy import lazy

__getattr__, __dir__ = lazy(__name__, {
    "LabelledImages": ".align",
    "alignment": ".align",
    "images_from_dir": ".align",
    "images_from_toyworld": ".align",
    "plot": ".align",
})

__all__ = ["LabelledImages", "alignment", "images_from_dir", "images_from_toyworld", "plot"]
