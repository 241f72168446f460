"""Every image-text model type of transformers, classified: supported, refused (why), or not yet.

Pure data (no torch, no transformers at import), read from each type's modeling file in transformers
5.24 (``MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES``). The method applies wherever image features
reach the decoder's residual stream as token embeddings that are differentiable in the pixels (a
vision encoder + projector, a linear patch embedding, learned queries scattered at image-token
positions). It does not where images enter only through cross-attention, only as discrete VQ token
ids (no gradient reaches the pixels), or where the model is an encoder-decoder whose image tokens sit
in a bidirectional encoder that the text decoder reads by cross-attention (no decoder-only residual
stream for "layer l" to name).

* ``supported``: an adapter is registered (``registry.ADAPTERS``) and the family battery passes on a
  tiny checkpoint of the real class (tests/models/families/).
* ``not_yet``: the method applies; no adapter written yet. The note says what the adapter must handle.
* ``refused``: the method does not apply; the note is the one-line reason users get.
* A type of the installed transformers that is not here is *unclassified* (a newer release):
  :func:`status_of` says which modeling file to read and points at docs/adding-a-model.md.

``registry.py`` (the load-time errors), ``layerdream families`` / ``ld.families()`` and the README
table (``scripts/families_table.py``) all read this one table.

Over 400 lines because it is that one table (an entry per model type, in one place to read and review);
the code around it is a few lines.
"""
from __future__ import annotations

from dataclasses import dataclass

SUPPORTED, REFUSED, NOT_YET, UNCLASSIFIED = "supported", "refused", "not yet supported", "unclassified"
#: the transformers release this table was read from
CLASSIFIED_AGAINST = "5.25.0"


@dataclass(frozen=True)
class Entry:
    """One ``config.model_type``: its status, the class it loads as, and a one-line note."""

    model_type: str
    status: str
    cls: str
    family: str
    note: str
    examples: tuple[str, ...] = ()
    #: image tokens at layerdream's fixed geometry on the released checkpoints (supported types)
    image_tokens: str = ""
    doc: str = ""


def _s(t, cls, family, tokens, note, examples=(), doc=""):
    return Entry(t, SUPPORTED, cls, family, note, tuple(examples), tokens, doc)


def _r(t, cls, family, note, examples=()):
    return Entry(t, REFUSED, cls, family, note, tuple(examples))


def _n(t, cls, family, note, examples=()):
    return Entry(t, NOT_YET, cls, family, note, tuple(examples))


_ADAPTER = "adapter-based"
_ENTRIES = [
    # ---------------------------------------------------------------- supported (registry.ADAPTERS)
    _s("gemma3", "Gemma3ForConditionalGeneration", "Gemma 3", "256 (896 px, 16x16)",
       "the paper's model; token_type_ids for the bidirectional image block; text-only Gemma 3 serves concept vectors",
       ["google/gemma-3-4b-it", "google/gemma-3-12b-it", "google/gemma-3-27b-it"]),
    _s("shieldgemma2", "Gemma3ForConditionalGeneration", "ShieldGemma 2", "256 (896 px, 16x16)",
       "Gemma 3 4B under its own config type (loads as Gemma3ForConditionalGeneration); the Gemma 3 adapter",
       ["google/shieldgemma-2-4b-it"]),
    _s("internvl", "InternVLForConditionalGeneration", "InternVL 3 / 3.5", "256 (one 448-px tile, 16x16)",
       "the paper's second model; dynamic tiling fixed to one tile", ["OpenGVLab/InternVL3-1B-hf", "OpenGVLab/InternVL3_5-8B-HF"],
       "docs/families/internvl.md"),
    _s("qwen2_vl", "Qwen2VLForConditionalGeneration", "Qwen2-VL", "256 (448 px, 16x16)",
       "the Qwen2.5-VL adapter with Qwen2-VL's full-attention tower (embed_dim / mlp_ratio)",
       ["Qwen/Qwen2-VL-2B-Instruct", "Qwen/Qwen2-VL-7B-Instruct", "Qwen/Qwen2-VL-72B-Instruct"],
       "docs/families/qwen2_vl.md"),
    _s("qwen2_5_vl", "Qwen2_5_VLForConditionalGeneration", "Qwen2.5-VL", "256 (448 px, 16x16)",
       "native resolution fixed; 3-D M-RoPE positions passed explicitly (rope_deltas never read)",
       ["Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct"], "docs/families/qwen2_5_vl.md"),
    _s("qwen3_vl", "Qwen3VLForConditionalGeneration", "Qwen3-VL", "256 (512 px, 16x16)",
       "layer l read after DeepStack's injection (layers 1-3), recorded in each result",
       ["Qwen/Qwen3-VL-2B-Instruct", "Qwen/Qwen3-VL-8B-Instruct"], "docs/families/qwen3_vl.md"),
    _s("qwen3_vl_moe", "Qwen3VLMoeForConditionalGeneration", "Qwen3-VL MoE", "256 (512 px, 16x16)",
       "as Qwen3-VL; MoE text model", ["Qwen/Qwen3-VL-30B-A3B-Instruct"], "docs/families/qwen3_vl.md"),
    _s("llava", "LlavaForConditionalGeneration", "LLaVA-1.5", "576 (336 px, 24x24)",
       "CLIP layer -2, CLS dropped", ["llava-hf/llava-1.5-7b-hf", "llava-hf/llava-1.5-13b-hf"], "docs/families/llava.md"),
    _s("llava_next", "LlavaNextForConditionalGeneration", "LLaVA-NeXT", "576 base + 24x25 anyres (grid 24x25)",
       "anyres fixed to one 336-px square; newline column", ["llava-hf/llava-v1.6-mistral-7b-hf"],
       "docs/families/llava_next.md"),
    _s("llava_onevision", "LlavaOnevisionForConditionalGeneration", "LLaVA-OneVision", "729 base + 27x28 (grid 27x28)",
       "one-tile anyres", ["llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "llava-hf/llava-onevision-qwen2-7b-ov-hf"],
       "docs/families/llava_next.md"),
    _s("paligemma", "PaliGemmaForConditionalGeneration", "PaliGemma 1 / 2", "256 / 1024 / 4096 (224 / 448 / 896 px)",
       "raw prompts; image tokens first; prefix-LM mask", ["google/paligemma2-3b-pt-224", "google/paligemma2-10b-mix-448"],
       "docs/families/paligemma.md"),
    _s("idefics2", "Idefics2ForConditionalGeneration", "Idefics2", "64 (378 px; perceiver latents, flat prior)",
       "one image, no splitting; learned queries: flat spatial prior, recorded in results",
       ["HuggingFaceM4/idefics2-8b", "HuggingFaceM4/idefics2-8b-base"], "docs/families/idefics2.md"),
    _s("idefics3", "Idefics3ForConditionalGeneration", "Idefics3", "169 (one 364-px tile, 13x13)",
       "no tile splitting; an exactly gray image is lifted off zero", ["HuggingFaceM4/Idefics3-8B-Llama3"],
       "docs/families/idefics3.md"),
    _s("smolvlm", "SmolVLMForConditionalGeneration", "SmolVLM / SmolVLM2", "64 or 81 (one tile)",
       "as Idefics3; needs layerdream[smolvlm]", ["HuggingFaceTB/SmolVLM2-2.2B-Instruct", "HuggingFaceTB/SmolVLM-Instruct"],
       "docs/families/idefics3.md"),
    _s("gemma4", "Gemma4ForConditionalGeneration", "Gemma 4", "256 (768 px, 16x16)",
       "variable resolution fixed from the checkpoint's token budget", ["google/gemma-4-E2B-it", "google/gemma-4-E4B-it"],
       "docs/families/gemma4.md"),
    _s("aya_vision", "AyaVisionForConditionalGeneration", "Aya Vision", "169 (one 364-px tile, 13x13)",
       "tiling fixed to one tile (checked with the processor's tiler)", ["CohereForAI/aya-vision-8b", "CohereForAI/aya-vision-32b"],
       "docs/families/aya_vision.md"),
    _s("vipllava", "VipLlavaForConditionalGeneration", "VipLLaVA", "576 (336 px, 24x24)",
       "LLaVA-1.5's adapter; five CLIP layers concatenated inside the model", ["llava-hf/vip-llava-7b-hf",
                                                                             "llava-hf/vip-llava-13b-hf"],
       "docs/families/vipllava.md"),
    _s("llava_next_video", "LlavaNextVideoForConditionalGeneration", "LLaVA-NeXT-Video (images)",
       "576 base + 24x25 anyres (grid 24x25)", "single images through LLaVA-NeXT's image path; the video path is unused",
       ["llava-hf/LLaVA-NeXT-Video-7B-hf", "llava-hf/LLaVA-NeXT-Video-34B-hf"], "docs/families/video_llava.md"),
    _s("video_llava", "VideoLlavaForConditionalGeneration", "Video-LLaVA (images)", "256 (224 px, 16x16)",
       "single images through the LanguageBind image tower (LLaVA-1.5's adapter); the video tower is unused",
       ["LanguageBind/Video-LLaVA-7B-hf"], "docs/families/video_llava.md"),
    _s("mistral3", "Mistral3ForConditionalGeneration", "Mistral 3 (Pixtral vision)", "256 (448 px, 16x16)",
       "native resolution fixed; [IMG_BREAK] rows outside the grid; loads without torchvision",
       ["mistralai/Mistral-Small-3.1-24B-Instruct-2503", "mistralai/Mistral-Small-3.2-24B-Instruct-2506"],
       "docs/families/mistral3.md"),
    _s("glm4v", "Glm4vForConditionalGeneration", "GLM-4.1V", "256 (448 px, 16x16)",
       "Qwen2.5-VL's adapter with GLM's smart_resize checked on load; explicit 3-D positions",
       ["zai-org/GLM-4.1V-9B-Thinking", "zai-org/GLM-4.1V-9B-Base"], "docs/families/glm4v.md"),
    _s("glm4v_moe", "Glm4vMoeForConditionalGeneration", "GLM-4.5V", "256 (448 px, 16x16)",
       "as GLM-4.1V; MoE text model", ["zai-org/GLM-4.5V"], "docs/families/glm4v.md"),
    _s("janus", "JanusForConditionalGeneration", "Janus / Janus-Pro", "576 (384 px, 24x24)",
       "the understanding path (SigLIP + aligner); the VQ path (generation only) never runs",
       ["deepseek-community/Janus-Pro-1B", "deepseek-community/Janus-Pro-7B"], "docs/families/janus.md"),
    _s("blip-2", "Blip2ForConditionalGeneration", "BLIP-2 (OPT)", "32 (224 px; Q-Former queries, flat prior)",
       "learned queries: flat spatial prior, recorded; Flan-T5 checkpoints refused (encoder-decoder)",
       ["Salesforce/blip2-opt-2.7b", "Salesforce/blip2-opt-6.7b"], "docs/families/blip2.md"),
    _s("glm46v", "Glm46VForConditionalGeneration", "GLM-4.6V", "256 (448 px, 16x16)",
       "GLM-4.1V's vision path under its own classes (the GLM-4V adapter)", ["zai-org/GLM-4.6V"],
       "docs/families/glm4v.md"),
    _s("deepseek_vl", "DeepseekVLForConditionalGeneration", "DeepSeek-VL", "576 (384 px, 24x24)",
       "SigLIP + aligner (Janus's adapter without the VQ part)", ["deepseek-community/deepseek-vl-1.3b-chat"],
       "docs/families/deepseek_vl.md"),
    _s("lighton_ocr", "LightOnOcrForConditionalGeneration", "LightOnOCR", "256 (448 px, 16x16)",
       "Pixtral ViT + merger + Qwen3: the Mistral 3 adapter", (), "docs/families/mistral3.md"),
    _s("instructblip", "InstructBlipForConditionalGeneration", "InstructBLIP (Vicuna)",
       "32 (224 px; Q-Former queries, flat prior)", "BLIP-2's adapter; the Q-Former reads the empty instruction, "
       "recorded", ["Salesforce/instructblip-vicuna-7b", "Salesforce/instructblip-vicuna-13b"], "docs/families/blip2.md"),
    _s("kosmos-2", "Kosmos2ForConditionalGeneration", "Kosmos-2", "64 (224 px; latent queries, flat prior)",
       "positions from image_embeds_position_mask; learned queries: flat prior, recorded",
       ["microsoft/kosmos-2-patch14-224"], "docs/families/kosmos2.md"),
    _s("exaone4_5", "Exaone4_5_ForConditionalGeneration", "EXAONE 4.5", "256 (448 px, 16x16)",
       "Qwen2.5-VL's pixels and tower with 1-D text positions", ["LGAI-EXAONE/EXAONE-4.5-33B"],
       "docs/families/exaone4_5.md"),
    _s("cosmos3_edge", "Cosmos3EdgeForConditionalGeneration", "Cosmos 3 Edge", "256 (512 px, 16x16)",
       "Qwen2.5-VL's adapter with its HWC patch layout; asks the processor for mm_token_type_ids", (),
       "docs/families/cosmos3_edge.md"),
    # ---------------------------------------------------------------- refused: the method does not apply
    _r("mllama", "MllamaForConditionalGeneration", "Llama 3.2 Vision",
       "reads images through cross-attention layers, so images never enter the residual stream and there are no "
       "image tokens at layer l to align", ["meta-llama/Llama-3.2-11B-Vision-Instruct"]),
    _r("gemma3n", "Gemma3nForConditionalGeneration", "Gemma 3n",
       "keeps four parallel residual streams (AltUp), so 'the layer-l residual' is ambiguous", ["google/gemma-3n-E4B-it"]),
    _r("idefics", "IdeficsForVisionText2Text", "IDEFICS (v1)",
       "Flamingo-style: images enter only through gated cross-attention blocks (perceiver latents as keys/values), "
       "never as tokens of the residual stream", ["HuggingFaceM4/idefics-9b"]),
    _r("blip", "BlipForConditionalGeneration", "BLIP",
       "the text decoder reads the ViT features only through cross-attention; no image tokens in its stream",
       ["Salesforce/blip-image-captioning-base"]),
    _r("evolla", "EvollaForProteinText2Text", "Evolla",
       "a protein-text model: protein features enter through cross-attention layers; no images at all",
       ["westlake/Evolla-10B-hf"]),
    _r("chameleon", "ChameleonForConditionalGeneration", "Chameleon",
       "images enter as discrete VQ-VAE token ids (argmin over a codebook): no gradient reaches the pixels",
       ["facebook/chameleon-7b"]),
    _r("emu3", "Emu3ForConditionalGeneration", "Emu3",
       "images enter as discrete VQ-VAE token ids: no gradient reaches the pixels", ["BAAI/Emu3-Chat-hf"]),
    _r("apertus1p5", "Apertus1p5ForConditionalGeneration", "Apertus 1.5",
       "images enter as discrete token ids from a VQGAN vision tokenizer (get_image_tokens): no gradient reaches the pixels"),
    _r("florence2", "Florence2ForConditionalGeneration", "Florence-2",
       "encoder-decoder (BART): image tokens sit in the bidirectional encoder, the text decoder reads them only by "
       "cross-attention; no decoder-only stream for layer l", ["florence-community/Florence-2-large"]),
    _r("t5gemma2", "T5Gemma2ForConditionalGeneration", "T5Gemma 2",
       "encoder-decoder: image tokens sit in the bidirectional encoder, the decoder reads them by cross-attention; "
       "no decoder-only stream for layer l", ["google/t5gemma-2-270m-270m"]),
    _r("pix2struct", "Pix2StructForConditionalGeneration", "Pix2Struct",
       "encoder-decoder (T5-style): the image lives in the encoder, the text decoder cross-attends to it",
       ["google/pix2struct-base"]),
    _r("udop", "UdopForConditionalGeneration", "UDOP",
       "encoder-decoder (T5): image patches are fused in the encoder, the text decoder cross-attends to it",
       ["microsoft/udop-large"]),
    _r("vision-encoder-decoder", "VisionEncoderDecoderModel", "Vision encoder-decoder (TrOCR, Donut, ...)",
       "a vision encoder and a text decoder joined by cross-attention; images never enter the decoder's stream",
       ["microsoft/trocr-base-handwritten"]),
    _r("pp_formulanet", "PPFormulaNetForConditionalGeneration", "PP-FormulaNet",
       "the text decoder reads the vision features through cross-attention (encoder_hidden_states); no image tokens"),
    _r("mistral4", "Mistral4ForCausalLM", "Mistral 4 (text)",
       "the class listed is a text-only causal LM (no vision tower in its config or modeling file in transformers 5.24)"),
    # ---------------------------------------------------------------- not yet: the method applies, no adapter yet
    _s("llama4", "Llama4ForConditionalGeneration", "Llama 4", "144 (one 336-px tile, 12x12)",
       "one tile fixed; MoE text model (per-token routing, recorded); the processor's bf16 pixels reproduced; "
       "torchvision image processor tested against an independent twin", ["meta-llama/Llama-4-Scout-17B-16E-Instruct",
       "meta-llama/Llama-4-Maverick-17B-128E-Instruct"], "docs/families/llama4.md"),
    _s("glmga", "Glm46VForConditionalGeneration", "GLM-GA (GLM-4.6V class)", "256 (448 px, 16x16)",
       "the GLM-4V adapter under GLM-4.6V's classes; its image processor's patch_expand_factor checked on load",
       (), "docs/families/glmga.md"),
    _r("glm5_next", "Glm5NextForConditionalGeneration", "GLM-5 Next (GLM-5.3-Flash)",
       "its text model keeps hc_mult (4 by default) parallel residual streams (mHC hyper-connections, "
       "Glm5NextTextHyperConnection) mixed by learned gates in every block and averaged only after the last (hc_head), "
       "so 'the layer-l residual' is ambiguous (the image path itself, ViT + merger, is adapter-based)",
       ["zai-org/GLM-5.3-Flash"]),
    _s("glm_ocr", "GlmOcrForConditionalGeneration", "GLM-OCR", "256 (448 px, 16x16)",
       "the GLM-4V adapter (GLM-4.6V's processor); its own tower (rotary only, q/k norms) and full-width M-RoPE",
       ["zai-org/GLM-OCR"], "docs/families/glm_ocr.md"),
    _s("lfm2_vl", "Lfm2VlForConditionalGeneration", "LFM2-VL", "256 (one 512-px tile, 16x16)",
       "one tile fixed; NaFlex patches + mask built differentiably; torchvision image processor tested against an "
       "independent twin", ["LiquidAI/LFM2-VL-450M", "LiquidAI/LFM2-VL-1.6B"], "docs/families/lfm2_vl.md"),
    _s("lfm3_vl", "Lfm3VlForConditionalGeneration", "LFM3-VL", "256 (512 px, 16x16)",
       "EXAONE 4.5's adapter: Qwen2-VL pixels (merge-window patches + image_grid_thw) into its own short-convolution "
       "ViT, 1-D text positions", ["LiquidAI/LFM3-VL-2B"], "docs/families/lfm3_vl.md"),
    _s("perception_lm", "PerceptionLMForConditionalGeneration", "PerceptionLM", "256 (448 px, 16x16)",
       "one tile fixed (the processor's vanilla mode; its default thumb+tile sends 37 tiles for a square); CLS dropped, "
       "2x2 pooling; the tower is a timm model (tests: real timm imported with test-only torchvision placeholders, "
       "real torchvision-only image processor with a torch resize/normalize stand-in)",
       ["facebook/Perception-LM-1B", "facebook/Perception-LM-3B", "facebook/Perception-LM-8B"],
       "docs/families/perception_lm.md"),
    _s("molmo2", "Molmo2ForConditionalGeneration", "Molmo2",
       "392 in two blocks (378 px: global view 14x14 + one crop 14x14); the crop block is the grid",
       "global view + one overlapping-crop canvas fixed (a square of the crop size: one crop, no option changed); crops, "
       "2x2 pooling indices and image_grids built differentiably; mm_token_type_ids for the bidirectional image block; "
       "torchvision image processor run with a torch stand-in for its resize/normalize", ["allenai/Molmo2-4B",
       "allenai/Molmo2-8B", "allenai/Molmo2-O-7B"], "docs/families/molmo2.md"),
    _s("instructblipvideo", "InstructBlipVideoForConditionalGeneration", "InstructBLIP-Video (Vicuna)",
       "128 (224 px; 4 equal frames x 32 Q-Former queries, flat prior)",
       "InstructBLIP's adapter, an image as 4 equal frames (the processor's fixed count), all 4 blocks of queries "
       "read; torchvision-only video processor tested with a torch stand-in; rules recorded", (),
       "docs/families/instructblipvideo.md"),
    _s("fuyu", "FuyuForCausalLM", "Fuyu", "256 (480 px, 16x16 patches)",
       "linear patch embedding (no vision encoder); |NEWLINE| after each row, BOS after the image; the 5.24 "
       "processor's patchify bug (numpy transpose on a torch tensor) worked around", ["adept/fuyu-8b"],
       "docs/families/fuyu.md"),
    _s("cohere2_vision", "Cohere2VisionForConditionalGeneration", "Command A Vision", "256 (one 512-px tile, 16x16)",
       "one tile (the processor's own tiler checked), line-break token left out; torchvision-only image processor "
       "tested against an independent twin", ["CohereLabs/command-a-vision-07-2025"], "docs/families/cohere2_vision.md"),
    _s("ovis2", "Ovis2ForConditionalGeneration", "Ovis2", "image_seq_length (256 by default; one image, no tiles)",
       "visual tokens = softmax over a visual vocabulary x its table (tokenize_function 'softmax'; the one-hot variants are refused)",
       ["thisisiron/Ovis2-2B-hf"], "docs/families/ovis2.md"),
    _s("deepseek_vl_hybrid", "DeepseekVLHybridForConditionalGeneration", "DeepSeek-VL (hybrid)", "576 (1024 px, 24x24)",
       "SAM on the 1024-px picture + SigLIP on it shrunk to 384 px (PIL's filter as matrices), fused per place by the aligner",
       ["deepseek-community/deepseek-vl-7b-chat"],
       "docs/families/deepseek_vl_hybrid.md"),
    _s("fast_vlm", "FastVlmForConditionalGeneration", "FastVLM", "256 (1024 px, 16x16)",
       "FastViTHD (timm, stride 64) feature map flattened + MLP; LlavaProcessor with a CLIP image processor (a square "
       "of the crop passes unchanged); tests: real timm imported with test-only torchvision placeholders",
       ["KamilaMila/FastVLM-0.5B", "KamilaMila/FastVLM-1.5B", "KamilaMila/FastVLM-7B"], "docs/families/fast_vlm.md"),
    _s("aria", "AriaForConditionalGeneration", "Aria", "256 (980 px, learned queries)",
       "learned queries cross-attend to the ViT features (flat spatial prior, recorded); MoE text model",
       ["rhymes-ai/Aria"], "docs/families/aria.md"),
    _s("got_ocr2", "GotOcr2ForConditionalGeneration", "GOT-OCR 2.0", "256 (1024 px, 16x16)",
       "SAM ViT + two stride-2 convolutions; no chat template (raw prompts: <img> + image tokens + </img>)",
       ["stepfun-ai/GOT-OCR-2.0-hf"], "docs/families/got_ocr2.md"),
    _s("pp_chart2table", "GotOcr2ForConditionalGeneration", "PP-Chart2Table", "256 (1024 px, 16x16)",
       "GOT-OCR 2.0's adapter; the chat template writes the 256 image tokens itself (fixed 'Chart to table' "
       "instruction after them)", ["PaddlePaddle/PP-Chart2Table_safetensors"], "docs/families/pp_chart2table.md"),
    _s("kosmos-2.5", "Kosmos2_5ForConditionalGeneration", "Kosmos-2.5", "2048 (1024 px, 4096 patches; latent queries, flat prior)",
       "Kosmos-2's adapter with Pix2Struct-style flattened patches (per-image standardisation, one square of "
       "max_patches); positions from image_embeds_position_mask's 1s; learned queries: flat prior, recorded",
       ["microsoft/kosmos-2.5"], "docs/families/kosmos2_5.md"),
    _s("git", "GitForCausalLM", "GIT", "196 (224 px, 14x14; git-large 16x16)",
       "one BERT-style stack over [image prefix, text]: layer l = its block l; the prefix's patch positions (the ViT "
       "CLS left out, recorded), bidirectional, never see the text; video checkpoints refused",
       ["microsoft/git-base", "microsoft/git-base-coco", "microsoft/git-large-coco"], "docs/families/git.md"),
    _s("qwen2_5_omni_thinker", "Qwen2_5OmniThinkerForConditionalGeneration", "Qwen2.5-Omni (thinker)", "256 (448 px, 16x16)",
       "Qwen2.5-VL's adapter: the thinker's vision path (the audio tower is unused by image prompts)",
       ["Qwen/Qwen2.5-Omni-7B (its thinker_config, saved as a thinker)"], "docs/families/qwen2_5_omni.md"),
    _s("qwen3_omni_moe_thinker", "Qwen3OmniMoeThinkerForConditionalGeneration", "Qwen3-Omni (thinker)", "256 (512 px, 16x16)",
       "Omni's prompt with Qwen3-VL's DeepStack rule (layer l read after the injection, recorded); MoE text model",
       ["Qwen/Qwen3-Omni-30B-A3B-Instruct (its thinker_config, saved as a thinker)"], "docs/families/qwen2_5_omni.md"),
    _s("qwen3_5", "Qwen3_5ForConditionalGeneration", "Qwen3.5", "256 (512 px, 16x16)",
       "Qwen2.5-VL's adapter (no DeepStack); hybrid linear/full-attention LM, one residual stream",
       ["Qwen/Qwen3.5-27B"], "docs/families/qwen3_5.md"),
    _s("qwen3_5_moe", "Qwen3_5MoeForConditionalGeneration", "Qwen3.5 MoE", "256 (512 px, 16x16)",
       "as Qwen3.5; MoE text model", ["Qwen/Qwen3.5-35B-A3B"], "docs/families/qwen3_5.md"),
    _r("qwen4_exp", "Qwen4ExpForConditionalGeneration", "Qwen4 (experimental)",
       "keeps hc_count (>1, 4 by default) parallel residual streams (hyper-connections) mixed by learned gates in every "
       "block and merged only after the last, so 'the layer-l residual' is ambiguous"),
    _s("cosmos3_omni", "Cosmos3OmniForConditionalGeneration", "Cosmos 3 Omni", "256 (512 px, 16x16)",
       "Qwen3-VL's architecture under its own type: Qwen3-VL's adapter, layer l read after DeepStack's injection",
       ["nvidia/Cosmos3-Nano"], "docs/families/cosmos3_omni.md"),
    _s("cohere_compass", "CohereCompassForConditionalGeneration", "Cohere Compass", "256 (512 px, 16x16)",
       "Qwen3-VL's tower, processor and DeepStack before a Cohere2-style decoder: Qwen3-VL's adapter, layer l read "
       "after the injection", ["CohereLabs/North-Micro-Vision-Instruct"], "docs/families/cohere_compass.md"),
    _s("granite4_vision", "Granite4VisionForConditionalGeneration", "Granite 4 Vision",
       "g'^2 base + g' x (g'+1) anyres (g' = S/patch x downsample_rate; grid g' x (g'+1))",
       "LLaVA-NeXT's anyres square; image embeddings zeroed, every feature injected before a chosen block: layer l "
       "read after all injections up to block l+1, recorded", (), "docs/families/granite4_vision.md"),
    _s("granite_docling", "GraniteDoclingForConditionalGeneration", "Granite-Docling", "64 (512 px, 8x8)",
       "one tile; layer l read after DeepStack's injection, recorded in each result", (), "docs/families/granite_docling.md"),
    _s("deepseek_ocr2", "DeepseekOcr2ForConditionalGeneration", "DeepSeek-OCR 2",
       "256 (768 px, the processor's 1024-px global view; learned queries, flat prior)",
       "SAM + a Qwen2-style encoder's causal-flow queries (flat prior, recorded); view separator left out; "
       "MoE text model (routing rule recorded); no chat template (raw prompts)",
       ["deepseek-community/DeepSeek-OCR-2"], "docs/families/deepseek_ocr2.md"),
    _s("unlimited_ocr", "UnlimitedOcrForConditionalGeneration", "Unlimited-OCR",
       "256 (640 px, the processor's 1024-px global view; 16x16)",
       "SAM + CLIP on SAM's maps; row newlines and the view separator left out; MoE text model (routing rule "
       "recorded); image processor torchvision-only in 5.24 (tested against a twin); no chat template (raw prompts)",
       ["baidu/Unlimited-OCR"], "docs/families/unlimited_ocr.md"),
    _s("dots3_note", "Dots3NoteForConditionalGeneration", "dots3.note", "256 (448 px, 16x16)",
       "EXAONE 4.5's adapter: Qwen2-VL pixels (temporal patch 1), 1-D positions; MoE ViT and LM, DSA top-k keys: "
       "the routing rule recorded in each result", ["dots-studio/dots3-note-prev"], "docs/families/dots3_note.md"),
    _s("ernie4_5_vl_moe", "Ernie4_5_VLMoeForConditionalGeneration", "ERNIE 4.5-VL", "256 (448 px, 16x16)",
       "Qwen2.5-VL's adapter; image forwards carry moe_mm_token_type_ids (modality-routed experts)",
       ["baidu/ERNIE-4.5-VL-28B-A3B-PT"], "docs/families/ernie4_5_vl.md"),
    _s("gemma4_unified", "Gemma4UnifiedForConditionalGeneration", "Gemma 4 Unified", "256 (768 px, 16x16)",
       "Gemma 4's adapter, encoder-free: merged 48-px pixel patches + their (x, y) positions into a linear patch "
       "embedding; mm_token_type_ids for the bidirectional image block; torchvision-only image processor tested "
       "against an independent twin", (), "docs/families/gemma4_unified.md"),
    _n("diffusion_gemma", "DiffusionGemmaForBlockDiffusion", "DiffusionGemma",
       "image tokens sit in the auto-regressive encoder (a Gemma 4 stack), which hands only its KV cache to a block-"
       "diffusion decoder: layer l would be the encoder's stream; needs its own forward path"),
    _s("hunyuan_vl", "HunYuanVLForConditionalGeneration", "HunYuan-VL", "272 + 2 (512 px, 16x17 with newlines)",
       "Qwen2.5-VL's adapter; row-major patches; the merger's newline column read, begin/end tokens left out",
       ["tencent/HunyuanOCR"], "docs/families/hunyuan_vl.md"),
    _r("hy_v4_vl", "HYV4VLForConditionalGeneration", "HY-V4-VL",
       "its HY-V4 text model keeps hc_mult (4 by default) parallel residual streams (hyper-connections, "
       "HYV4HyperConnection) mixed by learned gates in every block and collapsed only after the last (hc_head), so "
       "'the layer-l residual' is ambiguous (the image path itself, ViT + merger with newline tokens, is adapter-based)",
       ["tencent/Hy4"]),
    _s("hyperclovax_vision_v2", "HyperCLOVAXVisionV2ForConditionalGeneration", "HyperCLOVA X SEED Vision",
       "256 (448 px, 16x16)", "EXAONE 4.5's adapter: Qwen2.5-VL's tower (built by AutoModel) + one linear projector, "
       "1-D text positions", ["naver-hyperclovax/HyperCLOVAX-SEED-Think-32B"], "docs/families/hyperclovax_vision_v2.md"),
    _n("inkling2", "Inkling2ForConditionalGeneration", "Inkling 2",
       f"{_ADAPTER} (ViT + merger; MoE), but no single residual stream: block attention residuals (each layer reads a "
       "learned attention over a growing stack of block states, three queries for full-attention layers, and a block-"
       "boundary layer's output restarts the running sum), so layer l needs a stated rule, e.g. the final_input readout "
       "of the stack after block l", ["thinkingmachines/Inkling-2-Small-MXFP8"]),
    _n("inkling2_loop", "Inkling2LoopForConditionalGeneration", "Inkling 2 Loop",
       f"{_ADAPTER}, but a block of decoder layers runs several passes: 'layer l' needs a rule over the unrolled passes"),
    _s("inkling_mm_model", "InklingForConditionalGeneration", "Inkling", "272 (640 px, 16x17)",
       "encoder-free per-patch MLP (one token per 40-px patch); native resolution fixed to 16x16 patches plus the "
       "processor's all-padding column; torchvision-only image processor tested against an independent twin",
       ["thinkingmachines/Inkling"], "docs/families/inkling.md"),
    _s("minicpm_ocr", "MiniCPMOcrForConditionalGeneration", "MiniCPM-OCR", "256 (448 px, 16x16)",
       "MiniCPM-V 4.6's adapter in 4x mode (no window merger); small_image_upsize other than 'always' refused; "
       "torchvision-only image processor tested against transformers' PIL 4.6 class at the OCR defaults",
       ["openbmb/MiniCPM-OCR-1.0"], "docs/families/minicpmv.md"),
    _s("minicpmv4_6", "MiniCPMV4_6ForConditionalGeneration", "MiniCPM-V 4.6", "64 (448 px, 8x8)",
       "slicing fixed to one view (a square at scale_resolution, the processor's defaults); NaViT patch strip packed "
       "per batch; window merger + 2x2 merger (16x); Qwen3.5 hybrid text model",
       ["openbmb/MiniCPM-V-4.6", "openbmb/MiniCPM-V-4.6-Thinking"], "docs/families/minicpmv.md"),
    _s("minicpmv4_7", "MiniCPMV4_7ForConditionalGeneration", "MiniCPM-V 4.7", "64 (448 px, 8x8)",
       "MiniCPM-V 4.6's adapter plus canvas M-RoPE: 3-D positions from the model's get_rope_index passed explicitly "
       "(rope_deltas never read)", ["openbmb/MiniCPM-V-4.7-1B"], "docs/families/minicpmv.md"),
    _s("kimi_k25", "Kimi_K25ForConditionalGeneration", "Kimi K2.5 / K2.6", "256 (448 px, 16x16)",
       "native resolution fixed (neither resized nor padded); raster patches, 2x2 window pooling; DeepSeek-V3 MoE text "
       "model (per-token routing, recorded); torchvision image processor tested against an independent twin",
       ["moonshotai/Kimi-K2.6", "moonshotai/Kimi-K2.5"], "docs/families/kimi_k25.md"),
    _s("minimax_m3_vl", "MiniMaxM3SparseForConditionalGeneration", "MiniMax-M3-VL", "256 (448 px, 16x16)",
       "EXAONE 4.5's adapter (Qwen2-VL's pixels, 1-D positions); the processor's start/end image markers outside the "
       "grid; sparse MoE text model (per-token routing, recorded)", ["MiniMaxAI/MiniMax-M3"],
       "docs/families/minimax_m3_vl.md"),
    _s("mistral_large4", "MistralLarge4ForConditionalGeneration", "Mistral Large 4", "256 (448 px, 16x16)",
       "Mistral 3's adapter (Pixtral ViT + merger, [IMG_BREAK] rows); MoE text model with DSA attention (per-token "
       "routing, recorded)", ["mistralai/Mistral-Large-4-1T-A52B"], "docs/families/mistral_large4.md"),
    _s("muse_glimmer", "MuseGlimmerForConditionalGeneration", "Muse Glimmer", "256 (448 px, 16x16)",
       "native resolution fixed to a square; raster-order (temporal, channel) patches + image_grid_thw; 1-D text "
       "positions; torchvision-only image processor tested against an independent twin", ["meta-models/Muse-Glimmer-30B"],
       "docs/families/muse_glimmer.md"),
    _s("muse_spark", "MuseSparkForConditionalGeneration", "Muse Spark", "256 (448 px, 16x16)",
       "Muse Glimmer's adapter (audio tower never runs on an image prompt); MoE text model: per-token sigmoid top-k "
       "routing, recorded", ["meta-models/Muse-Spark-Open-816B-A42B"], "docs/families/muse_spark.md"),
    _s("nemotron_h_omni", "NemotronH_Omni_Reasoning_V3", "Nemotron-H Omni", "256 (512 px, 16x16)",
       "RADIO + pixel shuffle into a hybrid Mamba-2/attention/MoE LM (one residual stream; early exit checked at every "
       "block kind); native resolution fixed; no .model: own backbone", ["nvidia/Nemotron-3-Nano-Omni-30B-A3B-Reasoning-BF16"],
       "docs/families/nemotron_h_omni.md"),
    _s("paddleocr_vl", "PaddleOCRVLForConditionalGeneration", "PaddleOCR-VL", "256 (448 px, 16x16)",
       "Qwen2.5-VL's adapter with row-major (3, p, p) patches that the projector folds 2x2 itself",
       ["PaddlePaddle/PaddleOCR-VL"], "docs/families/paddleocr_vl.md"),
    _s("qianfan_ocr", "QianfanOCRForConditionalGeneration", "Qianfan-OCR", "256 (one 448-px tile, 16x16)",
       "InternVL's adapter (InternViT + pixel shuffle + MLP, one tile); the template's <image> placeholder expanded by the processor",
       ["baidu/Qianfan-OCR"], "docs/families/qianfan_ocr.md"),
    _s("step3p7", "Step3p7ForConditionalGeneration", "Step 3.7", "169 (728 px, 13x13)",
       "the global view alone (a square at its size gets no local crops, checked with the processor's planner); conv "
       "downsampler; MoE text model (per-token routing, recorded); torchvision image processor tested against a twin",
       ["stepfun-ai/Step-3.7-Flash"], "docs/families/step3p7.md"),
    _s("video_llama_3", "VideoLlama3ForConditionalGeneration", "VideoLLaMA 3", "256 (224 px, 16x16)",
       "single images: Qwen2.5-VL's pixels at merge 1 with image_merge_sizes, 1-D positions",
       ["lkhl/VideoLLaMA3-2B-Image-HF"], "docs/families/video_llama_3.md"),
    _n("pi0", "PI0ForConditionalGeneration", "pi0 (robot policy)",
       "layer l is clear: the PaliGemma prefix stream (images scattered at <image> tokens, bidirectional over image + "
       "text, positions from 0), run first; the Gemma action expert attends to its per-layer KV cache and never changes its states. "
       "The adapter needs: the engine's text config from the adapter (PI0Config.get_text_config() is the PI0Config "
       "itself: two text stacks; models/vlm.py and synthesis/memory.py read it), PI0Model.embed_prefix + the vlm's "
       "forward with zero token_type_ids as the backbone, one camera of pixel_attention_mask, and a stand-in for the "
       "torchvision-only PI0ImageProcessor (224-px box, pad to 224); no transformers-format checkpoint is published "
       "(the processor's source: the lerobot model is not converted yet)"),
    # new in transformers 5.25.0 (met by CI on a fresh install; classified from their modeling files, not yet built)
    _n("llava_onevision1_5", "LlavaOnevision15ForConditionalGeneration", "LLaVA-OneVision-1.5",
       f"{_ADAPTER}: a native-resolution ViT (2-D RoPE, class embedding) with a 2x2 patch merger into a Qwen3 text "
       "model with 1-D positions, images through EXAONE 4.5's processor class; close to the supported EXAONE 4.5 / "
       "Qwen2-VL pixels, so a subclass adapter should fit",
       ["Deep-VLM/LLaVA-OneVision-1.5-4B-Instruct-hf"]),
    _n("ovis2_5", "Ovis2_5ForConditionalGeneration", "Ovis2.5",
       f"{_ADAPTER} as the supported Ovis2 (visual tokens = softmax over a visual vocabulary times an embedding "
       "table, differentiable), with a native-resolution tower (2-D RoPE, windowed attention, interpolated position "
       "embeddings): the adapter needs a fixed-geometry pixel path for that tower",
       ["ovis-community/Ovis2.5-2B"]),
    _n("pi05", "PI05ForConditionalGeneration", "pi0.5 (robot policy)",
       "as pi0: layer l is the PaliGemma prefix stream (PI05Model.vlm), which the action expert (adaptive RMSNorm, "
       "time-conditioned) only reads; the same adapter work as pi0 is needed"),
]

CATALOG: dict[str, Entry] = {entry.model_type: entry for entry in _ENTRIES}
assert len(CATALOG) == len(_ENTRIES), "a model type is listed twice"


def installed_mapping() -> dict[str, str]:
    """``model_type -> class name`` of the installed transformers' image-text-to-text mapping."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return dict(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)


def modeling_file(model_type: str) -> str:
    """Where transformers keeps a type's modeling code (what to read to classify it)."""
    module = model_type.replace("-", "_")
    try:
        from transformers.models.auto.configuration_auto import model_type_to_module_name

        module = model_type_to_module_name(model_type)
    except ImportError:  # pragma: no cover - transformers without the helper
        pass
    return f"transformers/models/{module}/modeling_{module}.py"


def unclassified(mapping: dict[str, str] | None = None) -> list[str]:
    """Types of the installed transformers' mapping that this table does not classify."""
    mapping = installed_mapping() if mapping is None else mapping
    return sorted(t for t in mapping if t not in CATALOG)


def refusal(model_type: str) -> str | None:
    entry = CATALOG.get(model_type)
    return entry.note if entry and entry.status == REFUSED else None


def unsupported_message(model_type: str, supported: list[str] | tuple[str, ...] = ()) -> str:
    """The one-line error for a type without an adapter: refused (why), not yet (what it needs), or
    unknown (which modeling file to read, the supported types, and the guide)."""
    entry = CATALOG.get(model_type)
    if entry and entry.status == REFUSED:
        return (f"{model_type!r} ({entry.family}) is not an adapter-based VLM: {entry.note}; "
                "layerdream's method does not apply")
    if entry and entry.status == NOT_YET:
        return (f"model type {model_type!r} ({entry.family}) is not supported yet: the method applies ({entry.note}), "
                "but its adapter is not written; adding it is one small file: docs/adding-a-model.md "
                "(`layerdream families` lists every type)")
    listed = f"supported families: {', '.join(supported)}; " if supported else ""
    return (f"model type {model_type!r} is not supported yet and not classified; {listed}to add it, read "
            f"{modeling_file(model_type)} to see how images reach the decoder, then docs/adding-a-model.md "
            "(`layerdream families` lists every type)")


def rows(mapping: dict[str, str] | None = None) -> list[dict]:
    """One row per type of the installed mapping (plus classified types it lacks), for ``families``."""
    mapping = installed_mapping() if mapping is None else mapping
    out = []
    for model_type in sorted(set(mapping) | {t for t, e in CATALOG.items() if e.status == SUPPORTED}):
        entry = CATALOG.get(model_type)
        out.append({
            "model_type": model_type,
            "status": entry.status if entry else UNCLASSIFIED,
            "family": entry.family if entry else "",
            "class": mapping.get(model_type, entry.cls if entry else ""),
            "image_tokens": entry.image_tokens if entry else "",
            "examples": ", ".join(entry.examples) if entry else "",
            "note": entry.note if entry else f"read {modeling_file(model_type)}; docs/adding-a-model.md",
            "in_transformers": model_type in mapping,
        })
    return out


def counts(mapping: dict[str, str] | None = None) -> dict[str, int]:
    tally = {SUPPORTED: 0, REFUSED: 0, NOT_YET: 0, UNCLASSIFIED: 0}
    for row in rows(mapping):
        if row["in_transformers"]:
            tally[row["status"]] += 1
    return tally


__all__ = ["CATALOG", "Entry", "SUPPORTED", "REFUSED", "NOT_YET", "UNCLASSIFIED", "rows", "counts", "unclassified",
           "unsupported_message", "refusal", "modeling_file", "installed_mapping"]


# -- presentation (the CLI table and README's generated section read the same rows) -------------------
README_BEGIN = "<!-- families table: generated by scripts/families_table.py from src/layerdream/models/catalog.py -->"
README_END = "<!-- end of families table -->"


def _ids(entry: Entry) -> str:
    return ", ".join(f"`{x}`" for x in entry.examples) or "—"


def markdown() -> str:
    """README's families section: supported types, then not-yet ones, then refusals (from the table only,
    so it does not change with the transformers that happens to be installed)."""
    by = lambda status: sorted((e for e in CATALOG.values() if e.status == status), key=lambda e: e.model_type)  # noqa: E731
    supported, not_yet, refused = by(SUPPORTED), by(NOT_YET), by(REFUSED)
    lines = [README_BEGIN, "",
             f"Classified against transformers {CLASSIFIED_AGAINST}: {len(supported)} model types supported, "
             f"{len(not_yet)} not yet supported (the method applies; adapter not written), {len(refused)} refused "
             "(the method does not apply). `layerdream families` lists them for the installed transformers.", "",
             "| family | `model_type` | class | checkpoint ids | image tokens | notes |", "|---|---|---|---|---|---|"]
    for e in supported:
        doc = f"; [docs]({e.doc})" if e.doc else ""
        lines.append(f"| {e.family} | `{e.model_type}` | `{e.cls}` | {_ids(e)} | {e.image_tokens} | {e.note}{doc} |")
    lines += ["", "<details><summary>Not yet supported (the method applies; each needs its adapter)</summary>", "",
              "| family | `model_type` | class | what the adapter must handle |", "|---|---|---|---|"]
    lines += [f"| {e.family} | `{e.model_type}` | `{e.cls}` | {e.note} |" for e in not_yet]
    lines += ["", "</details>", "", "Refused, with the reason users get:", "", "| family | `model_type` | why the method does not apply |",
              "|---|---|---|"]
    lines += [f"| {e.family} | `{e.model_type}` | {e.note} |" for e in refused]
    lines += ["", README_END]
    return "\n".join(lines)


def render_text(table: list[dict]) -> str:
    """Plain-text table for ``layerdream families``: type, status, class, image tokens, then the checkpoint
    ids of a supported type or the note of any other (a refusal's reason, what a missing adapter needs)."""
    header = ("model_type", "status", "class", "image_tokens", "examples / why")
    cells = [header] + [(row["model_type"], row["status"], row["class"], row["image_tokens"],
                         row["examples"] if row["status"] == SUPPORTED else row["note"]) for row in table]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header) - 1)]
    return "\n".join(("  ".join(v.ljust(w) for v, w in zip(c[:-1], widths)) + "  " + c[-1]).rstrip() for c in cells)
