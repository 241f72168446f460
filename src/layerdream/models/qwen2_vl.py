"""Qwen2-VL (``Qwen2VLForConditionalGeneration``): Qwen2.5-VL's adapter, minus its tower's names.

Everything the Qwen2.5-VL adapter handles holds here unchanged (``qwen2_5_vl.py``): native resolution
fixed to a 16 x 16-token square (448 px on the released checkpoints: patch 14, 2x2 merge), flattened
``pixel_values`` in merge-window order with ``image_grid_thw``, explicit 3-D M-RoPE ``position_ids``
from the model's own ``get_rope_index`` (``rope_deltas`` never read), the processor's template on
both sides. The same ``Qwen2VLImageProcessor`` and processor layout serve both families.

What differs is only the vision tower: Qwen2-VL's ViT attends over the whole image in every block (no
windows) and uses a plain ``fc1 -> quick_gelu -> fc2`` MLP, and its config names the width
``embed_dim`` (``hidden_size`` is the *language model's* width, the merger's output) and the MLP
``mlp_ratio``. :meth:`vision_dims` reads those names; the per-token terms the memory model adds for
this tower were measured with autograd's saved-tensor hooks (tests/models/test_qwen2_vl.py).
"""
from __future__ import annotations

from .adapter import VisionDims
from .qwen2_5_vl import Qwen2_5_VLAdapter


class Qwen2VLAdapter(Qwen2_5_VLAdapter):
    model_types = ("qwen2_vl",)
    #: what one block keeps per token, as (MLP, width) multiples: measured in bf16 with autograd's
    #: saved-tensor hooks at 448 px, 2 I + 8 D (fc1's output and its activation; q and k rotated in
    #: fp32): the estimate is then 1.00x the measurement, the generic I + 6 D 0.80x (test_qwen2_vl.py)
    vision_block_terms: tuple[int, int] = (2, 8)

    def vision_dims(self) -> VisionDims:
        vision = self.model.config.vision_config
        width = int(vision.embed_dim)
        mlp = int(width * vision.mlp_ratio)
        mlp_factor, width_factor = self.vision_block_terms
        return VisionDims(tokens=(self.image_size // self.patch) ** 2, width=width,
                          mlp=mlp_factor * mlp + (width_factor - 6) * width, layers=int(vision.depth),
                          heads=int(vision.num_heads))
