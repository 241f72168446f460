"""GLM-OCR (``GlmOcrForConditionalGeneration``, read through GLM-4.6V's ``Glm46VProcessor``): the GLM-4V adapter
(``glm4v.py``: 16 x 16 tokens at 448 px, GLM's ``smart_resize`` checked on load, explicit 3-D positions).

* **Memory model.** GLM-OCR's vision attention RMS-normalises q and k per head in fp32, which GLM-4V's does
  not: measured with autograd's saved-tensor hooks (bf16), a block keeps ~3 I + 16 D per token, not GLM-4V's
  3 I + 10 D (``vision_block_terms``; with GLM-4V's terms the estimate was 8-9 % low, with these it is within
  1 %: tests/models/test_glm_ocr.py). Its MLP is ``intermediate_size`` wide (GLM-4V's reads ``out_hidden_size``),
  which is what the memory model reads.

Nothing else differs for the adapter: the tower has no learned position embeddings (2-D rotary only) and no
norm after the patch convolution; the text model
rotates the whole head (``partial_rotary_factor`` 1.0, which the model handles); the checkpoint's
multi-token-prediction layer (index ``num_hidden_layers``) is not loaded, so layer l means the same blocks
as the model's own forward. The released image processor's bounds (112^2 .. 9633792 px) leave 448 px as is.
"""
from __future__ import annotations

from .glm4v import Glm4vAdapter


class GlmOcrAdapter(Glm4vAdapter):
    model_types = ("glm_ocr",)
    mlp_width = "intermediate_size"  # GlmOcrVisionMlp, unlike GLM-4V's (out_hidden_size)
    vision_block_terms = (3, 16)  # gated SiLU MLP as GLM-4V's; + q/k RMSNorm in fp32 (measured, bf16)
