"""Diagnostics that need no synthesis: the cosine alignment analysis (``layerdream align``)."""
from .align import LabelledImages, alignment, images_from_dir, images_from_toyworld, plot

__all__ = ["LabelledImages", "alignment", "images_from_dir", "images_from_toyworld", "plot"]
