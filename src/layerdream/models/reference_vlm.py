"""VLM folders built on the reference Gemma 3 270M: a Gemma 3 whose folder ships only what was trained
(the vision tower and the projector, about 1 MB, with the full ``Gemma3Config`` and the image processor's
settings); the language model and the tokenizer come from the ``realmodel`` package when it loads, so the
LM is bit-for-bit the one every ``realmodel`` test uses (``models/reference.py``).

A co-trained folder (``toy-gemma-cotrained``) adds ``lora.safetensors``, low-rank adapters of the LM that
loading merges into the 270M's weights (``toyworld.json`` -> ``lora`` gives their scale).
The shipped ``toy-gemma`` and ``toy-gemma-aligned`` are such folders (trained by toyworld/, whose
``gemma.py`` writes them); :func:`load_folder` is how ``models.load`` reads any of them, so loading needs
nothing from toyworld/. A folder says it is one in its ``toyworld.json`` (``"language_model": MARKER``).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import UserError

MARKER = "gemma-3-270m (layerdream[realmodel])"  # toyworld.json "language_model": load the LM from the extra
LORA_FILE = "lora.safetensors"  # co-trained folders (toy-gemma-cotrained): LoRA factors merged into the 270M at load
IMAGE_TOKEN, BOI, EOI = 262144, 255999, 256000


def is_reference_lm_folder(folder: str | Path) -> bool:
    """True for a folder whose LM is the realmodel package's Gemma 3 270M (weights not in the folder)."""
    info = Path(folder) / "toyworld.json"
    if not info.is_file():
        return False
    try:
        return json.loads(info.read_text()).get("language_model") == MARKER
    except (OSError, ValueError):
        return False


def processor(image_size: int, tokens_per_image: int = 16):
    """The ``Gemma3Processor`` of such a folder: the real tokenizer, images at the tower's ``image_size``.

    No chat template: the 270M is a pretrained model (in a chat turn it answers "What is the capital of
    France?" with noise), so training and the product both use the raw format, ``<bos>`` + image block
    (+ caption) and ``<bos>`` + word, as for any ``-pt`` checkpoint."""
    from .reference import gemma3_270m_processor

    return gemma3_270m_processor(image_size=image_size, tokens_per_image=tokens_per_image, chat_template=False)


def config(vision_config: dict, tokens_per_image: int = 16):
    """A full ``Gemma3Config``: the 270M's text config with the toy tower's vision config."""
    from transformers import AutoConfig, Gemma3Config

    from .reference import gemma3_270m_folder

    text = AutoConfig.from_pretrained(gemma3_270m_folder())
    return Gemma3Config(text_config=text.to_dict(), vision_config=vision_config, mm_tokens_per_image=tokens_per_image,
                        image_token_index=IMAGE_TOKEN, boi_token_index=BOI, eoi_token_index=EOI)


def assemble(cfg, small: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32):
    """``Gemma3ForConditionalGeneration`` from ``cfg``: the real 270M language model plus ``small`` (the
    tower, and the projector unless it is to start from Gemma 3's own init: zeros).

    Built without weight initialisation (every weight is loaded or is a zeros-init projector), which
    makes it 5 s faster, and strict: a tower weight that does not load is an error, never a random init.
    """
    from transformers import Gemma3ForConditionalGeneration
    from transformers.initialization import no_init_weights
    from safetensors.torch import load_file

    from .reference import gemma3_270m_folder

    with no_init_weights():
        model = Gemma3ForConditionalGeneration(cfg)
    lm = load_file(str(gemma3_270m_folder() / "model.safetensors"))
    lm = {k.removeprefix("model."): v for k, v in lm.items() if k.startswith("model.")}
    missing, unexpected = model.model.language_model.load_state_dict(lm, strict=False)
    if unexpected or missing:
        raise UserError(f"the realmodel Gemma 3 270M does not fit this toy-gemma config (missing {missing[:3]}, "
                        f"unexpected {unexpected[:3]}); reinstall layerdream[realmodel]")
    missing, unexpected = model.load_state_dict(small, strict=False)
    fresh_projector = not any(k.startswith("model.multi_modal_projector.") for k in small)
    bad = [k for k in missing if not k.startswith(("model.language_model.", "lm_head."))
           and not (fresh_projector and k.startswith("model.multi_modal_projector."))]
    if unexpected or bad:
        raise UserError(f"toy-gemma weights do not fit the model (missing {bad[:3]}, unexpected {unexpected[:3]})")
    if fresh_projector:  # Gemma 3's own init: zero projection, zero (= identity) norm offset
        for p in model.model.multi_modal_projector.parameters():
            p.data.zero_()
    model.tie_weights()
    return model.to(dtype).requires_grad_(False).eval()


def load_folder(folder: str | Path, dtype: torch.dtype = torch.float32):
    """(model, processor) of such a folder (toy-gemma); one clear line when the realmodel extra is missing.

    The processor's image size is the tower's (``vision_config.image_size``: 64, the toy world's)."""
    from safetensors.torch import load_file
    from transformers import AutoConfig

    folder = Path(folder)
    cfg = AutoConfig.from_pretrained(folder)
    lora = json.loads((folder / "toyworld.json").read_text()).get("lora")
    if lora is not None and not (folder / LORA_FILE).is_file():
        raise UserError(f"{folder} is a co-trained toy-gemma without its {LORA_FILE}; copy the whole folder")
    model = assemble(cfg, load_file(str(folder / "model.safetensors")))
    if lora is not None:  # W + alpha / r * B @ A, in fp32, before any cast to the requested dtype
        merge_lora(model, load_file(str(folder / LORA_FILE)), float(lora["scale"]))
    return model.to(dtype), processor(cfg.vision_config.image_size, cfg.mm_tokens_per_image)


def merge_lora(model, factors: dict[str, torch.Tensor], scale: float) -> None:
    """``W += scale * B @ A`` for every adapted projection (``<module>.lora_A``: r x in, ``.lora_B``: out x r),
    strictly: each factor names a linear layer of the LM with fitting shapes, and each adapted layer has
    both factors. Why merged: the loaded model is a plain Gemma 3 (no peft at load, no slower forward)."""
    mods = dict(model.named_modules())
    for name in sorted({k.rsplit(".", 1)[0] for k in factors}):
        a, b = factors.get(f"{name}.lora_A"), factors.get(f"{name}.lora_B")
        lin = mods.get(name)
        if a is None or b is None or not isinstance(lin, torch.nn.Linear) or \
                tuple(lin.weight.shape) != (b.shape[0], a.shape[1]) or a.shape[0] != b.shape[1]:
            raise UserError(f"{LORA_FILE}: adapter {name!r} does not fit the Gemma 3 270M (missing factor, unknown "
                            "layer or wrong shape); rebuild it with `layerdream toyworld train --stage toy-gemma-cotrained`")
        with torch.no_grad():
            lin.weight += (scale * (b.double() @ a.double())).to(lin.weight.dtype)


__all__ = ["MARKER", "LORA_FILE", "IMAGE_TOKEN", "BOI", "EOI", "is_reference_lm_folder", "processor", "config",
           "assemble", "load_folder", "merge_lora"]
