"""The static HTML report: one file, no server, no network, opens from disk.

Images are referenced by paths relative to RUN (the report is written inside RUN, so it keeps
working when the folder is copied or zipped), or embedded as base64 with ``embed=True`` for a
single portable file. A few lines of inline JavaScript give click-to-enlarge and count the images
that failed to load into ``#image-check`` (``data-broken``/``data-total``, read by the browser test);
that element stays hidden unless an image is broken, when it says so. The page is fully readable
without JavaScript.

Nothing is shown without its evidence: every rate has its n and interval, chance lines included;
every table says which grader scored it; failed judge queries are counted where the rates are.
"""
from __future__ import annotations

import base64
import json
from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Any, Callable

from .tables import ALL, grid

CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1600px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ddd;padding:4px 6px;font-size:12px;vertical-align:top}
th{background:#f4f4f4}.rate{font-weight:600}.ci,.ctrl{color:#777;font-size:11px}.missing{color:#bbb}
.err{color:#b00020;font-size:11px}.warn{background:#fff3f3;border:1px solid #e0a0a0;padding:6px 10px;color:#900}
tr.chance th{font-weight:400;color:#555}
.thumbs{display:flex;gap:3px}.thumbs.wrap{flex-wrap:wrap;max-width:1200px}.thumbs figure{margin:0;text-align:center;font-size:10px;color:#666;width:92px;overflow-wrap:anywhere}
img.thumb{width:88px;height:88px;image-rendering:pixelated;cursor:zoom-in;border:1px solid #ccc;background:#eee}
img.fig{max-width:100%}pre{background:#f7f7f7;padding:8px;font-size:11px;overflow:auto}
.thumbs.disagree figure{width:180px}
#lightbox{display:none;position:fixed;inset:0;background:rgba(0,0,0,.85);align-items:center;justify-content:center;flex-direction:column}
#lightbox img{width:min(80vh,80vw);height:min(80vh,80vw);image-rendering:pixelated}#lightbox div{color:#fff;margin-top:8px}
"""

JS = """
document.querySelectorAll('a.zoom').forEach(function(a){a.addEventListener('click',function(e){e.preventDefault();
 var lb=document.getElementById('lightbox');lb.querySelector('img').src=a.getAttribute('href');
 lb.querySelector('div').textContent=a.getAttribute('title');lb.style.display='flex';});});
document.getElementById('lightbox').addEventListener('click',function(){this.style.display='none';});
window.addEventListener('load',function(){var imgs=Array.from(document.querySelectorAll('img')).filter(function(i){return i.id!=='lb-img';});
 var broken=imgs.filter(function(i){return !i.complete||i.naturalWidth===0;}).length;
 var c=document.getElementById('image-check');c.dataset.broken=broken;c.dataset.total=imgs.length;
 if(broken>0){c.textContent=broken+' of '+imgs.length+' images failed to load (moved or deleted files?)';c.hidden=false;}});
"""


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def _ci(lo: float | None, hi: float | None) -> str:
    return "" if lo is None else f"[{100 * lo:.0f}–{100 * hi:.0f}]"


def _chance(cell: dict[str, Any] | None) -> str:
    """A chance line with its evidence: rate [Wilson 95% over queries], q answers from k images, and the
    judge's base rate for the category (every label) where the controls were graded so."""
    if cell is None:
        return ""
    if cell["rate"] is None:
        return f"– ({cell['errors']} failed)" if cell["errors"] else "–"
    base = f", base rate {_pct(cell['base_rate'])} over every label" if cell.get("base_rate") is not None else ""
    return (f"{_pct(cell['rate'])} {_ci(cell['ci_queries_lo'], cell['ci_queries_hi'])} q={cell['n']}, "
            f"{cell['images']} image{'s' if cell['images'] != 1 else ''}{base}")


def _p(p: float | None) -> str:
    return "–" if p is None else f"{p:.3f}" if p >= 0.001 else "<0.001"


def tests_html(tests: list[dict[str, Any]], protocol: str) -> str:
    """Per category x layer: the one-sided permutation test of concept images against the controls."""
    rows = [t for t in tests if t["protocol"] == protocol and t["control"] == "controls"]
    if not rows:
        return ""
    categories = list(dict.fromkeys(t["category"] for t in rows))
    layers = sorted({t["layer"] for t in rows})
    cells = {(t["category"], t["layer"]): t for t in rows}
    head = "".join(f"<th>layer {l}</th>" for l in layers)
    body = []
    for cat in categories:
        tds = []
        for l in layers:
            t = cells.get((cat, l))
            if t is None:
                tds.append("<td class='missing'>–</td>")
                continue
            tds.append(f"<td><span class='rate'>p {_p(t['p'])}</span> <span class='ci'>{100 * t['effect']:+.0f} pts; "
                       f"{t['n_concepts']} concepts vs {t['n_controls']} controls</span></td>")
        style = " style='font-weight:600'" if cat == ALL else ""
        body.append(f"<tr><th{style}>{escape(cat)}</th>{''.join(tds)}</tr>")
    return ("<p class='ci'>concept vs control: one-sided permutation test that concept images are recognised more "
            "often than the category's random and shuffled controls (a concept counts once, the mean of its seeds; a "
            "control once, its base rate over every label of its category); effect = concept rate − control rate. "
            "Per control kind in tables.json (<code>tests</code>).</p>"
            f"<table><tr><th>category</th>{head}</tr>{''.join(body)}</table>")


def _concepts_ci(c: dict[str, Any]) -> str:
    """The interval over concepts, first (the one for a claim about concepts); none for one concept."""
    if c.get("ci_concepts_lo") is None:
        return ""
    return f"concepts {_ci(c['ci_concepts_lo'], c['ci_concepts_hi'])} · queries "


ARM_NAMES = {"weighting-mean": "mean pooling", "weighting-noprior": "prior off"}


def _arms(arms: dict[str, dict], cat: str, layer: int) -> str:
    """The ablation arms of a cell, beside the main result: rate [over concepts] and q."""
    parts = []
    for kind, cells in arms.items():
        a = cells.get((cat, layer))
        if a is None or a["rate"] is None:
            continue
        parts.append(f"{ARM_NAMES[kind]} {_pct(a['rate'])} {_ci(a.get('ci_concepts_lo'), a.get('ci_concepts_hi'))} q={a['n']}")
    return f"<br><span class='ci'>ablation: {escape(' · '.join(parts))}</span>" if parts else ""


def recognition_html(rows: list[dict[str, Any]], protocol: str, grader: str | None = None) -> str:
    """Category x layer table: concept rate with both intervals, the category's controls beside it
    (with n and interval), the controls of all categories as chance rows, and the grader named."""
    categories, layers, cells = grid(rows, "concept", protocol)
    caption = f"<p class='ci'>graded by: {escape(grader)}</p>" if grader else ""
    if not categories:
        return caption + "<p class='missing'>no verdicts for this protocol</p>"
    ctrl = {kind: grid(rows, kind, protocol)[2] for kind in ("random", "shuffled")}
    arms = {kind: grid(rows, kind, protocol)[2] for kind in ARM_NAMES if any(r["kind"] == kind for r in rows)}
    head = "".join(f"<th>layer {l}</th>" for l in layers)
    body = []
    for cat in categories:
        tds = []
        for l in layers:
            c = cells.get((cat, l))
            if c is None:
                tds.append("<td class='missing'>–</td>")
                continue
            failed = f"<br><span class='err'>{c['errors']} queries failed (not counted)</span>" if c["errors"] else ""
            if c["rate"] is None:
                tds.append(f"<td class='missing'>–{failed}</td>")
                continue
            seeds = ", ".join(f"s{s} {_pct(r)}" for s, r in c["seed_rates"].items())
            controls = " · ".join(f"{k} {_chance(ctrl[k][(cat, l)])}" for k in ctrl if (cat, l) in ctrl[k])
            tds.append(
                f"<td><span class='rate'>{_pct(c['rate'])}</span> <span class='ci'>{_concepts_ci(c)}"
                f"{_ci(c['ci_queries_lo'], c['ci_queries_hi'])} q={c['n']}</span><br><span class='ci'>images {c['images_recognised']}/{c['images_scored']} "
                f"{_ci(c['ci_images_lo'], c['ci_images_hi'])}; {escape(seeds)}</span>"
                + (f"<br><span class='ctrl'>chance: {escape(controls)}</span>" if controls else "")
                + _arms(arms, cat, l) + failed + "</td>")
        style = " style='font-weight:600'" if cat == ALL else ""
        body.append(f"<tr><th{style}>{escape(cat)}</th>{''.join(tds)}</tr>")
    for kind, name in (("random", "chance: random directions"), ("shuffled", "chance: shuffled concepts")):
        if any((ALL, l) in ctrl[kind] for l in layers):
            tds = "".join(f"<td class='ctrl'>{escape(_chance(ctrl[kind].get((ALL, l))))}</td>" for l in layers)
            body.append(f"<tr class='chance'><th>{name} (all categories)</th>{tds}</tr>")
    return f"{caption}<table><tr><th>category</th>{head}</tr>{''.join(body)}</table>"


def failures_html(fail: dict[str, Any], judge: str | None, run: str) -> str:
    """A visible warning when judge queries failed: how many, why, and how to ask them again."""
    if not fail or not fail["failed"]:
        return ""
    why = "; ".join(e[:200] for e in fail["examples"])
    allf = " Every query failed: the tables and plots below have nothing to show." if fail["failed"] == fail["total"] else ""
    return (f"<p class='warn'><b>{fail['failed']} of {fail['total']} judge queries failed</b> (judge "
            f"{escape(str(judge))}; error: {escape(why)}). Failed queries are not counted as yes or no.{allf} "
            f"Run <code>layerdream judge {escape(run)}</code> again to ask them again.</p>")


def cosine_html(cos_rows: list[dict[str, Any]]) -> str:
    by = {(r["kind"], r["category"], r["layer"]): r["mean_cosine_final"] for r in cos_rows}
    eff = {(r["kind"], r["category"], r["layer"]): r for r in cos_rows if r.get("mean_effective_tokens") is not None}

    def tokens(c: str, l: int) -> str:
        r = eff.get(("concept", c, l))
        if r is None:
            return ""
        of = f" of {r['image_tokens']}" if r.get("image_tokens") else ""
        return f"<br><span class='ci'>{r['mean_effective_tokens']:.1f}{of} tokens</span>"

    cats = list(dict.fromkeys(r["category"] for r in cos_rows if r["kind"] == "concept"))
    layers = sorted({r["layer"] for r in cos_rows})
    if not cats:
        return ""
    head = "".join(f"<th>layer {l}</th>" for l in layers)
    body = "".join(
        f"<tr><th>{escape(c)}</th>" + "".join(
            f"<td>{by.get(('concept', c, l), float('nan')):.3f}"
            + "".join(f" <span class='ctrl'>{k[:4]} {by[(k, c, l)]:.3f}</span>" for k in ("random", "shuffled") if (k, c, l) in by)
            + tokens(c, l) + "</td>" for l in layers) + "</tr>" for c in cats)
    note = ("<p class='ci'>\"n of P tokens\" = the concept images' mean effective number of image tokens their "
            "representation rests on: exp of the entropy of the attention weights at the final image (1 = a hard max "
            "over patches, P = mean pooling).</p>") if eff else ""
    return f"{note}<table><tr><th>category</th>{head}</tr>{body}</table>"


def gallery_html(results: list[dict[str, Any]], concepts: list[dict[str, Any]], src: Callable[[str], str],
                 rates: dict[str, str]) -> str:
    """Concept x layer grid; the seeds of one (concept, layer) side by side; click a thumbnail to enlarge."""
    layers = sorted({r["layer"] for r in results})
    cell: dict[tuple[str, int], list[dict]] = defaultdict(list)
    controls: dict[int, list[dict]] = defaultdict(list)
    for r in results:
        (cell[(r["concept"], r["layer"])] if r["kind"] == "concept" else controls[r["layer"]]).append(r)
    parts = []
    for cat in dict.fromkeys(c["category"] for c in concepts):
        rows = []
        for c in (c for c in concepts if c["category"] == cat):
            tds = "".join(f"<td>{_thumbs(sorted(cell[(c['name'], l)], key=lambda r: r['seed']), src, rates)}</td>" for l in layers)
            rows.append(f"<tr><th>{escape(c['name'])}</th>{tds}</tr>")
        head = "".join(f"<th>layer {l}</th>" for l in layers)
        parts.append(f"<h3>{escape(cat)}</h3><table class='gallery'><tr><th>concept</th>{head}</tr>{''.join(rows)}</table>")
    if controls:
        rows = "".join(f"<tr><th>layer {l}</th><td>{_thumbs(controls[l], src, rates, caption=True)}</td></tr>" for l in layers if controls[l])
        parts.append(f"<h3>Controls (random directions, shuffled concepts)</h3><table>{rows}</table>")
    return "".join(parts)


def _thumbs(rows: list[dict[str, Any]], src: Callable[[str], str], rates: dict[str, str], caption: bool = False) -> str:
    if not rows:
        return "<span class='missing'>not done</span>"
    figs = []
    for r in rows:
        name = f"{r['kind']}: {r['source']} → judged as {r['concept']}" if r["kind"] != "concept" else r["concept"]
        title = f"{name} · layer {r['layer']} · seed {r['seed']} · cos {r['cosine_final'] or 0:.3f} {rates.get(r['key'], '')}"
        url = src(r["image_path"])
        label = (f"{r['kind'][:4]} {r['source'][:10]}→{r['concept'][:10]} s{r['seed']}" if caption else f"s{r['seed']}")
        figs.append(f"<figure><a class='zoom' href='{escape(url)}' title='{escape(title)}'><img class='thumb' src='{escape(url)}' "
                    f"alt='{escape(name)}' loading='eager'></a><figcaption>{escape(label)} {escape(rates.get(r['key'], ''))}</figcaption></figure>")
    return f"<div class='thumbs{' wrap' if caption else ''}'>{''.join(figs)}</div>"


def _kappa_cell(c: dict[str, Any] | None) -> str:
    if c is None:
        return "<td class='missing'>–</td>"
    k = "–" if c["kappa"] is None else f"{c['kappa']:+.2f}"
    return (f"<td><span class='rate'>κ {k}</span> <span class='ci'>n={c['n']}, agree {_pct(c['agreement'])}</span><br>"
            f"<span class='ci'>both yes {c['both_yes']} · judge only {c['judge_only']} · humans only {c['humans_only']} · "
            f"neither {c['neither']}</span></td>")


def humans_html(humans: dict[str, Any] | None, src: Callable[[str], str]) -> str:
    """The human judges' section: their recognition table (pooled over annotators), Cohen's kappa of
    each model judge against them with the confusion counts, and the images they disagree on most."""
    if not humans:
        return ""
    names = ", ".join(j.split(":", 1)[-1] for j in humans["judges"])
    fail = humans["failures"]
    failed = (f" <span class='err'>{fail['failed']} answers could not be graded (not counted; "
              f"`layerdream annotate` grades them again when it starts)</span>" if fail["failed"] else "")
    parts = [f"<h2 id='humans'>Human judges</h2><p>{len(humans['judges'])} annotator(s) ({escape(names)}), "
             f"{humans['answers']} answers, from <code>layerdream annotate</code> (blind, shuffled, controls mixed in).{failed}</p>",
             "<p class='ci'>rate = positive answers / graded answers over all annotators and images (one answer per "
             "annotator and image), Wilson 95% over those answers; \"images k/n\" = images that most of their annotators "
             "recognised; \"can't tell\" counts as no.</p>"]
    protocols = list(dict.fromkeys(r["protocol"] for r in humans["table"]))
    for p in protocols:
        parts.append(f"<h3>humans, {escape(p)}</h3>{recognition_html(humans['table'], p, humans['grader'])}")
    agreement = humans["agreement"]
    if agreement:
        parts.append("<h3>Agreement with the model judges (Cohen's κ)</h3><p class='ci'>Each graded human answer is paired "
                     "with the model judge's decision about the same image under the same protocol (yes when more than "
                     "half of its answers are yes); n = pairs, all images including the controls. κ = (agreement − chance "
                     "agreement) / (1 − chance agreement): 0 is chance, 1 is perfect; – where undefined (one side always "
                     "says the same). Counts: both yes · judge only yes · humans only yes · neither.</p>")
    for judge, protocol in dict.fromkeys((r["judge"], r["protocol"]) for r in agreement):
        sel = [r for r in agreement if r["judge"] == judge and r["protocol"] == protocol]
        cells = {(r["category"], r["layer"]): r for r in sel}
        layers = sorted({r["layer"] for r in sel if r["layer"] != "all"}) + ["all"]
        cats = list(dict.fromkeys(r["category"] for r in sel))
        head = "".join(f"<th>{'all layers' if l == 'all' else f'layer {l}'}</th>" for l in layers)
        bold = " style='font-weight:600'"
        body = "".join(f"<tr><th{bold if c == ALL else ''}>{escape(c)}</th>"
                       + "".join(_kappa_cell(cells.get((c, l))) for l in layers) + "</tr>" for c in cats)
        parts.append(f"<h3>{escape(judge)} vs humans, {escape(protocol)}</h3>"
                     f"<table class='kappa'><tr><th>category</th>{head}</tr>{body}</table>")
    worst = humans["disagreements"]
    for judge, protocol in dict.fromkeys((d["judge"], d["protocol"]) for d in worst):
        figs = []
        for d in (d for d in worst if d["judge"] == judge and d["protocol"] == protocol):
            url = src(d["image_path"])
            name = d["concept"] if d["kind"] == "concept" else f"{d['kind']}: {d['source']} → judged as {d['concept']}"
            said = "; ".join(f"{a['annotator']}: {a['answer'] or ''}" for a in d["answers"])
            figs.append(f"<figure><a class='zoom' href='{escape(url)}' title='{escape(name)} · layer {d['layer']} · seed {d['seed']}'>"
                        f"<img class='thumb' src='{escape(url)}' alt='{escape(name)}' loading='eager'></a><figcaption>"
                        f"<b>{escape(name)}</b> L{d['layer']} s{d['seed']}<br>judge {d['judge_k']}/{d['judge_n']} · humans "
                        f"{d['humans_k']}/{d['humans_n']}<br>{escape(said)}</figcaption></figure>")
        parts.append(f"<h3>Where {escape(judge)} and the humans disagree most ({escape(protocol)})</h3>"
                     f"<div class='thumbs wrap disagree'>{''.join(figs)}</div>")
    return "".join(parts)


def page(*, title: str, run_dir: Path, summary: str, figures: dict[str, str], tables: dict[str, str], cosine: str,
         gallery: str, config: dict[str, Any], failures: str = "", generator: str = "layerdream report",
         humans: str = "") -> str:
    figs = "".join(f"<h3>{escape(p)}</h3><img class='fig' src='{escape(u)}' alt='Figure 3 style plot, {escape(p)}'>" for p, u in figures.items())
    tabs = "".join(f"<h3>{escape(p)}</h3>{t}" for p, t in tables.items())
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="generator" content="{escape(generator)}"><title>{escape(title)}</title><style>{CSS}</style></head><body>
<h1>{escape(title)}</h1><p>{summary}</p>{failures}<div id="image-check" data-broken="-1" data-total="-1" class="warn" hidden></div>
<h2>Recognition rate vs layer</h2>{figs or ("<p class='missing'>no verdicts yet: run <code>layerdream judge RUN</code></p>" if not failures else "<p class='err'>nothing to plot: no query was scored (see the failures above)</p>")}
<h2>Recognition tables</h2><p class='ci'>rate = positive answers / scored answers; "concepts [..]" = 95% bootstrap
over concepts (each with all its seeds: the interval for a claim about concepts); "queries [..]" = Wilson 95% over
queries (the paper's interval; it treats every answer as independent and covers the concept-level rate far less
often than 95%: docs/report.md);
"images k/n [..]" = images recognised by most of their answers, Wilson 95% over images (seeds x concepts); chance = the
category's random-direction and shuffled-concept controls at that layer, with their own interval, q answers and images
(the last rows pool the controls of all categories).</p>{tabs or "<p class='missing'>no verdicts</p>"}{humans}
<h2>Mean final cosine (engine score)</h2>{cosine}
<h2 id="gallery">Gallery</h2>{gallery}
<h2>Configuration</h2><pre>{escape(json.dumps(config, indent=2, default=str))}</pre>
<div id="lightbox"><img id="lb-img" alt="enlarged image"><div></div></div><script>{JS}</script></body></html>"""


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
