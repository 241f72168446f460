"""What one synthesis returns, and how it is written: a PNG plus a JSON with its full provenance."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from .. import checks
from ..io import atomic_save_png, atomic_write_json, ensure_writable_dir, file_stem, versions


def to_pil(image: torch.Tensor):
    from PIL import Image

    array = (image.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array)


def stem(label: str, layer: int, seed: int) -> str:
    """``<concept>_L<layer>_s<seed>``: the files of one result (unique per concept, see ``file_stem``)."""
    return f"{file_stem(label)}_L{layer}_s{seed}"


@dataclass
class SynthesisResult:
    label: str
    layer: int
    seed: int
    model: str
    image: torch.Tensor  # (3, canvas, canvas) in [0, 1], on the CPU
    trajectory: list[dict]  # one {step, loss, cosine} per optimisation step (augmented copies, mean over K)
    cosine_initial: float  # un-augmented start image (0 for the gray start: it *is* the baseline)
    cosine_final: float  # un-augmented final image, σ at its end value
    seconds: float  # wall time of its batch divided by the batch size
    config: dict
    target: str = "concept"  # concept | vector (a user-given direction: random or shuffled controls)
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)
    # exp(entropy) of the final image's attention weights over its image_tokens: how many tokens its
    # representation rests on (1: a hard max over patches; image_tokens: mean pooling)
    effective_tokens: float | None = None
    image_tokens: int | None = None

    @property
    def concept(self) -> str:
        return self.label

    def to_pil(self):
        return to_pil(self.image)

    def stem(self) -> str:
        return stem(self.label, self.layer, self.seed)

    def metadata(self) -> dict:
        return {
            "concept": self.label, "layer": self.layer, "seed": self.seed, "model": self.model,
            "target": self.target, "preset": self.config.get("preset"), "steps": self.config.get("steps"),
            "cosine_initial": self.cosine_initial, "cosine_final": self.cosine_final,
            "seconds": round(self.seconds, 4), "hook_point": f"blocks.{self.layer - 1}.hook_resid_post",
            "effective_tokens": self.effective_tokens, "image_tokens": self.image_tokens,
            "config": self.config, "versions": versions(), "trajectory": self.trajectory,
        }

    # -- display (Jupyter); a short text repr instead of the dataclass's, which prints the whole tensor ------
    def __repr__(self) -> str:
        return (f"SynthesisResult({self.label!r}, layer={self.layer}, seed={self.seed}, model={self.model!r}, "
                f"cosine {self.cosine_initial:+.3f} -> {self.cosine_final:+.3f})")

    def _png(self, min_side: int = 160) -> bytes:
        """The image as PNG bytes, enlarged by an integer factor (nearest neighbour, no new detail) so a
        64-px toy image is not a speck on screen; a 448-px image is shown as it is."""
        import io

        from PIL import Image

        img = self.to_pil()
        factor = max(1, -(-min_side // max(img.size)))
        if factor > 1:
            img = img.resize((img.width * factor, img.height * factor), Image.NEAREST)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        return self._png()

    def _repr_html_(self) -> str:
        import base64
        import html

        uri = "data:image/png;base64," + base64.b64encode(self._png()).decode()
        caption = (f"<b>{html.escape(self.label)}</b> &middot; layer {self.layer} &middot; seed {self.seed}<br>"
                   f"cosine {self.cosine_initial:+.3f} &rarr; {self.cosine_final:+.3f} &middot; {html.escape(str(self.model))}")
        return (f"<figure style='display:inline-block;margin:4px;text-align:center'><img src='{uri}' "
                f"style='image-rendering:pixelated'><figcaption style='font-size:small'>{caption}</figcaption></figure>")

    def save(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``<slug>_L<layer>_s<seed>.png`` (+ snapshots) and the JSON beside it, atomically.

        The JSON is written last, so its presence marks a complete result.
        """
        out_dir = ensure_writable_dir(checks.path(out_dir, "out_dir"), "out_dir")  # a file in the way: one line
        png = atomic_save_png(out_dir / f"{self.stem()}.png", self.to_pil())
        for step, image in sorted(self.snapshots.items()):
            atomic_save_png(out_dir / f"{self.stem()}_step{step}.png", to_pil(image))
        js = atomic_write_json(out_dir / f"{self.stem()}.json", self.metadata())
        return png, js


def check_space(out: Path, image_size: int, concepts: Sequence[str], layers: Sequence[int], seeds: Sequence[int],
                snapshots: Sequence[int] = (), overwrite: bool = False) -> None:
    """Refuse before the compute when ``out`` cannot hold the images still to make (a lower bound per
    image, ``io.image_bytes_estimate``); a result whose JSON is already there counts as made, unless
    ``overwrite``. (Without this a full disk showed up after all the compute: ENOSPC on the first save.)"""
    from ..io import check_free_space, image_bytes_estimate

    todo = [(c, l, s) for c in dict.fromkeys(x.strip() for x in concepts) for l in dict.fromkeys(layers)
            for s in dict.fromkeys(seeds) if overwrite or not (Path(out) / f"{stem(c, l, s)}.json").exists()]
    n = len(todo) * (1 + len(snapshots or ()))
    if n:
        check_free_space(out, n * image_bytes_estimate(image_size), f"{n} image(s)")


def done_in(out: Path):
    """``skip()`` for :func:`~layerdream.synthesis.loop.synthesize` resuming into the folder ``out``
    (``layerdream synthesize`` without ``--overwrite``): a result counts as done when its JSON (written
    last) has the same fingerprint and its PNG exists."""
    import json

    def skip(label: str, layer: int, seed: int, fingerprint: str) -> bool:
        path = out / f"{stem(label, layer, seed)}.json"
        try:
            return json.loads(path.read_text())["config"].get("fingerprint") == fingerprint and path.with_suffix(".png").exists()
        except (OSError, ValueError, KeyError, TypeError):
            return False

    return skip
