"""HyperCLOVA X SEED Vision (``HyperCLOVAXVisionV2ForConditionalGeneration``): EXAONE 4.5's adapter.

* **The tower is Qwen2.5-VL's.** ``AutoModel.from_config(vision_config)`` builds a ``qwen2_5_vl_vision``
  ViT (windowed attention, 2x2 merger; a saved ``qwen2_5_vl`` vision type is renamed by the config), then
  one linear projector maps the merger's ``out_hidden_size`` to the LM's width. transformers maps the type
  to ``Qwen2VLImageProcessor``: flattened patches in merge-window order + ``image_grid_thw``; layerdream fixes
  the 16 x 16-token square (448 px at patch 14), as for Qwen2.5-VL (``qwen2_5_vl.py``).
* **1-D positions.** The HyperCLOVA X text model takes the processor's ids and plain 1-D positions (no
  M-RoPE, no ``mm_token_type_ids``): the prompt and the forward are the default adapter's, as EXAONE 4.5's.
* **Multipliers.** The LM scales its input embeddings (``embedding_multiplier``, image features included,
  after the scatter) and each block's residual branch (``residual_multiplier``): layer l is still block l's
  output on the one residual stream, read as ``hidden_states[l]``.
"""
from __future__ import annotations

from .exaone4_5 import Exaone4_5Adapter


class HyperCLOVAXVisionV2Adapter(Exaone4_5Adapter):
    model_types = ("hyperclovax_vision_v2",)
