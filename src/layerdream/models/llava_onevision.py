"""LLaVA-OneVision (``LlavaOnevisionForConditionalGeneration``): LLaVA-NeXT's adapter, other numbers.

Everything in ``llava_next.py`` applies; what differs is data, read from the checkpoint:

* **SigLIP 384/14, no CLS**: the ``full`` select strategy keeps all 27 x 27 = 729 patch tokens.
* **384 x 384 is itself a pinpoint** (``anyres_max_9`` lists 384..2304 px canvases), so the fixed
  384-px square needs neither resize nor padding: ``pixel_values`` is the base view plus one tile
  equal to it, and the image block is 729 base tokens, then the anyres map 27 x (27 + 1 newline) =
  756, the grid (27, 28). ``anyres_max_9`` would only pool maps larger than 9 tiles: not this one.
* **Single-image path.** OneVision packs an image without tiles when a sample holds several images
  (``batch_num_images``); layerdream's prompt holds one, the model's default, so the anyres path
  above is the one every image takes.
* **A video slot** in the processor: loaded without torchvision by ``processors.load_processor``.
* **Qwen2 chat template, no BOS.** The processor's template is OneVision's own (``<|im_start|>user
  <image>``...); the Qwen2 tokenizer may carry Qwen's (with a default system turn) or none, so it is
  given the processor's (``processors.share_chat_template``) and text prompts match image prompts.
"""
from __future__ import annotations

from .llava_next import LlavaNextAdapter


class LlavaOnevisionAdapter(LlavaNextAdapter):
    model_types = ("llava_onevision",)
