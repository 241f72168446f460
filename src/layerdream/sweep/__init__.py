"""Sweeps: concepts x layers x seeds (+ controls) into a crash-safe, resumable RUN folder.

Modules: ``conceptsets`` (paper/toy/YAML/CSV), ``plan`` (jobs and controls), ``store`` (SQLite),
``runner`` (the Runner seam, LocalRunner), ``execute`` (engine glue and persistence), ``sweeper``
(``run_sweep``), ``judging`` (``judge_run``), ``cli``. See docs/sweeps.md.
"""
from .conceptsets import Concept, ConceptSet, load_concept_set
from .plan import Job, plan_jobs, random_direction
from .runner import LocalRunner, Runner
from .store import Store
from .sweeper import SweepSpec, run_sweep

__all__ = ["Concept", "ConceptSet", "load_concept_set", "Job", "plan_jobs", "random_direction", "LocalRunner",
           "Runner", "Store", "SweepSpec", "run_sweep"]
