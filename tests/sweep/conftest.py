"""Shared fixtures for sweep tests: a fake engine, so store/plan/runner logic is tested in milliseconds."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

torch.set_num_threads(1)


@dataclass
class FakeResult:
    label: str
    layer: int
    seed: int
    image: torch.Tensor
    cosine_initial: float = 0.0
    cosine_final: float = 0.5
    seconds: float = 0.01
    trajectory: list = field(default_factory=list)
    config: dict = field(default_factory=lambda: {"preset": "fake", "steps": 1})

    def to_pil(self):
        from PIL import Image

        arr = (self.image.permute(1, 2, 0).clamp(0, 1) * 255).byte().numpy()
        return Image.fromarray(arr)


class FakeExecute:
    """Stands in for EngineExecute: records every call, returns deterministic little images."""

    def __init__(self, fail_after: int | None = None):
        self.calls: list[list[str]] = []
        self.fail_after = fail_after

    def __call__(self, batch):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.calls.append([j.key for j in batch])
        out = []
        for j in batch:
            g = torch.Generator().manual_seed(abs(hash(j.key)) % (2**31))
            out.append((j, FakeResult(j.label, j.layer, j.seed, torch.rand(3, 8, 8, generator=g))))
        return out


@pytest.fixture
def fake_execute():
    return FakeExecute()


@pytest.fixture
def fake_execute_factory():
    return FakeExecute


@pytest.fixture
def small_set_file(tmp_path):
    path = tmp_path / "concepts.yaml"
    path.write_text(
        "categories:\n"
        "  colour: [red, blue, {name: green, synonyms: [lime]}]\n"
        "  shape: {concepts: [circle, square]}\n"
    )
    return path
