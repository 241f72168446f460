"""The notebook-first API: the whole study (sweep, judge, report, align) as Python functions, results as DataFrames.

Why one API: the CLI commands are thin layers over these functions, so a notebook and a terminal get
the same defaults, the same checks and the same guarantees (a sweep resumes, never makes an image twice,
refuses a RUN made with other settings, plans its memory; a judge never loses a verdict), and the
DataFrames are built in one place. The heavy lifting stays in the subsystems (``sweep.sweeper.run_sweep``,
``sweep.judging.judge_run``, ``report.build``, ``diagnostics.align``); this package only assembles.

Its parts: ``study.py`` (``sweep``, ``prepare_sweep``, ``report``), ``judging.py`` (``judge``,
``judge_image``, ``make_judge``), ``alignment.py`` (``align``), ``run.py`` (``Run``, ``open_run``),
``lenses.py`` (``lens``, ``LensResult``), ``catalog.py`` (``families``),
``display.py`` (``show``, ``PNG``), ``coerce.py`` (argument checks shared by all of them). No module is
named after a function (``sweep``, ``report``, ...): importing it would replace the function here.

Nothing heavy at import time: torch, pandas and matplotlib are imported inside the functions that need
them, so ``import layerdream`` stays instant. pandas is an optional extra (``layerdream[notebook]``); the
functions that return DataFrames say so in one line when it is missing.
"""
from __future__ import annotations

from .alignment import Alignment, align
from .catalog import families
from .coerce import (INLINE_SET, METHOD_OPTIONS, _checkpoint_vision, _int_list, _load, _method_options, _pandas,
                     baseline_words, check_image_file, concept_set, protocol_list)
from .display import PNG, _cells, _cos, _data_uri, _reader, keep_matplotlib_backend, show
from .judging import JudgeSummary, judge, judge_image, judge_run_with, judge_summary, make_judge, rates_summary
from .lenses import LensResult, lens
from .run import (CONTROL_KINDS, GALLERY_COLS, GALLERY_ROWS, RECOGNITION_BY, Run, _sort_order, grouped_recognition,
                  open_run)
from .study import _dtype_of, _engine_for, prepare_sweep, report, sweep

__all__ = ["families", "sweep", "prepare_sweep", "report", "judge", "judge_image", "judge_run_with", "make_judge", "JudgeSummary",
           "judge_summary", "rates_summary", "align", "Alignment", "lens", "LensResult", "Run", "open_run", "grouped_recognition", "show",
           "PNG", "keep_matplotlib_backend", "concept_set", "baseline_words", "protocol_list", "check_image_file",
           "RECOGNITION_BY", "CONTROL_KINDS", "INLINE_SET", "METHOD_OPTIONS", "GALLERY_ROWS", "GALLERY_COLS"]
