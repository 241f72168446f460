"""Sweeps: concepts x layers x seeds (+ controls) into a crash-safe, resumable RUN folder.

Modules: ``conceptsets`` (paper/toy/YAML/CSV), ``plan`` (jobs and controls), ``store`` (SQLite),
``runner`` (the Runner seam, LocalRunner), ``execute`` (engine glue and persistence), ``sweeper``
(``run_sweep``), ``judging`` (``judge_run``); the commands are in ``layerdream.cli``. See docs/sweeps.md.
"""
from .._lazy import lazy

__getattr__, __dir__ = lazy(__name__, {
    "Concept": ".conceptsets",
    "ConceptSet": ".conceptsets",
    "load_concept_set": ".conceptsets",
    "Job": ".plan",
    "plan_jobs": ".plan",
    "random_direction": ".plan",
    "LocalRunner": ".runner",
    "Runner": ".runner",
    "JobFailure": ".runner",
    "RayRunner": ".ray_runner",
    "Store": ".store",
    "SweepSpec": ".sweeper",
    "run_sweep": ".sweeper",
})

__all__ = ["Concept", "ConceptSet", "load_concept_set", "Job", "plan_jobs", "random_direction", "LocalRunner",
           "Runner", "JobFailure", "RayRunner", "Store", "SweepSpec", "run_sweep"]
