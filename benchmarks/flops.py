"""Matmul FLOPs of a Gemma 3 synthesis step, counted from the config: the "ideal" beside each timing.

Why analytic: a measured speed-up only means something next to what the arithmetic allows. Early exit
at layer ℓ can at best save the FLOPs of the blocks (and logits) it skips, so the ideal speed-up is the
ratio of the step FLOPs of the two ways, and B1/B4 print it beside the measured ratio.

What is counted (2 FLOPs per multiply-add; norms, activations, RoPE, softmax are left out):
  SigLIP layer      q, k, v, o projections + QKᵀ and AV over all N patches + the 2-matmul MLP
  patch embedding   the stride-p convolution, as a matmul
  projector         (tokens × d_vision) @ (d_vision × d_text) after the 4×4 average pool
  text block        q/k/v/o projections (GQA: k, v have num_key_value_heads heads) + QKᵀ and AV
                    over the dense T × T score matrix (SDPA computes it whole under a mask) +
                    the 3-matmul gated MLP
  lm_head           T × d × vocab at every position (the top-level forward's default)

Backward to the pixels with frozen weights needs only input gradients: one matmul per linear layer
(1× its forward) but two per attention product, since both operands depend on the pixels (2× forward).
Blocks after ℓ and the logits are not on the loss's path, so the backward never reaches them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Cost:
    """FLOPs split into the two kinds whose backward costs differ."""

    linear: float = 0.0  # activation × frozen weight: backward = 1× forward
    attention: float = 0.0  # activation × activation (QKᵀ, AV): backward = 2× forward

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.linear + other.linear, self.attention + other.attention)

    def __mul__(self, k: float) -> "Cost":
        return Cost(self.linear * k, self.attention * k)

    __rmul__ = __mul__

    @property
    def forward(self) -> float:
        return self.linear + self.attention

    @property
    def backward(self) -> float:
        return self.linear + 2 * self.attention


def _get(cfg, name: str, default=None):
    return cfg.get(name, default) if isinstance(cfg, dict) else getattr(cfg, name, default)


def vision_cost(vision) -> Cost:
    """One image through the SigLIP tower (no pooling head: Gemma 3 sets vision_use_head=False)."""
    d, inter, p = _get(vision, "hidden_size"), _get(vision, "intermediate_size"), _get(vision, "patch_size")
    n = (_get(vision, "image_size") // p) ** 2
    per_layer = Cost(linear=2 * n * (4 * d * d + 2 * d * inter), attention=2 * 2 * n * n * d)
    embed = Cost(linear=2 * n * 3 * p * p * d)
    return embed + per_layer * _get(vision, "num_hidden_layers")


def projector_cost(vision, text, tokens: int) -> Cost:
    return Cost(linear=2 * tokens * _get(vision, "hidden_size") * _get(text, "hidden_size"))


def block_cost(text, seq: int) -> Cost:
    """One decoder block over a sequence of ``seq`` tokens."""
    d, inter = _get(text, "hidden_size"), _get(text, "intermediate_size")
    heads, kv = _get(text, "num_attention_heads"), _get(text, "num_key_value_heads")
    hd = _get(text, "head_dim") or d // heads
    proj = 2 * seq * d * (2 * heads * hd + 2 * kv * hd)  # q and o: heads·hd wide; k and v: kv·hd
    mlp = 3 * 2 * seq * d * inter
    return Cost(linear=proj + mlp, attention=2 * 2 * seq * seq * heads * hd)


def lm_head_cost(text, seq: int) -> Cost:
    return Cost(linear=2 * seq * _get(text, "hidden_size") * _get(text, "vocab_size"))


@dataclass
class StepFlops:
    """FLOPs of one synthesis step for one copy, for the three ways of reaching layer ℓ."""

    layer: int
    early_exit: float  # fwd + bwd of vision, projector and blocks 1..ℓ
    early_exit_forward: float  # the forward alone (issue 9's estimate takes backward = forward)
    full_model: float  # + forward of blocks ℓ+1..L
    full_logits: float  # + forward of the lm_head at every position
    forward_share_model: float  # forward-only FLOPs, early / full-model ("vision + ℓ blocks vs whole")
    forward_share_logits: float  # forward-only FLOPs, early / full-model + logits

    def as_dict(self) -> dict:
        return asdict(self)


def step_flops(config, layer: int, seq: int) -> StepFlops:
    """Per-copy step FLOPs at ``layer`` for a Gemma 3 config and a prompt of ``seq`` tokens."""
    vision, text = config.vision_config, config.get_text_config()
    tokens = config.mm_tokens_per_image
    front = vision_cost(vision) + projector_cost(vision, text, tokens)
    block = block_cost(text, seq)
    depth = text.num_hidden_layers
    on_path = front + block * layer  # what the loss depends on: forward and backward
    rest = block * (depth - layer)
    head = lm_head_cost(text, seq)
    early = on_path.forward + on_path.backward
    full = early + rest.forward
    logits = full + head.forward
    return StepFlops(layer=layer, early_exit=early, early_exit_forward=on_path.forward, full_model=full, full_logits=logits,
                     forward_share_model=on_path.forward / (on_path + rest).forward,
                     forward_share_logits=on_path.forward / (on_path + rest + head).forward)
