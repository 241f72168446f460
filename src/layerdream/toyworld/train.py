"""Reproduce the shipped toy world from scratch, stage by stage, resumably.

Stages (each writes ``stages/<name>.safetensors`` and then ``stages/<name>.json``; the json is the
completion marker, so an interrupted run re-does only the stage it was in):

judge -> vision -> robust -> text -> aligned, plain-projector -> plain, shuffled -> export

* ``vision``/``robust``: the SigLIP tower, shared by all three VLMs (supervised, then robust);
* ``text``: the Gemma 3 LM pre-trained on text only (the way adapter VLMs start from an LLM);
* ``aligned``: joint projector + LM training with captions, text-as-image rows and the alignment
  loss at the aligned layers (positive control, the default model);
* ``plain-projector`` then ``plain``: projector with the LM frozen, then joint, no alignment loss;
* ``shuffled``: the aligned recipe on image-caption pairs shuffled within each batch (negative control);
* ``export``: ``save_pretrained`` folders with processor, ``baseline_words.txt`` and ``toyworld.json``.

Three more stages run only when named (``--stage toy-gemma --stage toy-gemma-aligned --stage
toy-gemma-cotrained``): adapters on the real, frozen Gemma 3 270M (extra ``realmodel``;
``toyworld.gemma_train``), each writing its folder directly. Their tower is ``stages/robust`` when this
run has it, else the shipped toy tower; ``toy-gemma-cotrained`` continues from this run's toy-gemma
folder when it has one, else the shipped toy-gemma, and trains the LM too (LoRA; ``gemma_lora``).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import torch

from ..io import atomic_write_bytes, atomic_write_json, versions
from . import judge as judge_mod
from . import lm, probe, vision, world

MODEL_SEED = 0
ALIGNED_LAYERS = (1, 2)
ARCH = dict(
    image_size=64, patch_size=8, mm_tokens_per_image=16,
    vision=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4),
    text=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
              num_key_value_heads=2, head_dim=32, query_pre_attn_scalar=32),
)
STEPS = {"judge": 600, "vision": 1500, "robust": 120, "text": 200, "aligned": 250, "plain-projector": 100,
         "plain": 120, "shuffled": 150}
TRAIN_POOL_SEED, POOL_SIZE = 1, 4096  # one pool of world samples shared by the VLM stages
VISION_POOL_SIZE = 16384  # the tower sees 96k images; shape overfits a 4096-image pool
QUICK_STEPS = {k: 2 for k in STEPS}
STAGES = ["vision", "robust", "text", "aligned", "judge", "plain-projector", "plain", "shuffled", "export"]
GEMMA_STAGES = ["toy-gemma", "toy-gemma-aligned", "toy-gemma-cotrained"]  # opt-in: hours of CPU, the realmodel extra
GEMMA_SEED = 0


def build_base():
    """The untrained toy VLM (same seed for all three, so they differ only by training)."""
    from ..models.tiny import build_tiny_gemma3

    return build_tiny_gemma3(world.VOCAB, seed=MODEL_SEED, **ARCH)


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


class Runner:
    def __init__(self, out: Path, quick: bool, progress: Callable[[str], None]):
        self.out, self.quick, self.progress = out, quick, progress
        self.stage_dir = out / "stages"
        self.stage_dir.mkdir(parents=True, exist_ok=True)
        self.steps = QUICK_STEPS if quick else STEPS
        self.pool = 64 if quick else POOL_SIZE
        self.vision_pool = 64 if quick else VISION_POOL_SIZE
        self.model, self.tok, self.proc = build_base()
        self.rows = lm.Rows(self.tok, self.proc)

    def done(self, name: str) -> dict | None:
        f = self.stage_dir / f"{name}.json"
        return json.loads(f.read_text()) if f.is_file() else None

    def save(self, name: str, state: dict | None, metrics: dict) -> dict:
        from safetensors.torch import save

        if state is not None:
            atomic_write_bytes(self.stage_dir / f"{name}.safetensors", save(state))
        atomic_write_json(self.stage_dir / f"{name}.json", metrics)
        return metrics

    def load_model(self, name: str):
        from safetensors.torch import load_file

        self.model.load_state_dict(load_file(str(self.stage_dir / f"{name}.safetensors")))
        self.model.eval()
        return self.model

    # -- stages ------------------------------------------------------------------------------
    def toy_gemma(self):
        return self._gemma("toy-gemma")

    def toy_gemma_aligned(self):
        return self._gemma("toy-gemma-aligned")

    def toy_gemma_cotrained(self):
        return self._gemma("toy-gemma-cotrained")

    def _gemma(self, name: str):
        from . import checkpoint_path, gemma, gemma_lora, gemma_train

        recipe = dict(gemma_train.RECIPES[name])
        if recipe.get("start"):  # stage 2: toy-gemma of this run when it has one, else the shipped toy-gemma
            source = self.out / recipe["start"] / "model.safetensors"
            if not source.is_file():
                source = checkpoint_path(recipe["start"]) / "model.safetensors"
            tower = gemma.small_weights(source)
        else:
            source = self.stage_dir / "robust.safetensors"
            if not source.is_file():
                source = checkpoint_path("toy-aligned") / "model.safetensors"
            tower = gemma.tower_state(source)
        if self.quick:
            recipe["steps"] = 2
            recipe["retention_data"] = dict(n_train=4, n_eval=2, length=8)
            recipe["probe_layers"] = [1]  # the pipeline, not the measurement: one layer of concept vectors
        model, proc, m = gemma_train.run_recipe(
            recipe, seed=GEMMA_SEED, vision_config=self.model.config.vision_config.to_dict(), tower_state=tower,
            checkpoint=self.stage_dir / f"{name}.partial.pt", progress=self.progress, name=name,
            probe_n=16 if self.quick else 280)
        m["tower_from"] = str(source)
        recipe_text = ("positive control: captioning plus the alignment loss at layers 1-2" if recipe["align_layers"]
                       else "ordinary adapter training: next-token captioning through the frozen LM, nothing else")
        extra = {}
        if recipe.get("lm") == "lora":
            recipe_text = (f"stage 2 after {recipe['start']}: the same captioning, with the LM trained too (LoRA rank "
                           f"{recipe['lora_rank']} on blocks {recipe['lora_blocks']}, attention and MLP) plus text "
                           f"retention (KL to the frozen 270M, weight {recipe['retention']})")
            extra["lora"] = {"rank": recipe["lora_rank"], "alpha": recipe["lora_alpha"],
                             "scale": recipe["lora_alpha"] / recipe["lora_rank"], "blocks": recipe["lora_blocks"],
                             "targets": list(gemma_lora.TARGETS)}
        info = {"name": name, "seed": GEMMA_SEED, "aligned_layers": list(recipe["align_layers"]), **extra,
                "recipe": recipe_text,
                "layer_convention": "layer l = hidden_states[l] = output of decoder block l",
                "world": {"categories": world.CATEGORIES, "image_size": world.IMAGE_SIZE, "templates": world.TEMPLATES},
                "training": m, "versions": versions()}
        gemma.save(self.out / name, model, proc, info)
        return None, m

    def judge(self):
        j, metrics = judge_mod.train_judge(steps=self.steps["judge"], pool_size=self.pool, progress=self.progress)
        judge_mod.save_judge(j, self.stage_dir / "judge")
        return None, metrics

    def vision(self):
        tower = self.model.model.vision_tower
        heads, m = vision.train_tower(tower, steps=self.steps["vision"], batch=64, lr=2e-3, seed=1, robust=False,
                                      data_seed0=TRAIN_POOL_SEED, pool_size=self.vision_pool, progress=self.progress,
                                      checkpoint=self.stage_dir / "vision.partial.pt")
        torch.save(heads.state_dict(), self.stage_dir / "vision_heads.pt")
        return _state(self.model), m

    def robust(self):
        self.load_model("vision")
        heads = vision.VisionHeads(self.model.config.vision_config.hidden_size)
        heads.load_state_dict(torch.load(self.stage_dir / "vision_heads.pt"))
        _, m = vision.train_tower(self.model.model.vision_tower, steps=self.steps["robust"], batch=64, lr=5e-4,
                                  seed=2, robust=True, heads=heads, data_seed0=TRAIN_POOL_SEED, pool_size=self.vision_pool, progress=self.progress)
        return _state(self.model), m

    def _vlm(self, start: str, **kw):
        self.load_model(start)
        m = lm.train_vlm(self.model, self.rows, progress=self.progress, **kw)
        m["probe"] = probe.probe(self.model, self.rows, n=16 if self.quick else 200)
        return _state(self.model), m

    def text(self):
        return self._vlm("robust", steps=self.steps["text"], lr=2e-3, seed=3, data_seed0=TRAIN_POOL_SEED, pool_size=self.pool, n_img=0,
                         n_text=64, train_projector=False, name="text")

    def aligned(self):
        return self._vlm("text", steps=self.steps["aligned"], lr=1e-3, seed=4, data_seed0=TRAIN_POOL_SEED, pool_size=self.pool, n_img=32,
                         n_tai=16, n_text=16, align_layers=ALIGNED_LAYERS, name="aligned")

    def plain_projector(self):
        return self._vlm("text", steps=self.steps["plain-projector"], lr=2e-3, seed=5, data_seed0=TRAIN_POOL_SEED, pool_size=self.pool,
                         n_img=48, n_text=0, train_lm=False, name="plain-projector")

    def plain(self):
        return self._vlm("plain-projector", steps=self.steps["plain"], lr=1e-3, seed=6, data_seed0=TRAIN_POOL_SEED, pool_size=self.pool,
                         n_img=32, n_text=16, name="plain")

    def shuffled(self):
        return self._vlm("text", steps=self.steps["shuffled"], lr=1e-3, seed=7, data_seed0=TRAIN_POOL_SEED, pool_size=self.pool, n_img=32,
                         n_tai=16, n_text=16, align_layers=ALIGNED_LAYERS, shuffle=True, name="shuffled")

    def export(self):
        out = {}
        recipes = {
            "toy-aligned": ("aligned", list(ALIGNED_LAYERS), "positive control: alignment loss at the aligned layers"),
            "toy-plain": ("plain", [], "ordinary adapter-VLM training (text LM -> projector with LM frozen -> joint)"),
            "toy-shuffled": ("shuffled", [], "negative control: the aligned recipe on shuffled image-caption pairs"),
        }
        for name, (stage, aligned, recipe) in recipes.items():
            self.load_model(stage)
            info = {
                "name": name, "recipe": recipe, "aligned_layers": aligned, "seed": MODEL_SEED,
                "layer_convention": "layer l = hidden_states[l] = output of decoder block l",
                "world": {"categories": world.CATEGORIES, "image_size": world.IMAGE_SIZE,
                          "templates": world.TEMPLATES, "object_radius": [14, 22], "object_centre": [22, 42]},
                "architecture": ARCH,
                "training": {s: self.done(s) for s in self._lineage(stage)},
                "versions": versions(),
            }
            self._export_folder(self.out / name, info)
            out[name] = str(self.out / name)
        jdir = self.out / "judge"
        tmp = self.out / ".judge.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(self.stage_dir / "judge", tmp)
        shutil.rmtree(jdir, ignore_errors=True)
        os.replace(tmp, jdir)
        return None, {"folders": out}

    @staticmethod
    def _lineage(stage: str) -> list[str]:
        base = ["vision", "robust", "text"]
        return base + {"aligned": ["aligned"], "plain": ["plain-projector", "plain"], "shuffled": ["shuffled"]}[stage]

    def _export_folder(self, folder: Path, info: dict) -> None:
        tmp = folder.parent / f".{folder.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.model.save_pretrained(tmp)
        self.proc.save_pretrained(tmp)
        (tmp / "baseline_words.txt").write_text("\n".join(world.BASELINE_WORDS) + "\n")
        (tmp / "toyworld.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)


def train_all(out: str | Path, *, quick: bool = False, progress: Callable[[str], None] = print,
              stages: list[str] | None = None, threads: int = 2) -> dict:
    """Run (or resume) every stage into ``out``; returns and writes ``out/metrics.json``.

    ``stages`` runs only those (their predecessors must be finished): independent branches
    (judge; aligned; plain-projector + plain; shuffled) can then train in separate processes.
    """
    from ..errors import UserError

    out = Path(out)
    unknown = sorted(set(stages or []) - set(STAGES) - set(GEMMA_STAGES))
    if unknown:
        raise UserError(f"unknown stage(s) {unknown}; stages are {', '.join(STAGES + GEMMA_STAGES)}")
    torch.set_num_threads(max(1, min(threads, os.cpu_count() or 1)))
    runner = Runner(out, quick, progress)
    t_all = time.time()
    metrics: dict = {"quick": quick, "stages": {}}
    order = STAGES + [g for g in GEMMA_STAGES if g in (stages or [])]
    for i, name in enumerate(order, 1):
        if stages and name not in stages:
            continue
        prev = runner.done(name)
        if prev is not None:
            progress(f"[{i}/{len(order)}] {name}: done earlier, skipped")
            metrics["stages"][name] = prev
            continue
        progress(f"[{i}/{len(order)}] {name}: running")
        t0 = time.time()
        state, m = getattr(runner, name.replace("-", "_"))()
        m["seconds_stage"] = round(time.time() - t0, 1)
        metrics["stages"][name] = runner.save(name, state, m)
        (runner.stage_dir / f"{name}.partial.pt").unlink(missing_ok=True)  # mid-stage progress, now superseded
        progress(f"[{i}/{len(order)}] {name}: finished in {m['seconds_stage']:.0f}s")
        if not stages:
            atomic_write_json(out / "metrics.json", {**metrics, "versions": versions()})
    metrics["seconds_this_run"] = round(time.time() - t_all, 1)
    if not stages:
        atomic_write_json(out / "metrics.json", {**metrics, "versions": versions()})
    return metrics
