"""Which adapter serves which ``config.model_type``, what the toy names mean, and :func:`load`."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..checks import describe
from ..errors import UserError
from . import hub, shipped
from .adapter import FamilyAdapter, TextOnlyAdapter
from .catalog import CATALOG, REFUSED, unsupported_message
from .vlm import VLM

# config.model_type -> "module:Class" under layerdream.models, imported only when that family loads
# (so a new family is one file plus one line here, and `layerdream --help` imports none of them).
ADAPTERS: dict[str, str] = {
    "gemma3": "gemma3:Gemma3Adapter",
    "shieldgemma2": "gemma3:Gemma3Adapter",
    "internvl": "internvl:InternVLAdapter",
    "llava": "llava:LlavaAdapter",
    "vipllava": "vipllava:VipLlavaAdapter",
    "video_llava": "video_llava:VideoLlavaAdapter",
    "llava_next": "llava_next:LlavaNextAdapter",
    "granite4_vision": "granite4_vision:Granite4VisionAdapter",
    "llava_next_video": "llava_next_video:LlavaNextVideoAdapter",
    "llava_onevision": "llava_onevision:LlavaOnevisionAdapter",
    "qwen2_vl": "qwen2_vl:Qwen2VLAdapter",
    "exaone4_5": "exaone4_5:Exaone4_5Adapter",
    "dots3_note": "dots3_note:Dots3NoteAdapter",
    "cosmos3_edge": "cosmos3_edge:Cosmos3EdgeAdapter",
    "qwen2_5_vl": "qwen2_5_vl:Qwen2_5_VLAdapter",
    "qwen3_vl": "qwen3_vl:Qwen3VLAdapter",
    "qwen3_vl_moe": "qwen3_vl:Qwen3VLAdapter",
    "cosmos3_omni": "qwen3_vl:Qwen3VLAdapter",
    "cohere_compass": "qwen3_vl:Qwen3VLAdapter",
    "qwen3_5": "qwen3_5:Qwen3_5Adapter",
    "qwen3_5_moe": "qwen3_5:Qwen3_5Adapter",
    "qwen2_5_omni_thinker": "qwen2_5_omni:Qwen2_5OmniThinkerAdapter",
    "qwen3_omni_moe_thinker": "qwen2_5_omni:Qwen3OmniMoeThinkerAdapter",
    "got_ocr2": "got_ocr2:GotOcr2Adapter",
    "pp_chart2table": "pp_chart2table:PPChart2TableAdapter",
    "granite_docling": "granite_docling:GraniteDoclingAdapter",
    "paddleocr_vl": "paddleocr_vl:PaddleOCRVLAdapter",
    "video_llama_3": "video_llama_3:VideoLlama3Adapter",
    "hunyuan_vl": "hunyuan_vl:HunYuanVLAdapter",
    "ernie4_5_vl_moe": "ernie4_5_vl:Ernie4_5_VLAdapter",
    "aria": "aria:AriaAdapter",
    "ovis2": "ovis2:Ovis2Adapter",
    "paligemma": "paligemma:PaliGemmaAdapter",
    "idefics2": "idefics2:Idefics2Adapter",
    "idefics3": "idefics3:Idefics3Adapter",
    "smolvlm": "idefics3:Idefics3Adapter",
    "gemma4": "gemma4:Gemma4Adapter",
    "mistral3": "mistral3:Mistral3Adapter",
    "lighton_ocr": "mistral3:Mistral3Adapter",
    "janus": "janus:JanusAdapter",
    "deepseek_vl": "deepseek_vl:DeepseekVLAdapter",
    "deepseek_vl_hybrid": "deepseek_vl_hybrid:DeepseekVLHybridAdapter",
    "deepseek_ocr2": "deepseek_ocr2:DeepseekOcr2Adapter",
    "unlimited_ocr": "unlimited_ocr:UnlimitedOcrAdapter",
    "blip-2": "blip2:Blip2Adapter",
    "instructblip": "instructblip:InstructBlipAdapter",
    "instructblipvideo": "instructblipvideo:InstructBlipVideoAdapter",
    "kosmos-2": "kosmos2:Kosmos2Adapter",
    "kosmos-2.5": "kosmos2_5:Kosmos2_5Adapter",
    "git": "git:GitAdapter",
    "glm4v": "glm4v:Glm4vAdapter",
    "glm4v_moe": "glm4v:Glm4vAdapter",
    "glm46v": "glm4v:Glm4vAdapter",
    "glmga": "glmga:GlmgaAdapter",
    "glm_ocr": "glm_ocr:GlmOcrAdapter",
    "aya_vision": "aya_vision:AyaVisionAdapter",
    "llama4": "llama4:Llama4Adapter",
    "lfm2_vl": "lfm2_vl:Lfm2VlAdapter",
    "fuyu": "fuyu:FuyuAdapter",
    "inkling_mm_model": "inkling:InklingAdapter",
    "nemotron_h_omni": "nemotron_h_omni:NemotronHOmniAdapter",
    "lfm3_vl": "lfm3_vl:Lfm3VlAdapter",
    "qianfan_ocr": "qianfan_ocr:QianfanOCRAdapter",
    "hyperclovax_vision_v2": "hyperclovax_vision_v2:HyperCLOVAXVisionV2Adapter",
    "cohere2_vision": "cohere2_vision:Cohere2VisionAdapter",
    "gemma4_unified": "gemma4_unified:Gemma4UnifiedAdapter",
    "mistral_large4": "mistral_large4:MistralLarge4Adapter",
    "muse_glimmer": "muse_glimmer:MuseGlimmerAdapter",
    "molmo2": "molmo2:Molmo2Adapter",
    "perception_lm": "perception_lm:PerceptionLMAdapter",
    "fast_vlm": "fast_vlm:FastVlmAdapter",
    "minicpmv4_6": "minicpmv:MiniCPMVAdapter",
    "minicpmv4_7": "minicpmv:MiniCPMV4_7Adapter",
    "minicpm_ocr": "minicpmv:MiniCPMVAdapter",
    "kimi_k25": "kimi_k25:KimiK25Adapter",
    "muse_spark": "muse_spark:MuseSparkAdapter",
    "minimax_m3_vl": "minimax_m3_vl:MiniMaxM3VLAdapter",
    "step3p7": "step3p7:Step3p7Adapter",
}
TEXT_ONLY = {"gemma3_text"}  # concept vectors only
# Families that are not adapter-based (the method does not apply), with the reason: models/catalog.py
NOT_ADAPTER_BASED = {t: e.note for t, e in CATALOG.items() if e.status == REFUSED}
# The shipped names (data/shipped_models.json, models/shipped.py). GEMMA_TOY_MODELS: toy VLMs on the real
# Gemma 3 270M; their folder ships the tower and projector, the LM comes from the realmodel extra at load
# time (models/reference_vlm.py)
TOY_ROOT = shipped.ROOT
GEMMA_TOY_MODELS = shipped.REFERENCE_LM_NAMES
TOY_MODELS = tuple(n for n in shipped.NAMES if n not in GEMMA_TOY_MODELS)
ALL_TOY_MODELS = TOY_MODELS + GEMMA_TOY_MODELS
DEFAULT_MODEL = "toy-aligned"


def resolve(name_or_path: str, gguf_file: str | None = None) -> tuple[str, bool]:
    """(location, is_local) for a hub id, a local folder, or a shipped toy name."""
    if name_or_path in ALL_TOY_MODELS:
        folder = shipped.folder(name_or_path)
        if not (folder / "config.json").exists():
            raise UserError(
                f"the toy model {name_or_path!r} is not in this installation ({folder}); "
                f"rebuild it with `{shipped.rebuild_command(name_or_path)}` and pass --model DIR/{name_or_path}"
            )
        return str(folder), True
    if name_or_path.startswith("toy-") and not os.path.exists(name_or_path):
        raise UserError(f"unknown toy model {name_or_path!r}; choose one of {', '.join(ALL_TOY_MODELS)}")
    if os.path.isdir(name_or_path):
        if not gguf_file and not os.path.exists(os.path.join(name_or_path, "config.json")):
            raise UserError(f"{name_or_path!r} is a folder but holds no config.json; point --model at a saved checkpoint folder")
        return name_or_path, True
    if os.path.isfile(name_or_path):
        raise UserError(f"--model {name_or_path!r} is a file; pass the checkpoint folder that holds config.json "
                        "(or a .gguf file)")
    if _looks_local(name_or_path):  # fail now, not after half a minute of hub retries
        raise UserError(f"model folder {name_or_path!r} does not exist; check the path")
    return name_or_path, False


def _looks_local(name: str) -> bool:
    """A path, not a hub id ("org/name"): starts like a path, has more than one '/', ends like a weights
    file, or its first part is a folder here (``models/gemma`` with a local ``models/``)."""
    if name.startswith((".", "/", "~")) or name.endswith(_WEIGHT_SUFFIXES) or name.count("/") > 1:
        return True
    return name.count("/") == 1 and os.path.isdir(name.split("/", 1)[0])


_WEIGHT_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".pth", ".ckpt")


def _is_gemma_toy(folder: str) -> bool:
    if not os.path.isfile(os.path.join(folder, "toyworld.json")):
        return False
    from .reference_vlm import is_reference_lm_folder

    return is_reference_lm_folder(folder)


def adapter_for(model_type: str) -> type:
    if model_type in ADAPTERS:
        import importlib

        module, _, name = ADAPTERS[model_type].partition(":")
        return getattr(importlib.import_module(f"{__package__}.{module}"), name)
    if model_type in TEXT_ONLY:
        return TextOnlyAdapter
    # refused (the reason), applicable but not written yet, or unknown to this release (what to read)
    raise UserError(unsupported_message(model_type, sorted(ADAPTERS)))


def pick_device(device: str | None) -> torch.device:
    if device:
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise UserError(f"unknown device {device!r}; use cpu, cuda, cuda:N or mps") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"device {device!r} asked for but CUDA is not available; use --device cpu")
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load(model: str = DEFAULT_MODEL, *, device: str | None = None, dtype: str | torch.dtype | None = None,
         gguf_file: str | None = None) -> VLM:
    """Load a VLM by hub id, local folder or toy name: frozen, eval mode, ready for the engine."""
    if not isinstance(model, (str, os.PathLike)) or not os.fspath(model).strip():
        raise UserError(f"load: model must be a toy name, a hub id or a checkpoint folder (str or Path), got "
                        f"{describe(model) if model != '' else 'an empty string'}; e.g. ld.load({DEFAULT_MODEL!r})")
    model = os.fspath(model)
    if model.endswith(".gguf") and os.path.isfile(model):  # --model path/to/file.gguf
        gguf_file = os.path.basename(model)
        model_dir = os.path.dirname(os.path.abspath(model))
    else:
        model_dir = model
    location, local = resolve(model_dir, gguf_file)
    # a hub id without a network: one line in about a second (or the cached copy), not ~30 s of retries
    from_cache = not local and hub.cache_only(location, gguf_file, ALL_TOY_MODELS)

    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from .processors import load_processor  # AutoProcessor, minus the torchvision-only video slot

    dev = pick_device(device)
    torch_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if torch_dtype is None:
        torch_dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    import logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # "Loading weights" bars would break the one-line error contract
    hub_logger = logging.getLogger("huggingface_hub")
    hub_level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)  # one line for an unreachable hub, not a screen of retries
    hub_state = hub.go_offline(from_cache)
    try:
        config = AutoConfig.from_pretrained(location, **kwargs)
        adapter_cls = adapter_for(config.model_type)
        if local and _is_gemma_toy(location):  # weights of the LM are not in the folder
            from .reference_vlm import load_folder

            net, processor = load_folder(location, dtype=torch_dtype)
        elif adapter_cls is TextOnlyAdapter:
            net = AutoModelForCausalLM.from_pretrained(location, dtype=torch_dtype, **kwargs)
            processor = AutoTokenizer.from_pretrained(location, **kwargs)
        else:
            net = AutoModelForImageTextToText.from_pretrained(location, dtype=torch_dtype, **kwargs)
            processor = load_processor(location, **kwargs)
    except UserError:
        raise
    except ImportError as err:  # a family's processor needs an optional package (SmolVLM: num2words)
        raise UserError(f"cannot load model {model!r}: {str(err).splitlines()[0][:200]}; install what it names "
                        "(for SmolVLM: pip install 'layerdream[smolvlm]')") from None
    except (OSError, ValueError) as err:
        where = "local folder" if local else "hub id"
        raise UserError(
            f"cannot load model {model!r} ({where}): {str(err).splitlines()[0][:200]}; hub ids need network "
            f"access, otherwise pass a local checkpoint folder or a toy model ({', '.join(ALL_TOY_MODELS)})"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
        hub_logger.setLevel(hub_level)
        hub.restore(hub_state)
    net.requires_grad_(False).eval().to(dev)
    return VLM(net, processor, adapter_cls(net, processor), name=model, path=location if local else None)


__all__ = ["load", "resolve", "adapter_for", "ADAPTERS", "TOY_MODELS", "GEMMA_TOY_MODELS", "DEFAULT_MODEL", "FamilyAdapter"]
