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

from ..errors import UserError
from ..io import atomic_write_bytes, atomic_write_json, slugify
from .plan import ARMS, Job, random_direction
from .store import Store


def image_relpath(job: Job) -> str:
    """Where a job's PNG lives inside RUN: readable, and unique thanks to a short hash of the key."""
    short = hashlib.sha256(job.key.encode()).hexdigest()[:6]
    name = slugify(job.concept)[:60]  # the hash keeps names unique; a long phrase must still be a legal file name
    if job.kind == "random":
        name += f"__{slugify(job.source)[:40]}"
    elif job.kind == "shuffled":
        name += f"__from_{slugify(job.source)[:40]}"
    return f"images/L{job.layer:02d}/s{job.seed}/{job.kind}/{name}_{short}.png"


SCHEDULE_FIELDS = ("lr", "tau", "lr_source", "tau_source", "paper_layer")


def check_schedule(stored: dict[str, dict[str, Any]], planned: dict[str, dict[str, Any]], run_dir: Path) -> dict[str, dict[str, Any]]:
    """``stored`` and ``planned`` per-layer schedules merged; UserError where a layer's lr or tau would change."""
    import math

    for layer, new in planned.items():
        old = stored.get(layer)
        if old is None:
            continue
        if any(not math.isclose(float(old[k]), float(new[k]), rel_tol=1e-9) for k in ("lr", "tau")):
            raise UserError(
                f"RUN {str(run_dir)!r} made its layer-{layer} images with lr {old['lr']:.4g} and tau {old['tau']:.4g} "
                f"({old.get('lr_source')}); this sweep would use lr {new['lr']:.4g} and tau {new['tau']:.4g} "
                f"({new.get('lr_source')}); pass --lr {old['lr']:.6g} --tau {old['tau']:.6g} to continue it, or use a new --out")
    return {**stored, **planned}


class EngineExecute:
    """``execute(batch)`` for a runner: one ``ld.synthesize`` call for B jobs of one (layer, seed).

    Shuffled controls go in as *concepts* (the donor's name), not as precomputed vectors, so their
    vectors come from exactly the same code, prompt format and baseline as the real concepts'.
    Results are matched to jobs by position (the engine returns them in input order, concepts then
    targets) because a donor's label equals the name of a concept job in the same batch.
    """

    def __init__(self, vlm: Any, preset: str | None, steps: int | None, options: dict[str, Any] | None = None,
                 resources: dict[str, Any] | None = None, preset_rule: str | None = None):
        self.vlm = vlm
        self.preset = preset
        self.steps = steps
        self.options = dict(options or {})
        if preset_rule:  # which rule chose the preset: recorded with each image (travels to Ray workers in options)
            self.options["preset_rule"] = preset_rule
        self.resources = dict(resources or {})  # max_memory, checkpoint_vision: speed only, never the images

    def planned_batch(self, jobs: Sequence[Job], cap: int | None = None) -> int:
        """Jobs per engine call: the concepts per forward that the memory planner allows at the
        deepest pending layer (the most memory), so that every forward's results are persisted as
        soon as they exist rather than after a long call."""
        import dataclasses

        from ..synthesis.memory import plan
        from ..synthesis.presets import SynthesisConfig, choose_preset, make_config

        layer = max(j.layer for j in jobs)
        fields = {f.name for f in dataclasses.fields(SynthesisConfig)}
        cfg = make_config(choose_preset(self.preset, self.vlm)[0], announce=False, image_size=self.vlm.image_size, grid=self.vlm.grid, layer=layer,
                          num_layers=self.vlm.num_layers, steps=self.steps,
                          **{k: v for k, v in self.options.items() if k in fields})
        cfg.prompt_format = self.vlm.resolve_prompt_format(cfg.prompt_format)
        largest = max(sum(1 for j in jobs if (j.layer, j.seed) == key) for key in {(j.layer, j.seed) for j in jobs})
        return plan(self.vlm, cfg, layer, largest, self.resources.get("max_memory"), cap,
                    self.resources.get("checkpoint_vision", "auto")).concepts_per_forward

    def schedule(self, layers: Sequence[int]) -> dict[str, dict[str, Any]]:
        """Per layer, the lr and tau this sweep's images are made with and where they came from
        (paper / interpolated / preset / given): the RUN keeps it, and a resume that would make them
        otherwise (another layerdream whose interpolation differs) is refused instead of mixed."""
        import dataclasses

        from ..synthesis.presets import SynthesisConfig, choose_preset, make_config

        fields = {f.name for f in dataclasses.fields(SynthesisConfig)}
        preset = choose_preset(self.preset, self.vlm)[0]
        out = {}
        for layer in sorted(set(layers)):
            cfg = make_config(preset, image_size=self.vlm.image_size, grid=self.vlm.grid, layer=layer,
                              num_layers=self.vlm.num_layers, announce=False, steps=self.steps,
                              **{k: v for k, v in self.options.items() if k in fields})
            out[str(layer)] = {k: getattr(cfg, k) for k in SCHEDULE_FIELDS}
        return out

    def preflight(self, concepts: Sequence[str], layers: Sequence[int]) -> None:
        """Fail in seconds, not hours in: every layer exists and every concept tokenises (UserError otherwise)."""
        import layerdream as ld

        for layer in layers:
            self.vlm.check_layer(layer)
        kwargs = {k: self.options[k] for k in ("prompt_format", "baseline") if self.options.get(k) is not None}
        ld.concept_vectors(self.vlm, list(concepts), min(layers), **kwargs)

    def __call__(self, batch: Sequence[Job]) -> list[tuple[Job, Any]]:
        """The batch's images; ablation-arm jobs go in a call of their own per arm (their option differs)."""
        main = [j for j in batch if j.kind not in ARMS]
        out = self._synthesize(main) if main else []
        for arm in sorted({j.kind for j in batch if j.kind in ARMS}):
            out += self._synthesize([j for j in batch if j.kind == arm], ARMS[arm])
        order = {j.key: i for i, j in enumerate(batch)}
        return sorted(out, key=lambda pair: order[pair[0].key])

    def _synthesize(self, batch: Sequence[Job], arm_options: dict[str, Any] | None = None) -> list[tuple[Job, Any]]:
        import layerdream as ld

        layer, seed = batch[0].layer, batch[0].seed
        assert all(j.layer == layer and j.seed == seed for j in batch), "a batch must share layer and seed"
        by_name = [j for j in batch if j.kind != "random"]
        names = [j.concept if j.kind == "concept" else j.source for j in by_name]
        randoms = [j for j in batch if j.kind == "random"]
        targets = {j.label: random_direction(seed, layer, int(j.source.split("#", 1)[1]), self.vlm.hidden_size)
                   for j in randoms}
        # a shuffled control's donor may also be a concept of this batch (or two controls share one):
        # the same vector, layer and seed is the same image, so it is made once and given to each job
        unique = list(dict.fromkeys(names))
        options = {**self.options, **(arm_options or {})}
        results = ld.synthesize(self.vlm, unique, layers=[layer], seeds=[seed], preset=self.preset, steps=self.steps,
                                targets=targets or None, batch_size=len(batch), progress=False, **options,
                                **{k: v for k, v in self.resources.items() if k != "batch_size"})
        expected = unique + [j.label for j in randoms]
        got = [r.label for r in results]
        if got != expected:
            raise RuntimeError(f"synthesize returned labels {got[:4]}... for {expected[:4]}...; the sweep relies on input order")
        made = dict(zip(unique, results))
        return [(j, made[name]) for j, name in zip(by_name, names)] + list(zip(randoms, results[len(unique):]))


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
        config = getattr(result, "config", None)
        extra = {k: config[k] for k in SCHEDULE_FIELDS if k in config} if isinstance(config, dict) else {}
        for k in ("effective_tokens", "image_tokens"):  # what the report shows per image without opening its JSON
            if getattr(result, k, None) is not None:
                extra[k] = getattr(result, k)
        if extra:
            record["extra"] = extra
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
