"""One module per VLM family: each builds a tiny random-init checkpoint of the real class, with a real
processor and the family's own chat template, into a folder (``build(folder)``).

``tests/models/test_families.py`` runs the same battery on every module found here, so supporting a
family in the tests is one file: ``FAMILY`` (a name), ``build(folder)``, and optionally
``PROCESSOR_KWARGS`` (the options the adapter fixes when it calls the processor, e.g. one tile; every
other processor setting stays at its default, so the pixel test compares against what a user's call
gives), ``PIXEL_ATOL`` (where the processor resamples even a picture at the input size), ``PIXEL_KEYS`` (our
pixels' key -> the processor's, where the model names them otherwise: Kosmos-2.5's ``flattened_patches``) and
``reference_prompt(processor, pil_image)``.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def save_checkpoint(folder, model, processor, baseline_words) -> None:
    """What every family module's ``build`` ends with: a loadable folder plus its baseline words
    (the paper's 100 words are not in the tiny vocabularies)."""
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    (folder / "baseline_words.txt").write_text("\n".join(baseline_words) + "\n")


def discover() -> list[ModuleType]:
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
    return sorted((m for m in modules if hasattr(m, "build") and hasattr(m, "FAMILY")), key=lambda m: m.FAMILY)
