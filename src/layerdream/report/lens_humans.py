"""People's grades of lens readouts in the report: rates with Wilson intervals, Cohen's kappa against
the automatic grading, the LLM judge and each other.

Read from the files alone, like the rest of the lens section: ``lens/lens_human/items.csv`` (the
readouts shown, with their automatic grade; written by ``layerdream lens --human-sample``),
``lens/lens_human/answers.sqlite`` (table ``lens_answers``: one row per annotator and readout, written
by ``layerdream annotate --lens``; opened read-only) and ``lens/lens_judged.csv`` (the LLM judge's
grades). An answer counts only when its ``item_sha256`` is the manifest's: an answer about an image
that was written again since is no answer about the image shown now.

Pairing (as for the recognition page's humans): against the automatic grading and the judge, each
human answer is paired with the other rater's grade of the same readout; between two annotators,
each readout both answered is one pair.
"""
from __future__ import annotations

import csv
import itertools
import sqlite3
from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Any

from .tables import cohen_kappa

FOLDER = "lens_human"
ALL = "all"


def _csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _answers(path: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT key, judge, item_sha256, interpretable FROM lens_answers")]
    finally:
        conn.close()


def _grade(value: str | None) -> int | None:
    return None if value in (None, "") else int(float(value))


def load_lens_humans(lens_dir: str | Path) -> dict[str, Any] | None:
    """People's answers about RUN/lens readouts, tabulated; None when nobody has answered."""
    folder = Path(lens_dir) / FOLDER
    if not (folder / "answers.sqlite").is_file() or not (folder / "items.csv").is_file():
        return None
    try:
        items = {r["key"]: r for r in _csv(folder / "items.csv")}
        raw = _answers(folder / "answers.sqlite")
        answers = [a for a in raw if a["key"] in items and a["item_sha256"] == items[a["key"]]["png_sha256"]]
        if not answers:
            return None
        judged = {f"{r['image']}|{r['layer']}|{r['token']}|{r['lens']}": r for r in _csv(Path(lens_dir) / "lens_judged.csv")}
        judge = next((r.get("judge") for r in judged.values()), None)
        return _tables(items, raw, answers, judged, judge)
    except (sqlite3.Error, OSError, KeyError, ValueError, csv.Error) as err:  # the rest of the report still stands
        return {"error": f"cannot read the people's lens answers in {folder}: {type(err).__name__}: {err}"}


def _tables(items: dict[str, dict[str, str]], raw: list[dict[str, Any]], answers: list[dict[str, Any]],
            judged: dict[str, dict[str, str]], judge: str | None) -> dict[str, Any]:
    return {"items": len(items), "answers": len(answers), "stale": len(raw) - len(answers),
            "annotators": sorted({a["judge"] for a in answers}), "judge": judge,
            "rates": rates(answers, items, judged), "kappa": kappas(answers, items, judged)}


def _cell(key: str, items: dict[str, dict[str, str]]) -> tuple[str, int]:
    return items[key]["lens"], int(items[key]["layer"])


def rates(answers: list[dict[str, Any]], items: dict[str, dict[str, str]], judged: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """Per (lens, layer): people's interpretable rate (yes answers / answers, Wilson 95 %), and beside it
    the automatic and the judge's rate over the same readouts (each readout once)."""
    from ..evaluation.stats import wilson_interval

    by: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for a in answers:
        by[_cell(a["key"], items)].append(a)
    out = []
    for (lens, layer), sel in sorted(by.items()):
        k, n = sum(int(a["interpretable"]) for a in sel), len(sel)
        lo, hi = wilson_interval(k, n)
        keys = {a["key"] for a in sel}
        auto = [g for key in keys if (g := _grade(items[key]["auto"])) is not None]
        llm = [g for key in keys if (g := _grade((judged.get(key) or {}).get("interpretable"))) is not None]
        out.append({"lens": lens, "layer": layer, "n": n, "k": k, "rate": k / n, "ci_lo": lo, "ci_hi": hi,
                    "readouts": len(keys), "annotators": len({a["judge"] for a in sel}),
                    "auto_rate": sum(auto) / len(auto) if auto else None, "auto_n": len(auto),
                    "judge_rate": sum(llm) / len(llm) if llm else None, "judge_n": len(llm)})
    return out


def _tally(pairs: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
    """Confusion counts and kappa per lens and over all lenses, from (lens, a, b) pairs."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for lens, a, b in pairs:
        cell = 0 if a and b else 1 if a else 2 if b else 3
        for key in (lens, ALL):
            counts[key][cell] += 1
    rows = []
    for lens in sorted(counts, key=lambda x: (x == ALL, x)):
        both, a_only, b_only, neither = counts[lens]
        n = sum(counts[lens])
        rows.append({"lens": lens, "n": n, "both_yes": both, "first_only": a_only, "second_only": b_only,
                     "neither": neither, "agreement": (both + neither) / n, "kappa": cohen_kappa(both, b_only, a_only, neither)})
    return rows


def kappas(answers: list[dict[str, Any]], items: dict[str, dict[str, str]], judged: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """Cohen's kappa of people against the automatic grading, the LLM judge, and each pair of annotators."""
    out = []
    auto = [(items[a["key"]]["lens"], int(a["interpretable"]), g) for a in answers
            if (g := _grade(items[a["key"]]["auto"])) is not None]
    llm = [(items[a["key"]]["lens"], int(a["interpretable"]), g) for a in answers
           if (g := _grade((judged.get(a["key"]) or {}).get("interpretable"))) is not None]
    for other, pairs in (("automatic", auto), ("judge", llm)):
        out += [{"humans": "all annotators", "other": other, **r} for r in _tally(pairs)]
    by_person: dict[str, dict[str, int]] = defaultdict(dict)
    for a in answers:
        by_person[a["judge"]][a["key"]] = int(a["interpretable"])
    for p, q in itertools.combinations(sorted(by_person), 2):
        pairs = [(items[key]["lens"], by_person[p][key], by_person[q][key]) for key in by_person[p] if key in by_person[q]]
        if pairs:
            out += [{"humans": p, "other": q, **r} for r in _tally(pairs)]
    return out


def _pct(x: Any) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def lens_humans_html(h: dict[str, Any] | None) -> str:
    """The "graded by people" part of the lens section."""
    if not h:
        return ""
    if h.get("error"):
        return f"<h3>Graded by people</h3><p class='err'>{escape(h['error'])}</p>"
    judge = h.get("judge")
    names = ", ".join(escape(a.removeprefix("human:")) for a in h["annotators"])
    parts = [f"<h3 id='lens-humans'>Graded by people (layerdream annotate --lens)</h3><p>{h['answers']} answers by "
             f"{len(h['annotators'])} annotator(s) ({names}) about {h['items']} readouts shown"
             + (f"; {h['stale']} answer(s) about images written again since are not counted" if h["stale"] else "")
             + ". Each saw the image with the token's patch boxed and the k candidates, as the LLM judge does, and ticked "
             "the candidates that describe the patch (interpretable = at least one).</p>"
             "<p class='ci'>people: yes answers / answers [Wilson 95%], n answers; automatic and judge: the same readouts, "
             "each once.</p>"]
    body = "".join(
        f"<tr><th>{escape(str(r['lens']))}</th><td>{r['layer']}</td><td><span class='rate'>{_pct(r['rate'])}</span> "
        f"<span class='ci'>[{_pct(r['ci_lo'])}–{_pct(r['ci_hi'])}] n={r['n']}</span></td>"
        f"<td>{_pct(r['auto_rate'])} <span class='ci'>n={r['auto_n']}</span></td>"
        f"<td>{_pct(r['judge_rate'])} <span class='ci'>n={r['judge_n']}</span></td></tr>" for r in h["rates"])
    parts.append("<table><tr><th>lens</th><th>layer</th><th>people</th><th>automatic</th>"
                 f"<th>judge{' ' + escape(str(judge)) if judge else ''}</th></tr>{body}</table>")
    if h["kappa"]:
        body = "".join(
            f"<tr><th>{escape(str(r['humans']).removeprefix('human:'))}</th><th>{escape(str(r['other']).removeprefix('human:'))}</th>"
            f"<td>{escape(str(r['lens']))}</td><td>{'–' if r['kappa'] is None else format(r['kappa'], '+.2f')}</td>"
            f"<td class='ci'>n={r['n']}, agree {_pct(r['agreement'])}; {r['both_yes']} · {r['second_only']} · "
            f"{r['first_only']} · {r['neither']}</td></tr>" for r in h["kappa"])
        parts.append("<p class='ci'>Cohen's κ = (p_o − p_e)/(1 − p_e); – where undefined (one side always says the same). "
                     "Counts: both yes · only the second yes · only the first yes · neither.</p>"
                     f"<table class='kappa'><tr><th>people</th><th>against</th><th>lens</th><th>κ</th><th>pairs</th></tr>{body}</table>")
    return "".join(parts)
