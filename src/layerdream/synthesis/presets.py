"""Synthesis presets, scaled to the model's input resolution and depth.

``paper`` reproduces Appendix E at Gemma 3 4B's geometry (896-px input): a 448 canvas resized ×2 to the
input, 23 scales 8..448 in steps of 20, K = 8, shifts ±56, noise 0.1, 600 steps, SGD momentum 0.9, clip
1.0, σ 2→16 (token-grid units on a 16×16 grid), and the per-layer lr/τ table. At another input size every
pixel quantity keeps its ratio to the canvas (a 64-px model gets a 32 canvas, shifts ±4, scales 1..32);
σ keeps its ratio to the grid; lr and τ follow the table by relative depth ℓ/L mapped to Gemma 3 4B's 34
layers, interpolated between the paper's layers (τ on a log scale) and announced as not the paper's values.

Which preset runs when none is named (:func:`choose_preset`): ``paper`` for every real checkpoint, so
``layerdream synthesize dog --model google/gemma-3-4b-it`` runs the paper's method; ``fast`` for the
shipped toy models and toy-world folders, which were calibrated with it. The rule that chose it is
recorded with every result (``preset_rule``) and in a sweep RUN.

``fast`` is for quick looks and for the toy world, where it was tuned (lr 0.3 on the shipped toy models;
the study's lr 1.0 saturates them into pure-colour blotches, docs/toyworld.md):
canvas = the native input, 5 scales, K = 4, shifts ±S/16, noise 0.05, 80 steps, lr 0.3, τ 0.1, σ from
half the grid to the whole grid. Its lr/τ are *not* tuned for large models: override them there.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field

from ..errors import UserError

PAPER_LAYERS = (1, 5, 10, 15, 20, 25, 30)
PAPER_LR = (0.04, 0.04, 0.15, 0.15, 0.15, 0.15, 0.04)
PAPER_TAU = (0.005, 0.005, 0.5, 0.5, 0.5, 0.5, 0.005)
PAPER_DEPTH = 34  # Gemma 3 4B
_told: set[str] = set()


def _note_once(message: str) -> None:
    if message not in _told:
        _told.add(message)
        logging.getLogger("layerdream").warning(message)


@dataclass
class SynthesisConfig:
    """Everything that determines a synthesised image (with the seed and the target)."""

    preset: str
    steps: int
    canvas: int
    resolutions: list[int]
    copies: int
    max_shift: int
    noise: float
    lr: float
    momentum: float = 0.9
    grad_clip: float = 1.0
    tau: float = 0.1
    sigma_start: float = 2.0
    sigma_end: float = 16.0
    weighting: str = "paper"
    per_position_centring: bool = False
    upsample: str = "bilinear"
    prompt_format: str = "chat"
    init_noise: float = 0.0
    snapshots: list[int] = field(default_factory=list)
    # Where lr and tau came from (issue 19 item 3): "paper" (the paper's table, at one of its layers),
    # "interpolated" (paper preset between/beyond the paper's layers, by relative depth), "preset" (fast's
    # constant) or "given" (the user's). Part of every result's config and so of its fingerprint.
    lr_source: str = "preset"
    tau_source: str = "preset"
    paper_layer: float | None = None  # paper preset: the Gemma 3 4B layer l·34/L that lr/tau were read at

    def sigma(self, step: int) -> float:
        """Linear σ schedule over the run ([R1]); step counts from 0."""
        if self.steps <= 1:
            return self.sigma_end
        return self.sigma_start + (self.sigma_end - self.sigma_start) * step / (self.steps - 1)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS = ("paper", "fast")
RULE_GIVEN = "given"
RULE_REAL = "default for a real checkpoint: the paper's method (Appendix E)"
RULE_TOY = "default for a toy model: fast, the preset the toy world was calibrated with"


def is_toy_model(model: object) -> bool:
    """A shipped toy model (by name) or a toy-world folder (its ``toyworld.json``); a loaded VLM by its
    name and folder. Everything else is a real checkpoint."""
    import os

    from ..models.registry import ALL_TOY_MODELS

    name, path = (getattr(model, "name", None), getattr(model, "path", None)) if not isinstance(model, (str, os.PathLike)) \
        else (os.fspath(model), os.fspath(model))
    if name in ALL_TOY_MODELS:
        return True
    return any(p and os.path.isfile(os.path.join(str(p), "toyworld.json")) for p in (path, name))


def choose_preset(preset: str | None, model: object) -> tuple[str, str]:
    """(preset, rule): ``preset`` itself when given (checked), else ``paper`` for a real checkpoint and
    ``fast`` for a toy model (:func:`is_toy_model`), with the rule in words for the record."""
    if preset is not None:
        if preset not in PRESETS:
            raise UserError(f"unknown preset {preset!r}; choose paper or fast")
        return preset, RULE_GIVEN
    return ("fast", RULE_TOY) if is_toy_model(model) else ("paper", RULE_REAL)


def paper_schedule(layer: int, num_layers: int) -> tuple[float, float, bool]:
    """(lr, τ, is_paper_value) of Appendix E at ℓ's relative depth on Gemma 3 4B (ℓ·34/L).

    The paper gives lr and τ at layers 1, 5, 10, 15, 20, 25, 30 only. Between two of them lr is
    interpolated linearly and τ linearly in log τ (τ spans 0.005..0.5, so a linear blend would jump
    almost 100× in one layer); beyond layer 30 or before layer 1 the nearest end value is kept.
    ``is_paper_value`` is True only where the mapped layer *is* one of the paper's layers.
    """
    mapped = layer / num_layers * PAPER_DEPTH
    if mapped <= PAPER_LAYERS[0] or mapped >= PAPER_LAYERS[-1]:
        i = 0 if mapped <= PAPER_LAYERS[0] else -1
        exact = math.isclose(mapped, PAPER_LAYERS[i], abs_tol=1e-9)
        return PAPER_LR[i], PAPER_TAU[i], exact
    hi = next(i for i, l in enumerate(PAPER_LAYERS) if l >= mapped)
    if math.isclose(PAPER_LAYERS[hi], mapped, abs_tol=1e-9):
        return PAPER_LR[hi], PAPER_TAU[hi], True
    lo = hi - 1
    t = (mapped - PAPER_LAYERS[lo]) / (PAPER_LAYERS[hi] - PAPER_LAYERS[lo])
    lr = PAPER_LR[lo] + t * (PAPER_LR[hi] - PAPER_LR[lo])
    tau = math.exp(math.log(PAPER_TAU[lo]) + t * (math.log(PAPER_TAU[hi]) - math.log(PAPER_TAU[lo])))
    return lr, tau, False


def make_config(preset: str, *, image_size: int, grid: tuple[int, int], layer: int, num_layers: int,
                announce: bool = True, **overrides) -> SynthesisConfig:
    """The preset's config for this model and layer, with user overrides (None means "keep").

    ``announce=False`` for configs built for bookkeeping, not for the user's model (sweep/settings.py
    probes a 4-layer toy geometry): their interpolation note would be about a model nobody runs.
    """
    grid_side = max(grid)
    note = None
    if preset == "paper":
        canvas = max(8, round(image_size * 448 / 896))
        scale = canvas / 448
        resolutions = sorted({max(1, round(r * scale)) for r in range(8, 449, 20)})
        lr, tau, exact = paper_schedule(layer, num_layers)
        if announce and not exact and overrides.get("lr") is None and overrides.get("tau") is None:
            note = (f"paper preset at layer {layer} of {num_layers}: lr {lr:.3g} and tau {tau:.3g} are interpolated by "
                    f"relative depth (Gemma 3 4B layer {layer / num_layers * PAPER_DEPTH:.1f}), not the paper's values")
        source = "paper" if exact else "interpolated"
        cfg = SynthesisConfig(
            preset=preset, steps=600, canvas=canvas, resolutions=resolutions, copies=8,
            max_shift=max(1, round(56 * scale)), noise=0.1, lr=lr, tau=tau,
            sigma_start=2 / 16 * grid_side, sigma_end=grid_side, lr_source=source, tau_source=source,
            paper_layer=round(layer / num_layers * PAPER_DEPTH, 3),
        )
    elif preset == "fast":
        canvas = image_size if image_size <= 128 else max(8, image_size // 2)
        resolutions = sorted({max(1, canvas // d) for d in (16, 8, 4, 2, 1)})
        cfg = SynthesisConfig(
            preset=preset, steps=80, canvas=canvas, resolutions=resolutions, copies=4,
            max_shift=max(1, canvas // 16), noise=0.05, lr=0.3, tau=0.1,
            sigma_start=grid_side / 2, sigma_end=grid_side,
        )
    else:
        raise UserError(f"unknown preset {preset!r}; choose paper or fast")
    for key, value in overrides.items():
        if value is None:
            continue
        value = _typed(key, value)  # one UserError for a wrong type or an unknown option
        if key in ("lr", "tau") and value != getattr(cfg, key):  # the preset's own value typed out is no override
            setattr(cfg, f"{key}_source", "given")
        setattr(cfg, key, value)
    validate(cfg)
    if note:  # after validation: a refused option gets its one-line error, not a note before it
        _note_once(note)
    return cfg


_FIELD_TYPES = {f.name: str(f.type) for f in dataclasses.fields(SynthesisConfig)}
_RECORDED_ONLY = ("preset", "lr_source", "tau_source", "paper_layer")  # written by make_config, never given


def _typed(key: str, value):
    """An override checked against its field's type: ``lr='fast'`` or ``steps=2.5`` is one UserError here,
    not a TypeError from inside the optimisation. Ranges are :func:`validate`'s."""
    from .. import checks

    kind = _FIELD_TYPES.get(key)
    if kind is None or key in _RECORDED_ONLY:
        options = ", ".join(k for k in _FIELD_TYPES if k not in _RECORDED_ONLY)
        raise UserError(f"unknown synthesis option {key!r}; the options are {options}")
    if kind == "int":
        return checks.whole_number(value, key)
    if kind == "float":
        return checks.real_number(value, key)
    if kind == "bool":
        return checks.flag(value, key)
    if kind == "str":
        return checks.text(value, key)
    if kind.startswith("list[int]"):
        return [] if isinstance(value, (list, tuple)) and not value else checks.whole_numbers(value, key)
    return value


def validate(cfg: SynthesisConfig) -> None:
    if cfg.steps <= 0:
        raise UserError(f"--steps must be a positive number of optimisation steps, got {cfg.steps}")
    late = [s for s in cfg.snapshots if not 1 <= s <= cfg.steps]
    if late:
        raise UserError(f"--snapshot {','.join(map(str, late))} is outside the run's steps 1..{cfg.steps}; "
                        f"choose snapshot steps up to --steps")
    if cfg.copies <= 0:
        raise UserError(f"--copies must be at least 1, got {cfg.copies}")
    if cfg.lr <= 0 or cfg.tau <= 0:
        raise UserError(f"--lr and --tau must be positive, got lr={cfg.lr} tau={cfg.tau}")
    if cfg.weighting not in ("paper", "prior", "noprior", "mean"):
        raise UserError(f"unknown weighting {cfg.weighting!r}; choose paper, prior, noprior or mean")
    if cfg.upsample not in ("bilinear", "bicubic"):
        raise UserError(f"unknown upsampling {cfg.upsample!r}; choose bilinear or bicubic")
