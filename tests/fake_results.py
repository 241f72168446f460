"""The one fake synthesis result of the suite's model-free sweeps: what EngineExecute hands to Persist,
minus the engine — a little deterministic image per job (seeded by the job's key)."""
from __future__ import annotations

import hashlib


class FakeResult:
    """``size``: the image's side in pixels; ``cosine_final``: fixed, or (None) a deterministic draw per job."""

    def __init__(self, job, size: int = 16, cosine_final: float | None = None, config: dict | None = None):
        import torch

        g = torch.Generator().manual_seed(int(hashlib.sha256(job.key.encode()).hexdigest()[:8], 16))
        self.label, self.layer, self.seed = job.label, job.layer, job.seed
        self.image = torch.rand(3, size, size, generator=g)
        self.cosine_initial, self.seconds = 0.0, 0.01
        self.cosine_final = float(torch.rand(1, generator=g)) if cosine_final is None else cosine_final
        self.trajectory, self.config = [], {"preset": "fake"} if config is None else config

    def to_pil(self):
        from PIL import Image

        return Image.fromarray((self.image.permute(1, 2, 0) * 255).byte().numpy())
