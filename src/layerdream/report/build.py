"""Assemble a RUN's report (HTML) or export its tables (CSV / JSON).

Reads only the RUN folder (database + images), so a report can be made on any machine, while the
sweep is still running, and without the model or the concepts file.
"""
from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..io import atomic_write_bytes, atomic_write_json
from ..sweep.judging import run_concepts
from ..sweep.plan import plan_jobs
from ..sweep.store import Store
from . import html
from .plots import figure3
from .tables import cosine_table, per_image, recognition_table

ASSETS = "report_files"


def load(run_dir: str | Path, judge: str | None = None) -> dict[str, Any]:
    """Everything a report needs from RUN: results, the chosen judge's verdicts, tables, config."""
    store = Store.open_existing(run_dir)
    try:
        judges = store.judges()
        if judge is not None and judge not in judges:
            raise UserError(f"RUN {str(run_dir)!r} has no verdicts from judge {judge!r}; "
                            f"it has {judges or 'none'} (run `layerdream judge {run_dir}` first)")
        chosen = judge or (judges[0] if judges else None)
        results = store.results()
        verdicts = store.verdicts(chosen) if chosen else []
        concepts = run_concepts(store)
        settings = store.get_meta("settings")
        planned = len(plan_jobs(concepts, settings["layers"], settings["seeds"], settings["controls"],
                                max(1, settings.get("controls_per_category") or 1)))
        config = {"settings": settings, "synthesis_config": store.get_meta("synthesis_config"),
                  "versions": store.get_meta("versions"), "judge": chosen, "judges_in_run": judges,
                  "concept_set": concepts.name, "created_at": store.get_meta("created_at")}
    finally:
        store.close()
    return {"run_dir": Path(run_dir), "results": results, "verdicts": verdicts, "judge": chosen, "judges": judges,
            "concepts": concepts.to_json(), "planned": planned, "config": config,
            "table": recognition_table(results, verdicts, concepts.categories),
            "cosine": cosine_table(results, concepts.categories)}


def export(data: dict[str, Any], fmt: str) -> bytes:
    """The recognition table (and cosine table) as CSV or JSON bytes."""
    if fmt == "json":
        blob = {"judge": data["judge"], "recognition": data["table"], "cosine": data["cosine"], "config": data["config"]}
        return (json.dumps(blob, indent=2, default=str) + "\n").encode()
    buf = io.StringIO()
    rows = [{**r, "seed_rates": json.dumps(r["seed_rates"]), "judge": data["judge"]} for r in data["table"]]
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    else:
        writer = csv.DictWriter(buf, fieldnames=["kind", "category", "layer", "mean_cosine_final", "images"])
        writer.writeheader()
        writer.writerows(data["cosine"])
    return buf.getvalue().encode()


def write_html(data: dict[str, Any], out: Path | None = None, embed: bool = False) -> Path:
    """Write RUN/report.html (+ RUN/report_files/figure3_*.png); returns the HTML path."""
    run_dir: Path = data["run_dir"]
    out = Path(out) if out else run_dir / "report.html"
    if not embed and out.resolve().parent != run_dir.resolve():
        raise UserError(f"--out {str(out)!r}: a report with relative image paths must sit inside RUN; add --embed for a file elsewhere")
    assets = out.parent / ASSETS
    assets.mkdir(parents=True, exist_ok=True)

    def src(rel: str) -> str:
        return html.data_uri(run_dir / rel) if embed else rel

    protocols = list(dict.fromkeys(r["protocol"] for r in data["table"]))
    figures: dict[str, str] = {}
    for protocol in protocols:
        png = figure3(data["table"], protocol, assets / f"figure3_{protocol}.png")
        if png is not None:
            figures[protocol] = html.data_uri(png) if embed else f"{ASSETS}/{png.name}"
    rates = _image_rates(data["verdicts"])
    n_done = len(data["results"])
    summary = (f"RUN <code>{html.escape(str(run_dir))}</code>: {n_done} of {data['planned']} images done; "
               f"judge: <b>{html.escape(str(data['judge'] or 'none yet'))}</b>"
               + (f" (also in RUN: {html.escape(', '.join(j for j in data['judges'] if j != data['judge']))})" if len(data["judges"]) > 1 else "")
               + f"; made {time.strftime('%Y-%m-%d %H:%M')}.")
    text = html.page(
        title=f"layerdream report: {run_dir.name}", run_dir=run_dir, summary=summary, figures=figures,
        tables={p: html.recognition_html(data["table"], p) for p in protocols}, cosine=html.cosine_html(data["cosine"]),
        gallery=html.gallery_html(data["results"], data["concepts"], src, rates), config=data["config"])
    atomic_write_bytes(out, text.encode())
    atomic_write_json(assets / "tables.json", json.loads(export(data, "json")))
    return out


def _image_rates(verdicts: list[dict[str, Any]]) -> dict[str, str]:
    """job key -> "L 7/10 · S 2/10" (lenient, stringent) for thumbnail captions."""
    out: dict[str, list[str]] = {}
    for (key, protocol), agg in sorted(per_image(verdicts).items(), key=lambda kv: kv[0][1]):
        out.setdefault(key, []).append(f"{protocol[0].upper()} {agg['k']}/{agg['n']}")
    return {k: " · ".join(v) for k, v in out.items()}
