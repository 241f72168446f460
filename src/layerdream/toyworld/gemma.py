"""Toy VLMs on a real language model: the toy world's SigLIP tower + Gemma 3's projector + the real
Gemma 3 270M, frozen (``toy-gemma``, ``toy-gemma-aligned``) or co-trained through LoRA adapters
(``toy-gemma-cotrained``, whose folder adds ``lora.safetensors``: merged into the 270M at load time).

Why: the small toy LMs are trained from scratch, so ``toy-plain``'s missing alignment may say more
about a 4-layer LM than about the paper's claim. The 270M is the one real pre-trained Gemma 3 we can
reach offline (extra ``realmodel``), with the real 262k tokenizer and real word semantics.

What ships is only what training changed: the tower and the projector (``model.safetensors``, about
1 MB), the full ``Gemma3Config``, the image processor's settings and ``toyworld.json``. The language
model and the tokenizer come from the ``realmodel`` package when the model loads, so the package
stays small and the LM is bit-for-bit the one every ``realmodel`` test uses. Loading such a folder is
the model zoo's job (``models/reference_vlm.py``, re-exported here); this module adds what training
needs: the toy world's processor, the tower's weights from a toy checkpoint, and writing a folder.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import UserError
from ..models.reference_vlm import (BOI, EOI, IMAGE_TOKEN, MARKER, assemble, config,  # noqa: F401  (re-exported)
                                    is_reference_lm_folder, load_folder)
from . import GEMMA_TOY_MODELS  # noqa: F401  (re-exported: the names this module serves)

is_gemma_toy = is_reference_lm_folder  # the toy world's name for it


def processor(tokens_per_image: int = 16):
    """The ``Gemma3Processor`` of the toy-gemma models: the real tokenizer, 64 px toy-world images
    (raw prompt format, no chat template: :func:`layerdream.models.reference_vlm.processor`)."""
    from ..models.reference_vlm import processor as build
    from . import world

    return build(world.IMAGE_SIZE, tokens_per_image)


def tower_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The vision tower's weights from a toy checkpoint or stage file, keyed as in the model's state dict
    (``save_pretrained`` writes ``vision_tower.*``, an in-memory state dict has ``model.vision_tower.*``)."""
    from safetensors.torch import load_file

    out = {}
    for k, v in load_file(str(path)).items():
        k = "model." + k if k.startswith("vision_tower.") else k
        if k.startswith("model.vision_tower."):
            out[k] = v
    if not out:
        raise UserError(f"{path} holds no vision tower weights; pass a toy checkpoint's model.safetensors")
    return out


def small_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Tower and projector of a toy-gemma folder's ``model.safetensors``, keyed as in the model (the start
    of toy-gemma-cotrained, LLaVA's stage 2 continuing from stage 1)."""
    from safetensors.torch import load_file

    out = {k if k.startswith("model.") else "model." + k: v for k, v in load_file(str(path)).items()}
    if not any(k.startswith("model.multi_modal_projector.") for k in out):
        raise UserError(f"{path} holds no projector; pass a toy-gemma folder's model.safetensors")
    return out


def small_state(model) -> dict[str, torch.Tensor]:
    """The trained part only: vision tower and projector (what a toy-gemma folder ships)."""
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()
            if k.startswith(("model.vision_tower.", "model.multi_modal_projector."))}


def save(folder: Path, model, proc, info: dict) -> None:
    """Write a toy-gemma folder atomically: config, small weights, processor settings, toyworld.json."""
    import os
    import shutil

    from safetensors.torch import save_file

    folder = Path(folder)
    tmp = folder.parent / f".{folder.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.config.save_pretrained(tmp)
    save_file(small_state(model), str(tmp / "model.safetensors"), metadata={"format": "pt"})
    from ..models.reference_vlm import LORA_FILE
    from .gemma_lora import lora_state

    factors = lora_state(model)
    if factors:  # toy-gemma-cotrained: the LM's adapters, merged into the 270M at load time
        if "lora" not in info:
            raise ValueError("a model with LoRA adapters needs info['lora'] (rank, alpha, scale, blocks)")
        save_file(factors, str(tmp / LORA_FILE), metadata={"format": "pt", "scale": str(info["lora"]["scale"])})
    proc.image_processor.save_pretrained(tmp)
    (tmp / "toyworld.json").write_text(json.dumps({**info, "language_model": MARKER}, indent=2, default=str) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
