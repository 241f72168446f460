"""``Run`` (``ld.open_run``): a RUN folder read-only, as DataFrames (results, verdicts, recognition with its
controls, cosines) and inline display. Every method reads the RUN's SQLite file afresh."""
from __future__ import annotations

import html as _html
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .. import checks
from ..errors import UserError
from .coerce import _pandas
from .display import PNG, _data_uri, keep_matplotlib_backend

if TYPE_CHECKING:  # only for type checkers: importing these costs seconds
    import pandas as pd

    from ..sweep.sweeper import SweepOutcome


RECOGNITION_BY = ("category", "concept", "layer", "seed")
CONTROL_KINDS = ("random", "shuffled")
ARM_COLUMNS = ("rate", "k", "n", "images", "concepts", "ci_concepts_lo", "ci_concepts_hi", "ci_queries_lo", "ci_queries_hi")


def _column(arm: str) -> str:
    """An ablation arm's kind as a column prefix: weighting-mean -> weighting_mean."""
    return arm.replace("-", "_")
GALLERY_ROWS, GALLERY_COLS = 12, 10  # a run's inline gallery: at most this many concepts x layers


class Run:
    """A sweep's RUN folder, read-only: its images, verdicts and tables as DataFrames, and inline display.

    Every method reads the RUN afresh (its SQLite file is the truth), so a Run shows a sweep or a judge
    still running in another process. Nothing here writes to the RUN.
    """

    def __init__(self, path: str | os.PathLike[str]):
        from ..sweep.store import Store

        self.path = Path(checks.path(path, "the RUN folder"))
        Store.open_existing(self.path, readonly=True).close()  # one line if it is no RUN
        self.outcome: SweepOutcome | None = None  # set by ld.sweep: what that call did

    def _data(self, judge: str | None = None) -> dict[str, Any]:
        from ..report.build import load

        return load(self.path, judge)

    def _store(self, read: Callable[[Any], Any]) -> Any:
        from ..sweep.store import Store

        store = Store.open_existing(self.path, readonly=True)
        try:
            return read(store)
        finally:
            store.close()

    @property
    def settings(self) -> dict[str, Any]:
        """What the RUN was made with (model, preset, steps, concept set, controls, layers, seeds, options),
        and ``preset_rule``: whether the preset was given or the default for the model (RUNs from before
        the rule was recorded: None)."""
        return self._store(lambda s: {**(s.get_meta("settings") or {}), "preset_rule": s.get_meta("preset_rule")})

    @property
    def judges(self) -> list[str]:
        """The judges with verdicts in this RUN, most recent first."""
        return self._store(lambda s: s.judges())

    def results(self) -> pd.DataFrame:
        """One row per image: concept, category, kind (concept | random | shuffled), layer, seed, cosines,
        image path (absolute), and source (what made it: the concept, a donor concept, random#i)."""
        pd = _pandas()
        rows = [{"concept": r["concept"], "category": r["category"], "kind": r["kind"], "layer": r["layer"],
                 "seed": r["seed"], "cosine_initial": r["cosine_initial"], "cosine_final": r["cosine_final"],
                 "image_path": str(self.path / r["image_path"]), "source": r["source"], "seconds": r["seconds"],
                 "key": r["key"], "image_sha256": r["image_sha256"]}
                for r in self._data()["results"]]
        columns = ["concept", "category", "kind", "layer", "seed", "cosine_initial", "cosine_final", "image_path",
                   "source", "seconds", "key", "image_sha256"]
        return pd.DataFrame(rows, columns=columns)

    def verdicts(self, judge: str | None = None) -> pd.DataFrame:
        """One row per query of ``judge`` (default the latest; a stored id or its start, e.g. "toy") about the
        images the RUN holds now: score 1/0, or None with ``error`` set for a failed query."""
        pd = _pandas()
        data = self._data(judge)
        about = {r["key"]: r for r in data["results"]}
        rows = []
        for v in data["verdicts"]:
            r = about.get(v["key"], {})
            rows.append({"concept": v["concept"], "category": r.get("category"), "kind": r.get("kind"),
                         "layer": r.get("layer"), "seed": r.get("seed"), "protocol": v["protocol"],
                         "query_index": v["query_index"], "score": v["score"], "answer": v["answer"], "error": v["error"],
                         "judge": v["judge"], "grader": v["grader"], "prompt_version": v["prompt_version"], "key": v["key"]})
        columns = ["concept", "category", "kind", "layer", "seed", "protocol", "query_index", "score", "answer", "error",
                   "judge", "grader", "prompt_version", "key"]
        frame = pd.DataFrame(rows, columns=columns)
        frame.attrs.update(judge=data["judge"], grader=data["grader"])
        return frame

    def recognition(self, by: str | Sequence[str] = ("category", "layer"), protocol: str | None = None,
                    judge: str | None = None, controls: str = "same") -> pd.DataFrame:
        """Recognition rate of the concepts per group, one row per (group, protocol); protocols are never pooled.

        ``by``: any of category, concept, layer, seed. Columns: the ``by`` keys, protocol, images, k
        (positive answers), n (scored answers), rate with its 95 % Wilson interval over queries
        (ci_queries_lo/hi), image_rate with its interval over images (ci_images_lo/hi), errors, and each
        control's rate beside it: random_rate, random_ci_queries_lo/hi, random_n, random_images, and the
        same for shuffled. ``controls="same"``: the controls of the same group; ``"pooled"``: all
        categories' controls at the same layer (and seed), as the report's figure draws them.

        Also: ``concepts`` and ``ci_concepts_lo/hi``, the 95 % interval over concepts (bootstrap, each
        concept with all its seeds; the one for a claim about concepts); per control kind its
        ``base_rate`` (answers graded against every label of the category) and the one-sided
        permutation test of concept images against those controls, ``<kind>_p`` and ``<kind>_effect``
        (concept rate minus control rate); ``controls_p``, ``controls_effect``, ``controls_n``: the
        same against both kinds together (docs/evaluation.md). A RUN made with ``ablation="weighting"``
        adds each arm beside the main result, as the report does: ``weighting_mean_*`` (mean pooling)
        and ``weighting_noprior_*`` (the spatial prior off), each ``rate``, ``k``, ``n``, ``images``,
        ``concepts``, ``ci_concepts_lo/hi``, ``ci_queries_lo/hi``.
        """
        from ..evaluation.prompts import PROTOCOLS
        from ..evaluation.stats import concept_vs_control
        from ..report.tables import image_values
        from ..sweep.plan import ARMS

        pd = _pandas()
        keys = (by,) if isinstance(by, str) else tuple(by)
        if not keys or len(set(keys)) != len(keys) or any(k not in RECOGNITION_BY for k in keys):
            raise UserError(f"by must be one or more of {', '.join(RECOGNITION_BY)} (each once), got {by!r}")
        if protocol is not None and protocol not in PROTOCOLS:
            raise UserError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
        if controls not in ("same", "pooled"):
            raise UserError(f"controls must be 'same' or 'pooled', got {controls!r}")
        data = self._data(judge)
        verdicts = [v for v in data["verdicts"] if protocol is None or v["protocol"] == protocol]
        labels = data.get("label_scores") or []
        rows = grouped_recognition(data["results"], verdicts, keys, labels)
        control_keys = keys if controls == "same" else tuple(k for k in keys if k in ("layer", "seed"))
        chance = rows if control_keys == keys else grouped_recognition(data["results"], verdicts, control_keys, labels)
        values = image_values(data["results"], verdicts, labels)
        info = {r["key"]: r for r in data["results"]}
        arms = [arm for arm in ARMS if any(r["kind"] == arm for r in data["results"])]
        out = []
        for row in rows:
            if row["kind"] != "concept":
                continue
            entry = {k: row[k] for k in keys}
            entry["protocol"] = row["protocol"]
            entry.update({k: row[k] for k in ("images", "k", "n", "rate", "ci_queries_lo", "ci_queries_hi", "image_rate",
                                               "ci_images_lo", "ci_images_hi", "errors", "concepts", "ci_concepts_lo",
                                               "ci_concepts_hi")})
            mine = [(info[key], v) for (key, proto), v in values.items() if proto == row["protocol"]]
            units: dict[str, list[float]] = {}
            for r, v in mine:
                if r["kind"] == "concept" and all(r[k] == row[k] for k in keys):
                    units.setdefault(r["concept"], []).append(v)
            pooled: list[float] = []
            for kind in CONTROL_KINDS:
                match = next((c for c in chance if c["kind"] == kind and c["protocol"] == row["protocol"]
                              and all(c[k] == row[k] for k in control_keys)), None)
                for col in ("rate", "ci_queries_lo", "ci_queries_hi", "n", "images", "base_rate"):
                    entry[f"{kind}_{col}"] = None if match is None else match[col]
                ctrl = [v for r, v in mine if r["kind"] == kind and all(r[k] == row[k] for k in control_keys)]
                pooled += ctrl
                test = concept_vs_control(units, ctrl)
                entry[f"{kind}_p"], entry[f"{kind}_effect"] = test["p"], test["effect"]
            test = concept_vs_control(units, pooled)
            entry["controls_p"], entry["controls_effect"], entry["controls_n"] = test["p"], test["effect"], test["n_controls"]
            for arm in arms:  # the same group made again with another weighting: judged against the concept
                match = next((c for c in rows if c["kind"] == arm and c["protocol"] == row["protocol"]
                              and all(c[k] == row[k] for k in keys)), None)
                for col in ARM_COLUMNS:
                    entry[f"{_column(arm)}_{col}"] = None if match is None else match[col]
            out.append(entry)
        columns = [*keys, "protocol", "images", "k", "n", "rate", "ci_queries_lo", "ci_queries_hi", "image_rate",
                   "ci_images_lo", "ci_images_hi", "errors", "concepts", "ci_concepts_lo", "ci_concepts_hi",
                   *[f"{kind}_{col}" for kind in CONTROL_KINDS
                     for col in ("rate", "ci_queries_lo", "ci_queries_hi", "n", "images", "base_rate", "p", "effect")],
                   "controls_p", "controls_effect", "controls_n",
                   *[f"{_column(arm)}_{col}" for arm in arms for col in ARM_COLUMNS]]
        frame = pd.DataFrame(out, columns=columns)
        order = _sort_order(data["concepts"])
        frame = frame.sort_values(by=["protocol", *keys], key=lambda col: col.map(lambda v: order(col.name, v)),
                                  kind="stable").reset_index(drop=True)
        frame.attrs.update(judge=data["judge"], grader=data["grader"], controls=controls)
        return frame

    def cosines(self) -> pd.DataFrame:
        """Mean final cosine per (kind, category or All, layer): the engine's own score, before any judge."""
        return _pandas().DataFrame(self._data()["cosine"])

    def plot_recognition(self, protocol: str | None = None, judge: str | None = None) -> PNG:
        """The report's Figure 3 for one protocol (default the first judged): rate vs layer per category,
        95 % band (bootstrap over concepts; Wilson over queries for a one-concept cell), random and
        shuffled controls as gray chance lines. An inline image."""
        import tempfile

        from ..report.build import _figure_title, sections
        from ..report.plots import figure3

        data = self._data(judge)
        found = sections(data)
        if not found:
            raise UserError(f"RUN {str(self.path)!r} has no verdicts yet; judge it first: ld.judge(run, 'toy')")
        one = len(found) == 1 and data.get("one_question")  # the judge gave both protocols identical answers
        chosen = [s for s in found if protocol is None or one or s[1] == protocol]
        if not chosen:
            raise UserError(f"no verdicts for protocol {protocol!r}; judged protocols: {[p for _, p in found]}")
        heading, proto = chosen[0]
        with tempfile.TemporaryDirectory(prefix="layerdream-plot-") as tmp, keep_matplotlib_backend():
            png = figure3(data["table"], proto, Path(tmp) / "figure3.png", title=_figure_title(heading, data["grader"]))
            if png is None:
                raise UserError(f"nothing to plot: no scored query for protocol {proto!r} (all failed?)")
            return PNG(png.read_bytes())

    def show(self, **kwargs: Any) -> Any:
        """The concept x layer grid of this RUN's images (:func:`show`)."""
        from .display import show

        return show(self, **kwargs)

    def report(self, **kwargs: Any) -> Path | str:
        """The RUN's report (:func:`report`)."""
        from .study import report  # study.py builds on Run: imported when called

        return report(self, **kwargs)

    def __repr__(self) -> str:
        data = self._data()
        return (f"Run({str(self.path)!r}: {len(data['results'])} of {data['planned']} images, "
                f"judges {data['judges'] or 'none yet'})")

    def _repr_html_(self) -> str:
        try:
            return self._html()
        except Exception as err:  # noqa: BLE001 - a display must never raise; the text repr still works
            return f"<pre>{_html.escape(repr(self))}\n(no gallery: {_html.escape(type(err).__name__)}: {_html.escape(str(err))})</pre>"

    def _html(self) -> str:
        from ..report.build import sections

        data = self._data()
        settings = data["config"]["settings"]
        results = [r for r in data["results"] if r["kind"] == "concept"]
        seed = min((r["seed"] for r in results), default=None)
        cells = {(r["concept"], r["layer"]): r for r in results if r["seed"] == seed}
        concepts = [c["name"] for c in data["concepts"] if any(c["name"] == k for k, _ in cells)]
        layers = sorted({layer for _, layer in cells})
        head = (f"<b>RUN {_html.escape(str(self.path))}</b>: {len(data['results'])} of {data['planned']} images; model "
                f"{_html.escape(str(settings.get('model')))}, preset {_html.escape(str(settings.get('preset')))}; judge: "
                f"{_html.escape(str(data['judge'] or 'none yet'))}")
        shown_c, shown_l = concepts[:GALLERY_ROWS], layers[:GALLERY_COLS]
        more = ""
        if len(concepts) > len(shown_c) or len(layers) > len(shown_l):
            more = (f"<br><i>first {len(shown_c)} of {len(concepts)} concepts, {len(shown_l)} of {len(layers)} layers; "
                    "ld.show(run, concepts=..., layers=...) for others</i>")
        rows = ["<tr><th></th>" + "".join(f"<th>layer {l}</th>" for l in shown_l) + "</tr>"]
        for c in shown_c:
            tds = []
            for l in shown_l:
                r = cells.get((c, l))
                if r is None:
                    tds.append("<td></td>")
                    continue
                uri = _data_uri((self.path / r["image_path"]).read_bytes())
                cos = "" if r["cosine_final"] is None else f"cos {r['cosine_final']:.2f}"
                tds.append(f"<td style='text-align:center'><img src='{uri}' width='96' style='image-rendering:pixelated'>"
                           f"<br><small>{cos}</small></td>")
            rows.append(f"<tr><th style='text-align:right'>{_html.escape(c)}</th>{''.join(tds)}</tr>")
        gallery = f"<table>{''.join(rows)}</table>" if shown_c else "<i>no concept images yet</i>"
        plot = ""
        if data["verdicts"] and sections(data):
            plot = f"<br><img src='{_data_uri(self.plot_recognition().data)}' style='max-width:100%'>"
        caption = f"<br><small>concept images, seed {seed}</small>" if seed is not None else ""
        return f"<div>{head}{more}{gallery}{caption}{plot}</div>"


def grouped_recognition(results: list[dict[str, Any]], verdicts: list[dict[str, Any]], keys: Sequence[str],
                        label_scores: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """``report.tables.recognition_table`` grouped by ``keys`` instead of (category, layer): the same counts
    and Wilson intervals, computed by the same code. Each row carries its group's key values."""
    from ..report.tables import ALL, recognition_table

    group = [k for k in keys if k != "layer"]
    relabelled = [{**r, "category": "\x1f".join(str(r[k]) for k in group), "layer": r["layer"] if "layer" in keys else 0}
                  for r in results]
    values = {"\x1f".join(str(r[k]) for k in group): {k: r[k] for k in group} for r in results}
    out = []
    for row in recognition_table(relabelled, verdicts, label_scores=label_scores):
        if row["category"] == ALL and group:
            continue
        if not group and row["category"] != ALL:
            continue
        entry = dict(row)
        entry.update(values.get(row["category"], {}) if group else {})
        if "layer" not in keys:
            entry.pop("layer")
        if "category" not in keys:
            entry.pop("category", None)
        out.append(entry)
    return out


def _sort_order(concepts: list[dict[str, Any]]) -> Callable[[str, Any], Any]:
    """Sort key for recognition rows: protocols stringent first, categories and concepts in the set's order."""
    cats = {c: i for i, c in enumerate(dict.fromkeys(x["category"] for x in concepts))}
    names = {x["name"]: i for i, x in enumerate(concepts)}

    def key(column: str, value: Any) -> Any:
        if column == "protocol":
            return 0 if value == "stringent" else 1
        if column == "category":
            return cats.get(value, len(cats))
        if column == "concept":
            return names.get(value, len(names))
        return value

    return key


def open_run(path: str | os.PathLike[str]) -> Run:
    """The RUN folder made by a sweep (:func:`sweep` or ``layerdream sweep``), for DataFrames and display."""
    return Run(path)
