"""layerdream: at which layer do a text concept and its images share a representation?

    import layerdream as ld
    vlm = ld.load("toy-aligned")
    [result] = ld.synthesize(vlm, "red", layers=1)
    result.to_pil().save("red.png")
"""
from __future__ import annotations

from ._lazy import lazy

__getattr__, __dir__ = lazy(__name__, {
    "load": ".models.registry", "VLM": ".models.vlm", "concept_vector": ".concepts", "concept_vectors": ".concepts",
    "synthesize": ".synthesis.loop", "SynthesisResult": ".synthesis.result", "SynthesisConfig": ".synthesis.presets",
    "image_representation": ".representation", "UserError": ".errors",
})

__all__ = ["load", "VLM", "concept_vector", "concept_vectors", "synthesize", "SynthesisResult",
           "SynthesisConfig", "image_representation", "UserError"]
