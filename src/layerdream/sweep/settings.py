"""Canonical sweep settings: compare what the flags *resolve to*, not how they were typed.

A RUN refuses to be resumed with other settings. Comparing the flags as typed made ``--steps 80`` on a
``fast`` RUN (whose preset already means 80 steps) a "different" sweep, and the user was refused for
nothing. So every value that equals the preset's own value is dropped before settings are stored or
compared: ``--steps 80``, ``--lr 0.3`` and no flag at all are the same sweep on ``fast``.

A preset value counts as the preset's own only if it does not depend on the model: the ``paper``
preset's lr and tau vary with the layer, so ``--lr 0.04`` there is a real override (it pins every
layer), and stays one. We find the model-independent values by building the preset's config for a few
very different geometries (a 64-px 4-layer toy, Gemma 3 4B at layers 1, 10 and 30) and keeping the
fields on which they all agree.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

# (image_size, grid, layer, num_layers): a toy model and Gemma 3 4B at an early, a middle and a late layer.
_PROBES = ((64, (4, 4), 1, 4), (896, (16, 16), 1, 34), (896, (16, 16), 10, 34), (896, (16, 16), 30, 34))


@lru_cache(maxsize=None)
def _preset_constants(preset: str) -> tuple[tuple[str, Any], ...]:
    from ..synthesis.presets import make_config

    configs = [make_config(preset, image_size=s, grid=g, layer=l, num_layers=n, announce=False).to_dict()
               for s, g, l, n in _PROBES]
    first = configs[0]
    return tuple((k, v) for k, v in first.items() if all(c.get(k) == v for c in configs[1:]))


def preset_constants(preset: str) -> dict[str, Any]:
    """The fields of ``preset`` whose value is the same for every model and layer (UserError for an unknown preset)."""
    return dict(_preset_constants(preset))


def device_default_dtype(device: str | None = None, runner: Any = None) -> str | None:
    """The dtype the model loads in without ``--dtype`` where this sweep runs (``load``: bfloat16 on
    CUDA, float32 elsewhere), or None when that is not known here (a Ray cluster's workers decide)."""
    if runner is not None:
        where, gpus = getattr(runner, "device", None), getattr(runner, "gpus_per_worker", None)
        if where == "cpu" or gpus == 0:
            return "float32"
        if (gpus or 0) > 0 or str(where or "").startswith("cuda"):
            return "bfloat16"
        return None
    if device is not None:
        return "bfloat16" if str(device).startswith("cuda") else "float32"
    import torch

    return "bfloat16" if torch.cuda.is_available() else "float32"


def canonical_settings(settings: dict[str, Any], default_dtype: str | None = None) -> dict[str, Any]:
    """``settings`` with every value that merely repeats the preset's own dropped (steps -> None, options removed).

    ``dtype`` is compared as resolved too: ``--dtype float32`` where float32 is the default
    (``default_dtype``, the device's: :func:`device_default_dtype`) is no flag at all.
    Unknown presets are left as they are (the engine refuses them with its own message).
    """
    out = copy.deepcopy(settings)
    if default_dtype is not None and out.get("dtype") == default_dtype:
        out["dtype"] = None
    try:
        constants = preset_constants(str(out.get("preset")))
    except Exception:  # noqa: BLE001 - an unknown preset is refused elsewhere, with a better message
        return out
    if out.get("steps") is not None and out["steps"] == constants.get("steps"):
        out["steps"] = None
    options = out.get("options")
    if isinstance(options, dict):
        out["options"] = {k: v for k, v in options.items()
                          if v is not None and not (k in constants and constants[k] == v)}
    return out
