"""Toy VLMs on a real language model: the toy world's SigLIP tower + Gemma 3's projector + the real,
frozen Gemma 3 270M (``toy-gemma``, ``toy-gemma-aligned``).

Why: the small toy LMs are trained from scratch, so ``toy-plain``'s missing alignment may say more
about a 4-layer LM than about the paper's claim. The 270M is the one real pre-trained Gemma 3 we can
reach offline (extra ``realmodel``), with the real 262k tokenizer and real word semantics.

What ships is only what training changed: the tower and the projector (``model.safetensors``, about
1 MB), the full ``Gemma3Config``, the image processor's settings and ``toyworld.json``. The language
model and the tokenizer come from the ``realmodel`` package when the model loads, so the package
stays small and the LM is bit-for-bit the one every ``realmodel`` test uses.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import UserError

from . import GEMMA_TOY_MODELS  # noqa: F401  (re-exported: the names this module serves)
MARKER = "gemma-3-270m (layerdream[realmodel])"  # toyworld.json "language_model": load the LM from the extra
IMAGE_TOKEN, BOI, EOI = 262144, 255999, 256000


def is_gemma_toy(folder: str | Path) -> bool:
    """True for a folder whose LM is the realmodel package's Gemma 3 270M (weights not in the folder)."""
    info = Path(folder) / "toyworld.json"
    if not info.is_file():
        return False
    try:
        return json.loads(info.read_text()).get("language_model") == MARKER
    except (OSError, ValueError):
        return False


def processor(tokens_per_image: int = 16):
    """The ``Gemma3Processor`` of the toy-gemma models: the real tokenizer, 64 px toy-world images.

    No chat template: the 270M is a pretrained model (in a chat turn it answers "What is the capital of
    France?" with noise), so training and the product both use the raw format, ``<bos>`` + image block
    (+ caption) and ``<bos>`` + word, as for any ``-pt`` checkpoint."""
    from ..models.reference import gemma3_270m_processor
    from . import world

    return gemma3_270m_processor(image_size=world.IMAGE_SIZE, tokens_per_image=tokens_per_image, chat_template=False)


def config(vision_config: dict, tokens_per_image: int = 16):
    """A full ``Gemma3Config``: the 270M's text config with the toy tower's vision config."""
    from transformers import AutoConfig, Gemma3Config

    from ..models.reference import gemma3_270m_folder

    text = AutoConfig.from_pretrained(gemma3_270m_folder())
    return Gemma3Config(text_config=text.to_dict(), vision_config=vision_config, mm_tokens_per_image=tokens_per_image,
                        image_token_index=IMAGE_TOKEN, boi_token_index=BOI, eoi_token_index=EOI)


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


def assemble(cfg, small: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32):
    """``Gemma3ForConditionalGeneration`` from ``cfg``: the real 270M language model plus ``small`` (the
    tower, and the projector unless it is to start from Gemma 3's own init: zeros).

    Built without weight initialisation (every weight is loaded or is a zeros-init projector), which
    makes it 5 s faster, and strict: a tower weight that does not load is an error, never a random init.
    """
    from transformers import Gemma3ForConditionalGeneration
    from transformers.initialization import no_init_weights
    from safetensors.torch import load_file

    from ..models.reference import gemma3_270m_folder

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
    proc.image_processor.save_pretrained(tmp)
    (tmp / "toyworld.json").write_text(json.dumps({**info, "language_model": MARKER}, indent=2, default=str) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def load_folder(folder: str | Path, dtype: torch.dtype = torch.float32):
    """(model, processor) of a toy-gemma folder; one clear line when the realmodel extra is missing."""
    from safetensors.torch import load_file
    from transformers import AutoConfig

    folder = Path(folder)
    cfg = AutoConfig.from_pretrained(folder)
    model = assemble(cfg, load_file(str(folder / "model.safetensors")), dtype=dtype)
    return model, processor(cfg.mm_tokens_per_image)
