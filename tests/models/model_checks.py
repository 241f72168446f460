"""Checks that several family tests run at a family's real geometry (a plain module, importable from
tests/models; ``conftest`` is ambiguous on sys.path)."""
from __future__ import annotations

import numpy as np
import torch


def assert_processor_pixels_and_gradients(vlm, processor, size: int, layer: int) -> None:
    """Our differentiable preprocessing equals the HF processor's (patches and grid), the whole processor
    called through its chat template at its defaults, as a user calls it; gradients reach the pixels
    through the early-exit forward at ``layer``."""
    x, theirs = picture_and_chat_inputs(vlm, size=size, processor=processor)
    ours = vlm.adapter.preprocess(x)
    assert torch.equal(ours["image_grid_thw"], theirs["image_grid_thw"])
    torch.testing.assert_close(ours["pixel_values"], theirs["pixel_values"], rtol=0, atol=1e-5)
    x.requires_grad_(True)
    vlm.image_tokens(x, layer).pow(2).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def assert_memory_model_close(vlm, size: int, layer: int, low: float = 0.9, high: float = 1.1) -> None:
    """The memory model, fed by the adapter's ``vision_dims()``, against what autograd keeps per copy
    (bf16, as on a GPU)."""
    from layerdream.synthesis import memory

    vlm.model.to(torch.bfloat16)
    x = torch.rand(2, 3, size, size, requires_grad=True)
    measured = memory.measure_saved_bytes(lambda: vlm.image_tokens(x, layer).pow(2).sum(),
                                          exclude=list(vlm.model.parameters())) / 2
    prompt_length = vlm.image_prompt()["input_ids"].shape[1]
    predicted = memory.copy_cost(vlm.model.config, layer, size, size // 2, prompt_length, torch.bfloat16, False,
                                 vision=vlm.adapter.vision_dims()).saved
    assert low < predicted / measured < high, (predicted, measured)


def assert_1d_positions_states_equal_the_models_own(family_module, folder) -> None:
    """For families with Qwen-style pixels but plain 1-D text positions (EXAONE 4.5 and the families built on
    its adapter): no M-RoPE positions are built or passed, and our layer-1 image states equal the model's own
    forward on the whole processor's output, through its chat template."""
    import layerdream as ld

    family_module.build(folder)
    vlm = ld.load(str(folder), device="cpu")
    assert "position_ids" not in vlm.image_prompt()
    x, enc = picture_and_chat_inputs(vlm)
    ours = vlm.image_tokens(x, 1)
    enc.pop("mm_token_type_ids", None)
    with torch.no_grad():
        theirs = vlm.model.model(**enc, use_cache=False, output_hidden_states=True).hidden_states[1][:, vlm.image_positions()]
    torch.testing.assert_close(ours, theirs.float(), rtol=0, atol=1e-5)


def picture_and_chat_inputs(vlm, seed: int = 0, size: int | None = None, processor=None,
                            **template_kwargs) -> tuple[torch.Tensor, dict]:
    """One random picture twice: as our (1, 3, size, size) tensor in [0, 1], and as the whole processor's
    output for it through its chat template at its defaults (a dict), as a user calls it. ``size`` defaults
    to the model's image size, ``processor`` to the model's; ``template_kwargs`` go to apply_chat_template."""
    from PIL import Image

    size = vlm.image_size if size is None else size
    array = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    x = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255
    enc = (processor or vlm.processor).apply_chat_template(
        [{"role": "user", "content": [{"type": "image", "image": Image.fromarray(array)}]}],
        add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt", **template_kwargs)
    return x, dict(enc)
