"""Step 2: Direct Ascent Synthesis toward a concept vector."""
from .loop import synthesize
from .presets import SynthesisConfig, make_config
from .result import SynthesisResult

__all__ = ["synthesize", "SynthesisResult", "SynthesisConfig", "make_config"]
