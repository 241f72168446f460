"""Engine glue: run one batch of jobs through ``ld.synthesize`` and persist each result.

Split in two on purpose (see runner.py): :class:`EngineExecute` only computes (it could run in a
remote worker and return tensors), :class:`Persist` only writes (always in the driver: PNG and JSON
atomically, then one committed row). The row is committed *after* the image is in place, so a row
always points at a complete image; a crash in between leaves an unrecorded image that the resumed run
simply overwrites.
"""
from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path
from typing import Any, Sequence

from ..io import atomic_write_bytes, atomic_write_json, slugify
from .plan import Job, random_direction
from .store import Store


def image_relpath(job: Job) -> str:
    """Where a job's PNG lives inside RUN: readable, and unique thanks to a short hash of the key."""
    short = hashlib.sha256(job.key.encode()).hexdigest()[:6]
    name = slugify(job.concept)
    if job.kind == "random":
        name += f"__{slugify(job.source)}"
    elif job.kind == "shuffled":
        name += f"__from_{slugify(job.source)}"
    return f"images/L{job.layer:02d}/s{job.seed}/{job.kind}/{name}_{short}.png"


class EngineExecute:
    """``execute(batch)`` for a runner: one ``ld.synthesize`` call for B jobs of one (layer, seed)."""

    def __init__(self, vlm: Any, preset: str, steps: int | None):
        self.vlm = vlm
        self.preset = preset
        self.steps = steps

    def targets_for(self, batch: Sequence[Job]) -> dict[str, Any]:
        """Control vectors: random directions from (seed, layer, index), donors' concept vectors."""
        import layerdream as ld

        targets: dict[str, Any] = {}
        for job in batch:
            if job.kind == "random":
                index = int(job.source.split("#", 1)[1])
                targets[job.label] = random_direction(job.seed, job.layer, index, self.vlm.hidden_size)
            elif job.kind == "shuffled":
                targets[job.label] = ld.concept_vector(self.vlm, job.source, layer=job.layer)
        return targets

    def __call__(self, batch: Sequence[Job]) -> list[tuple[Job, Any]]:
        import layerdream as ld

        layer, seed = batch[0].layer, batch[0].seed
        assert all(j.layer == layer and j.seed == seed for j in batch), "a batch must share layer and seed"
        concepts = [j.concept for j in batch if j.kind == "concept"]
        targets = self.targets_for(batch)
        results = ld.synthesize(self.vlm, concepts, layers=[layer], seeds=[seed], preset=self.preset,
                                steps=self.steps, targets=targets or None, batch_size=len(batch), progress=False)
        by_label = {r.label: r for r in results}
        missing = [j.label for j in batch if j.label not in by_label]
        if missing:
            raise RuntimeError(f"synthesize returned no result for {missing[:3]} (got {sorted(by_label)[:3]}...)")
        return [(job, by_label[job.label]) for job in batch]


class Persist:
    """``on_result`` for a runner: write the image and its JSON atomically, then commit the row."""

    def __init__(self, store: Store):
        self.store = store
        self.config_recorded = store.get_meta("synthesis_config") is not None
        self.written = 0

    def __call__(self, item: tuple[Job, Any]) -> None:
        job, result = item
        rel = image_relpath(job)
        png = self.store.run_dir / rel
        png.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        result.to_pil().save(buf, format="PNG")
        data = buf.getvalue()
        atomic_write_bytes(png, data)
        cos0 = _float(getattr(result, "cosine_initial", None))
        cos1 = _float(getattr(result, "cosine_final", None))
        record = {
            "key": job.key, "kind": job.kind, "concept": job.concept, "category": job.category,
            "source": job.source, "layer": job.layer, "seed": job.seed, "image_path": rel,
            "image_sha256": hashlib.sha256(data).hexdigest(), "cosine_initial": cos0, "cosine_final": cos1,
            "seconds": _float(getattr(result, "seconds", None)), "finished_at": time.time(),
        }
        atomic_write_json(png.with_suffix(".json"), {
            **record, "trajectory": getattr(result, "trajectory", None), "config": getattr(result, "config", None)})
        if not self.config_recorded:
            self.store.set_meta("synthesis_config", getattr(result, "config", None))
            self.config_recorded = True
        self.store.add_result(record)
        self.written += 1


def clean_stale_temp_files(run_dir: Path) -> int:
    """Remove the ``.name.xxx.tmp`` files a SIGKILL can leave behind mid-write (never a finished file)."""
    n = 0
    images = run_dir / "images"
    if images.is_dir():
        for tmp in images.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)
            n += 1
    return n


def _float(x: Any) -> float | None:
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None
