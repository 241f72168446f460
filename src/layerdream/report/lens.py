"""The report's lens section, shown when ``layerdream lens --images RUN`` has written ``RUN/lens/``.

Read from the files alone (``lens_table.csv``, ``lens_measures.csv``, ``lens.json``, the figures), as
the rest of the report is read from the RUN: no model, no import of the lens package, and a RUN copied
to another machine keeps its section.
"""
from __future__ import annotations

import csv
import json
from html import escape
from pathlib import Path
from typing import Any, Callable

from .lens_humans import lens_humans_html, load_lens_humans

FOLDER = "lens"


def _num(value: str) -> Any:
    if value == "":
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def _csv(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        return [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def load_lens(run_dir: str | Path) -> dict[str, Any] | None:
    """The lens results stored in RUN (None when there are none)."""
    folder = Path(run_dir) / FOLDER
    if not (folder / "lens.json").is_file():
        return None
    try:
        config = json.loads((folder / "lens.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    figures = [f"{FOLDER}/{name}" for name in ("lens_rates.png", "lens_sources.png") if (folder / name).is_file()]
    return {"config": config, "table": _csv(folder / "lens_table.csv"), "measures": _csv(folder / "lens_measures.csv"),
            "judged": _csv(folder / "lens_judged_table.csv"), "figures": figures, "humans": load_lens_humans(folder)}


def _pct(x: Any) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def lens_html(lens: dict[str, Any] | None, src: Callable[[str], str]) -> str:
    """Rates per (group, lens) x layer with Wilson intervals and the null, the measures, the figures."""
    if not lens:
        return ""
    cfg = lens["config"]
    rows = [r for r in lens["table"] if r.get("category") == "All"]
    layers = sorted({r["layer"] for r in rows})
    parts = [f"<h2 id='lens'>Lens readouts of the RUN's images</h2><p>From <code>layerdream lens</code>: model "
             f"{escape(str(cfg.get('model')))}, {cfg.get('n_images')} images, top-{cfg.get('k')} candidates per image token "
             f"({escape(str(cfg.get('tokens')))} tokens per image), corpus {escape(str(cfg.get('corpus', '–')))} "
             f"({cfg.get('entries', '–')} contexts, text layers {escape(str(cfg.get('text_layers', '–')))}).</p>"
             "<p class='ci'>rate = image tokens whose top-k names the image's concept (pass@k) [Wilson 95%], n tokens; "
             "null = the same readouts against another concept of the same category. Group = kind of image @ the layer it "
             "was synthesised at; columns = the layer the lens reads.</p>"]
    if rows:
        head = "".join(f"<th>layer {l}</th>" for l in layers)
        body = []
        for group in dict.fromkeys(r["group"] for r in rows):
            for name in dict.fromkeys(r["lens"] for r in rows):
                cells = {r["layer"]: r for r in rows if r["group"] == group and r["lens"] == name}
                tds = "".join(
                    (f"<td><span class='rate'>{_pct(c['rate'])}</span> <span class='ci'>[{_pct(c['ci_lo'])}–{_pct(c['ci_hi'])}] "
                     f"n={c['n_tokens']}</span><br><span class='ctrl'>null {_pct(c['null_rate'])}</span></td>")
                    if (c := cells.get(l)) else "<td class='missing'>–</td>" for l in layers)
                body.append(f"<tr><th>{escape(str(group))}</th><th>{escape(str(name))}</th>{tds}</tr>")
        parts.append(f"<table><tr><th>images</th><th>lens</th>{head}</tr>{''.join(body)}</table>")
    measures = lens["measures"]
    if measures:
        mlayers = sorted({m["layer"] for m in measures})
        head = "".join(f"<th>layer {l}</th>" for l in mlayers)
        body = []
        for name in dict.fromkeys(m["measure"] for m in measures):
            cells = {m["layer"]: m for m in measures if m["measure"] == name}
            tds = "".join(
                (f"<td><span class='rate'>{c['value']:.3f}</span><br><span class='ctrl'>null {c['null_mean']:.3f} "
                 f"(95% {c['null_p95']:.3f}), p={c['p']:.3g}, N={c['N']}</span></td>") if (c := cells.get(l)) else
                "<td class='missing'>–</td>" for l in mlayers)
            body.append(f"<tr><th>{escape(str(name))}</th>{tds}</tr>")
        parts.append("<h3>Judge-free measures</h3><p class='ci'>top-1 retrieval of the image's concept among all N concept "
                     "vectors; linear CKA and mutual-kNN between the concepts' mean image representations and their "
                     f"concept vectors; null = mean of {measures[0].get('n_perm', '–')} permutations of the pairing, "
                     "p one-sided.</p>"
                     f"<table><tr><th>measure</th>{head}</tr>{''.join(body)}</table>")
    judged = lens.get("judged") or []
    if judged:
        judge = (cfg.get("judge") or {}).get("model", "LLM judge")
        body = "".join(f"<tr><th>{escape(str(r['lens']))}</th><td>{r['layer']}</td><td><span class='rate'>{_pct(r['rate'])}</span> "
                       f"<span class='ci'>[{_pct(r['ci_lo'])}–{_pct(r['ci_hi'])}] n={r['n']}</span>"
                       + (f" <span class='err'>{r['errors']} failed (not counted)</span>" if r["errors"] else "") + "</td></tr>"
                       for r in judged)
        parts.append(f"<h3>Judged by {escape(str(judge))} (LatentLens protocol: patch boxed, k candidates, JSON; pass@k)</h3>"
                     f"<table><tr><th>lens</th><th>layer</th><th>interpretable</th></tr>{body}</table>")
    parts.append(lens_humans_html(lens.get("humans")))
    for fig in lens["figures"]:
        parts.append(f"<img class='fig' src='{escape(src(fig))}' alt='lens figure {escape(fig)}'>")
    return "".join(parts)
