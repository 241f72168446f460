"""Synthesis presets, scaled to the model's input resolution and depth.

``paper`` reproduces Appendix E at Gemma 3 4B's geometry (896-px input): a 448 canvas resized ×2 to the
input, 23 scales 8..448 in steps of 20, K = 8, shifts ±56, noise 0.1, 600 steps, SGD momentum 0.9, clip
1.0, σ 2→16 (token-grid units on a 16×16 grid), and the per-layer lr/τ table. At another input size every
pixel quantity keeps its ratio to the canvas (a 64-px model gets a 32 canvas, shifts ±4, scales 1..32);
σ keeps its ratio to the grid; lr and τ follow the table by relative depth ℓ/L (nearest paper layer
after mapping to Gemma 3 4B's 34 layers).

``fast`` is for quick looks and for the toy world, where it was tuned (lr 0.3 on the shipped toy models;
the study's lr 1.0 saturates them into pure-colour blotches, docs/toyworld.md):
canvas = the native input, 5 scales, K = 4, shifts ±S/16, noise 0.05, 80 steps, lr 0.3, τ 0.1, σ from
half the grid to the whole grid. Its lr/τ are *not* tuned for large models: override them there.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import UserError

PAPER_LAYERS = (1, 5, 10, 15, 20, 25, 30)
PAPER_LR = (0.04, 0.04, 0.15, 0.15, 0.15, 0.15, 0.04)
PAPER_TAU = (0.005, 0.005, 0.5, 0.5, 0.5, 0.5, 0.005)
PAPER_DEPTH = 34  # Gemma 3 4B


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

    def sigma(self, step: int) -> float:
        """Linear σ schedule over the run ([R1]); step counts from 0."""
        if self.steps <= 1:
            return self.sigma_end
        return self.sigma_start + (self.sigma_end - self.sigma_start) * step / (self.steps - 1)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def paper_schedule(layer: int, num_layers: int) -> tuple[float, float]:
    """(lr, τ) of Appendix E for the paper layer nearest to ℓ in relative depth."""
    mapped = layer / num_layers * PAPER_DEPTH
    idx = min(range(len(PAPER_LAYERS)), key=lambda i: (abs(PAPER_LAYERS[i] - mapped), PAPER_LAYERS[i]))
    return PAPER_LR[idx], PAPER_TAU[idx]


def make_config(preset: str, *, image_size: int, grid: tuple[int, int], layer: int, num_layers: int,
                **overrides) -> SynthesisConfig:
    """The preset's config for this model and layer, with user overrides (None means "keep")."""
    grid_side = max(grid)
    if preset == "paper":
        canvas = max(8, round(image_size * 448 / 896))
        scale = canvas / 448
        resolutions = sorted({max(1, round(r * scale)) for r in range(8, 449, 20)})
        lr, tau = paper_schedule(layer, num_layers)
        cfg = SynthesisConfig(
            preset=preset, steps=600, canvas=canvas, resolutions=resolutions, copies=8,
            max_shift=max(1, round(56 * scale)), noise=0.1, lr=lr, tau=tau,
            sigma_start=2 / 16 * grid_side, sigma_end=grid_side,
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
        if not hasattr(cfg, key):
            raise TypeError(f"unknown synthesis option {key!r}")
        setattr(cfg, key, value)
    validate(cfg)
    return cfg


def validate(cfg: SynthesisConfig) -> None:
    if cfg.steps <= 0:
        raise UserError(f"--steps must be a positive number of optimisation steps, got {cfg.steps}")
    if cfg.copies <= 0:
        raise UserError(f"--copies must be at least 1, got {cfg.copies}")
    if cfg.lr <= 0 or cfg.tau <= 0:
        raise UserError(f"--lr and --tau must be positive, got lr={cfg.lr} tau={cfg.tau}")
    if cfg.weighting not in ("paper", "prior", "mean"):
        raise UserError(f"unknown weighting {cfg.weighting!r}; choose paper, prior or mean")
    if cfg.upsample not in ("bilinear", "bicubic"):
        raise UserError(f"unknown upsampling {cfg.upsample!r}; choose bilinear or bicubic")
