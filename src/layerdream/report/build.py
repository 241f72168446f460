"""Assemble a RUN's report (HTML) or export its tables (CSV / JSON).

Reads only the RUN folder (database + images), so a report can be made on any machine, while the
sweep is still running, and without the model or the concepts file.

Nothing of value is overwritten: ``--out`` may replace an earlier report (HTML, CSV or JSON written
here) or an empty file, never anything else (``RUN/sweep.sqlite`` was once replaced by HTML). Where
the report goes is checked (a file, not a folder; a folder we can write) before any plot is drawn,
and an ``--embed`` report writes exactly one file, so it works when RUN itself is read-only.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..evaluation.grading import grader_label
from ..io import atomic_write_bytes, atomic_write_json
from ..sweep.judging import run_concepts
from ..sweep.plan import plan_jobs
from ..sweep.store import Store, image_file, image_problem
from . import html
from .lens import lens_html, load_lens
from .plots import figure3
from .tables import (agreement_table, control_tests, cosine_table, current_verdicts, disagreements, failures, graders,
                     human_judges, identical_protocols, per_image, recognition_table)

ASSETS = "report_files"
GENERATOR = "layerdream report"
CSV_HEADERS = ("kind,category,layer,", )


def as_date(ts: Any) -> Any:
    """A stored epoch time as a date a reader can read (UTC); anything else unchanged."""
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
    return ts


def load(run_dir: str | Path, judge: str | None = None) -> dict[str, Any]:
    """Everything a report needs from RUN: results, the chosen judge's verdicts, tables, config."""
    store = Store.open_existing(run_dir, readonly=True)
    try:
        judges = store.judges()
        if judge is not None and judge not in judges:
            # a stored id is "backend:model[@endpoint]": "toy" or "openai:gpt-5" name it when unambiguous
            matches = [j for j in judges if j.startswith(judge + ":") or j.startswith(judge + "@")]
            if len(matches) != 1:
                which = f"{judge!r} matches {matches}" if matches else f"it has no verdicts from judge {judge!r}"
                raise UserError(f"RUN {str(run_dir)!r}: {which}; its judges are {judges or 'none'} "
                                f"(pass one of them to --verdicts, or run `layerdream judge {run_dir}` first)")
            judge = matches[0]
        humans = human_judges(judges)
        models = [j for j in judges if j not in humans]
        # default: the latest *model* judge (annotators answering after a judge run must not replace it)
        chosen = judge or (models[0] if models else judges[0] if judges else None)
        results = store.results()
        check_images(Path(run_dir), results)
        verdicts = current_verdicts(results, store.verdicts(chosen)) if chosen else []
        labels = current_verdicts(results, store.label_scores(chosen)) if chosen else []
        concepts = run_concepts(store)
        human = _humans(store, results, concepts.categories, humans, models) if humans else None
        settings = store.get_meta("settings")
        planned = len(plan_jobs(concepts, settings["layers"], settings["seeds"], settings["controls"],
                                max(1, settings.get("controls_per_category") or 1), settings.get("arms", [])))
        grader_ids = graders(verdicts)
        config = {"settings": settings, "synthesis_config": store.get_meta("synthesis_config"),
                  "versions": store.get_meta("versions"), "judge": chosen, "judges_in_run": judges,
                  "grader": [grader_label(g) for g in grader_ids], "concept_set": concepts.name,
                  "created_at": as_date(store.get_meta("created_at"))}
    finally:
        store.close()
    return {"run_dir": Path(run_dir), "results": results, "verdicts": verdicts, "judge": chosen, "judges": judges,
            "concepts": concepts.to_json(), "planned": planned, "config": config,
            "grader": "; ".join(grader_label(g) for g in grader_ids) or None,
            "failures": failures(verdicts), "one_question": identical_protocols(verdicts),
            "table": recognition_table(results, verdicts, concepts.categories, labels),
            "tests": control_tests(results, verdicts, labels, concepts.categories), "label_scores": labels,
            "cosine": cosine_table(results, concepts.categories), "humans": human, "lens": load_lens(run_dir)}


def check_images(run_dir: Path, results: list[dict[str, Any]]) -> None:
    """Every recorded image is inside RUN and is the file the sweep recorded (sha256), as judge and annotate
    check; else one UserError. A report that counted the verdicts of a missing or replaced image would
    give the intact RUN's numbers for images that are not there (and --embed would inline whatever file
    the database names)."""
    bad = [(r["image_path"], problem) for r in results if (problem := image_problem(run_dir, r)) is not None]
    if bad:
        raise UserError(f"RUN {str(run_dir)!r}: {len(bad)} recorded image(s) are not the sweep's, e.g. {bad[0][0]!r} "
                        f"({bad[0][1]}); their verdicts would be counted: re-run the same `layerdream sweep` to remake "
                        f"them, then `layerdream judge {run_dir}`, then report")


def _humans(store: Store, results: list[dict[str, Any]], categories: list[str], humans: list[str],
            models: list[str]) -> dict[str, Any]:
    """The human judges' pooled recognition table and their agreement with every model judge in RUN."""
    pooled = [v for j in humans for v in current_verdicts(results, store.verdicts(j))]
    model_verdicts = {j: current_verdicts(results, store.verdicts(j)) for j in models}
    return {"judges": sorted(humans, key=str.lower), "answers": len(pooled), "failures": failures(pooled),
            "grader": "; ".join(grader_label(g) for g in graders(pooled)) or None,
            "table": recognition_table(results, pooled, categories),
            "agreement": agreement_table(results, model_verdicts, pooled, categories),
            "disagreements": disagreements(results, model_verdicts, pooled)}


def export(data: dict[str, Any], fmt: str) -> bytes:
    """The recognition table (and cosine table) as CSV or JSON bytes; every row names judge and grader."""
    if fmt == "json":
        blob = {"generator": GENERATOR, "judge": data["judge"], "grader": data["grader"], "failures": data["failures"],
                "recognition": data["table"], "tests": data.get("tests", []), "cosine": data["cosine"],
                "config": data["config"]}
        if data.get("humans"):
            blob["humans"] = data["humans"]
        if data.get("lens"):
            blob["lens"] = {k: data["lens"][k] for k in ("table", "measures", "config", "humans") if data["lens"].get(k) is not None}
        return (json.dumps(blob, indent=2, default=str) + "\n").encode()
    buf = io.StringIO()
    rows = [{**r, "seed_rates": json.dumps(r["seed_rates"]), "judge": data["judge"], "grader": data["grader"]}
            for r in data["table"]]
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    else:
        writer = csv.DictWriter(buf, fieldnames=["kind", "category", "layer", "mean_cosine_final", "images"])
        writer.writeheader()
        writer.writerows(data["cosine"])
    return buf.getvalue().encode()


def is_report_file(path: Path) -> bool:
    """True for an empty file or one this module wrote (HTML with our generator tag or title, our CSV
    header, our JSON keys); False for anything else, a database above all."""
    if path.stat().st_size == 0:
        return True
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"SQLite format 3"):
        return False
    text = head.decode("utf-8", errors="replace")
    if f'content="{GENERATOR}"' in text or "<title>layerdream report" in text:
        return True
    if text.startswith(CSV_HEADERS):
        return True
    if text.lstrip().startswith("{") and path.stat().st_size < 200_000_000:
        try:
            blob = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, OSError):
            return False
        return isinstance(blob, dict) and {"recognition", "cosine"} <= set(blob)
    return False


def check_out(out: str | Path | None, fmt: str, embed: bool, run_dir: str | Path) -> Path | None:
    """Where the report will go (None: stdout), or one UserError; called before anything is drawn."""
    run_dir = Path(run_dir)
    if out is None:
        if fmt != "html":
            return None
        out = run_dir / "report.html"
    out = Path(out)
    if out.is_dir():
        raise UserError(f"--out {str(out)!r} is a folder; give a file name, e.g. {str(out / ('report.' + fmt))!r}")
    if out.exists() and not is_report_file(out):
        raise UserError(f"--out {str(out)!r} exists and is not a layerdream report; it is never overwritten: "
                        "choose another file name")
    if not out.parent.is_dir():
        raise UserError(f"--out {str(out)!r}: the folder {str(out.parent)!r} does not exist; create it first")
    if fmt == "html" and not embed:
        if out.resolve().parent != run_dir.resolve():
            raise UserError(f"--out {str(out)!r}: a report with relative image paths must sit inside RUN; add --embed for a file elsewhere")
        assets = out.parent / ASSETS
        if assets.exists() and not assets.is_dir():
            raise UserError(f"{str(assets)!r} is a file; the report keeps its figures in a folder of that name: move the file")
    _probe(out.parent, out)
    return out


def _probe(folder: Path, out: Path) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".probe.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise UserError(f"cannot write --out {str(out)!r} ({err.strerror or err}); write the report elsewhere: "
                        "--embed --out FILE in a folder you can write to") from None


def write_html(data: dict[str, Any], out: Path | None = None, embed: bool = False) -> Path:
    """Write the HTML report; returns its path.

    Without ``embed``: RUN/report.html (or ``out`` inside RUN) + RUN/report_files/ (figures, tables.json).
    With ``embed``: the one file ``out``; figures are drawn in a temporary folder and inlined.
    """
    run_dir: Path = data["run_dir"]
    out = check_out(out, "html", embed, run_dir)
    assert out is not None
    try:
        if embed:
            with tempfile.TemporaryDirectory(prefix="layerdream-report-") as tmp:
                text = _render(data, Path(tmp), embed=True)
            atomic_write_bytes(out, text.encode())
        else:
            assets = out.parent / ASSETS
            assets.mkdir(exist_ok=True)
            text = _render(data, assets, embed=False)
            atomic_write_bytes(out, text.encode())
            atomic_write_json(assets / "tables.json", json.loads(export(data, "json")))
    except OSError as err:
        raise UserError(f"cannot write the report to {str(out)!r} ({err.strerror or err}); choose a writable --out") from None
    return out


def sections(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(heading, protocol) per report section: one per protocol, or one when both got identical answers."""
    protocols = list(dict.fromkeys(r["protocol"] for r in data["table"]))
    if data.get("one_question") and len(protocols) == 2:
        return [("stringent = lenient (the judge gave identical answers to both questions)", protocols[0])]
    return [(p, p) for p in protocols]


def _render(data: dict[str, Any], assets: Path, embed: bool) -> str:
    run_dir: Path = data["run_dir"]

    def src(rel: str) -> str:
        if not embed:
            return rel
        path = image_file(run_dir, rel)  # checked in load(); never inline a file outside RUN
        return html.data_uri(path) if path is not None else ""

    figures: dict[str, str] = {}
    for heading, protocol in sections(data):
        png = figure3(data["table"], protocol, assets / f"figure3_{protocol}.png",
                      title=_figure_title(heading, data["grader"]))
        if png is not None:
            figures[heading] = html.data_uri(png) if embed else f"{ASSETS}/{png.name}"
    n_done = len(data["results"])
    others = [j for j in data["judges"] if j != data["judge"]]
    summary = (f"RUN <code>{html.escape(str(run_dir))}</code>: {n_done} of {data['planned']} images done; "
               f"judge: <b>{html.escape(str(data['judge'] or 'none yet'))}</b>"
               + (f", grader: {html.escape(data['grader'])}" if data["grader"] else "")
               + (f" (also in RUN: {html.escape(', '.join(others))})" if others else "")
               + f"; report made {time.strftime('%Y-%m-%d %H:%M')}.")
    one = len(sections(data)) == 1 and data.get("one_question")
    text = html.page(
        title=f"layerdream report: {run_dir.name}", run_dir=run_dir, summary=summary, figures=figures,
        failures=html.failures_html(data["failures"], data["judge"], str(run_dir)),
        tables={heading: html.recognition_html(data["table"], protocol, data["grader"])
                + html.tests_html(data.get("tests", []), protocol) for heading, protocol in sections(data)},
        cosine=html.cosine_html(data["cosine"]), humans=html.humans_html(data.get("humans"), src) + lens_html(data.get("lens"), src),
        gallery=html.gallery_html(data["results"], data["concepts"], src, _image_rates(data["verdicts"], merged=one)),
        config=data["config"], generator=GENERATOR)
    return text


def _figure_title(heading: str, grader: str | None) -> str:
    note = f"; {grader}" if grader and "matcher" in grader else ""
    return f"Recognition rate by layer ({heading}; {{band}}{note})"  # {band}: what the plot's bands are


def _image_rates(verdicts: list[dict[str, Any]], merged: bool = False) -> dict[str, str]:
    """job key -> "lenient 7/10 · stringent 2/10" for thumbnail captions (words, not "L": L is a layer)."""
    out: dict[str, list[str]] = {}
    for (key, protocol), agg in sorted(per_image(verdicts).items(), key=lambda kv: kv[0][1]):
        if merged and key in out:
            continue
        failed = f" ({agg['errors']} failed)" if agg["errors"] else ""
        label = "" if merged else f"{protocol} "
        out.setdefault(key, []).append(f"{label}{agg['k']}/{agg['n']}{failed}")
    return {k: " · ".join(v) for k, v in out.items()}
