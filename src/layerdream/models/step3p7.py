"""Step 3.7 (``Step3p7ForConditionalGeneration``, Step-3.5/3.7-Flash): a ViT with a conv downsampler and a
linear projector into a sliding/full-attention MoE text model.

* **One global view.** The image processor (``Step3p7ImageProcessor``, torchvision-only in transformers 5.24)
  makes a global view of every image, resized to ``size`` (728 px), plus local crops of ``patch_size`` (504 px)
  by a sliding window when the image is larger than the global view or elongated (``_plan_patches``). A square
  at the global size gets no crops: layerdream feeds exactly that, one 728 x 728 view, so the preprocessing is
  the default adapter's (resize to the square, CLIP mean/std read from the checkpoint) and the processor's
  ``pixel_values`` are ours. The adapter asks the processor's own planner that the square makes no crops and
  refuses, in one line, a checkpoint where it would.
* **Grid.** The ViT (patch 14: 52 x 52) is followed by two stride-2 convolutions (52 -> 26 -> 13), flattened
  row-major and projected: 13 x 13 = 169 ``<im_patch>`` tokens between ``<im_start>`` and ``<im_end>`` (text
  tokens outside the grid).
* **1-D positions**; no extra inputs (``num_local_patches`` is None: no crops).
* **MoE routing is part of the forward.** Sparse blocks (every block from index 3 on the release) send each
  token to its top-k routed experts by sigmoid router scores (a per-expert bias steers the choice only) plus a
  shared expert, with no capacity limit: per token, inside the early-exit forward; gradients flow through the
  chosen experts and their gate values, never the discrete choice. Recorded in each result (:meth:`result_notes`).
"""
from __future__ import annotations

from ..errors import UserError
from .adapter import FamilyAdapter
from .processors import share_chat_template


class Step3p7Adapter(FamilyAdapter):
    model_types = ("step3p7",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        share_chat_template(processor)
        vision = model.config.vision_config
        ip = processor.image_processor
        stride = int(vision.patch_size) * int(getattr(ip, "downsampler_stride", 4))
        self.side = self.image_size // stride
        if self.side * stride != self.image_size:
            raise UserError(f"this Step 3.7 processor's global view ({self.image_size} px) is not a multiple of the "
                            f"tower's {stride}-px token; use the processor saved with the model")
        crops = int(ip.get_number_of_image_patches(self.image_size, self.image_size))
        if crops:
            raise UserError(f"this Step 3.7 processor cuts a square {self.image_size}-px image into {crops} local crops "
                            "besides the global view; layerdream optimises the global view alone")

    @property
    def grid(self) -> tuple[int, int]:
        return self.side, self.side

    def result_notes(self, layer: int) -> dict:
        text = self.model.config.text_config
        kinds = list(text.mlp_layer_types)[:layer]
        return {"moe_routing": f"per-token top-{int(text.num_experts_per_tok)} of {int(text.n_routed_experts)} experts "
                               f"(sigmoid router) + shared expert; blocks 1..{layer} run their routing "
                               f"({sum(k != 'sparse' for k in kinds)} of them dense); gradients through the chosen "
                               "experts and their gate, not the discrete choice"}
