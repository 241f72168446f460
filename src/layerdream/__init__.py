"""layerdream: at which layer do a text concept and its images share a representation?

    import layerdream as ld
    vlm = ld.load("toy-aligned")
    [result] = ld.synthesize(vlm, "red", layers=1)
    result.to_pil().save("red.png")
    run = ld.sweep(vlm, "toy", layers=[1, 2], out="runs/toy"); ld.judge(run, "toy"); run.recognition()
"""
from __future__ import annotations

import importlib
import os
import types

from ._lazy import lazy

# MKL's matrix products (and PyTorch's CPU attention, built on them) split long sums differently at
# another thread count unless MKL's strict reproducibility mode is on: the same seed then gave PNGs
# 150/255 apart at 1 and 2 threads on toy-gemma-aligned. MKL reads this once, at its first call
# (importing torch makes none), so it is set here, before any model runs; a value the user set wins.
# Why and what it costs: synthesis/determinism.py, docs/reproducibility.md.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

__getattr__, __dir__ = lazy(__name__, {
    "load": ".models.registry", "VLM": ".models.vlm", "concept_vector": ".concepts", "concept_vectors": ".concepts",
    "synthesize": ".synthesis.loop", "SynthesisResult": ".synthesis.result", "SynthesisConfig": ".synthesis.presets",
    "image_representation": ".representation", "UserError": ".errors",
    "sweep": ".api", "judge": ".api", "report": ".api", "align": ".api", "open_run": ".api", "show": ".api",
    "judge_image": ".api", "Run": ".api", "LensResult": ".api", "lens": ".api", "families": ".api",
})

__all__ = ["load", "VLM", "concept_vector", "concept_vectors", "synthesize", "SynthesisResult",
           "SynthesisConfig", "image_representation", "UserError",
           "sweep", "judge", "report", "align", "lens", "LensResult", "open_run", "show", "judge_image", "Run", "families"]


class _CallablePackage(types.ModuleType):
    """``ld.sweep``, ``ld.report`` and ``ld.lens`` are both functions of the API and subpackages (``layerdream.sweep``).

    Python binds a subpackage to its parent's attribute on first import, so a plain function of that
    name would be replaced by the module as soon as anything imported ``layerdream.sweep``. Instead the
    subpackage itself is callable and calls the API function: ``ld.sweep(...)``, ``ld.sweep.Store``,
    ``from layerdream.sweep import ...`` and ``import layerdream.sweep.store`` all keep working.
    """

    @property
    def _function(self):
        return getattr(importlib.import_module(".api", __name__), self.__name__.rsplit(".", 1)[1])

    def __call__(self, *args, **kwargs):
        """Call the API function of this name (``help(layerdream.api.sweep)``, ``help(layerdream.api.report)``)."""
        return self._function(*args, **kwargs)

    @property
    def __signature__(self):
        import inspect

        return inspect.signature(self._function)


for _name in ("sweep", "report", "lens"):  # all three packages are light (lazy maps): no torch here
    importlib.import_module(f".{_name}", __name__).__class__ = _CallablePackage
del _name
