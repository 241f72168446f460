"""Step 2: Direct Ascent Synthesis toward a concept vector."""
from .._lazy import lazy

__getattr__, __dir__ = lazy(__name__, {
    "synthesize": ".loop",
    "SynthesisConfig": ".presets",
    "make_config": ".presets",
    "SynthesisResult": ".result",
})

__all__ = ["synthesize", "SynthesisResult", "SynthesisConfig", "make_config"]
