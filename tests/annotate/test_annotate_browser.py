"""The annotation page in a real browser: headless Chromium (Debian's package, driven by Playwright through
``executable_path``; no browser is downloaded), against the real app on uvicorn.

Skipped only when Chromium or Playwright is absent *and* we are not in CI (CI installs both:
scripts/install-chromium.sh and the ``test`` extra).
"""
from __future__ import annotations

import os
import random
import shutil

import pytest

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
IN_CI = bool(os.environ.get("CI"))
pytestmark = pytest.mark.skipif(CHROMIUM is None and not IN_CI,
                                reason="chromium not installed (apt-get install -y chromium); required in CI")
if not IN_CI:
    pytest.importorskip("playwright", reason="playwright not installed (pip install -e '.[test]'); required in CI")
    pytest.importorskip("starlette", reason="the annotate extra is not installed: pip install 'layerdream[annotate]'")

from annotate_fixtures import SCRIPT_CATEGORY, SCRIPT_CONCEPT, serving  # noqa: E402

from layerdream.annotate.session import CANT_TELL, Annotation  # noqa: E402
from layerdream.cli import main  # noqa: E402
from layerdream.sweep.store import Store  # noqa: E402

TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "CI must have chromium: bash scripts/install-chromium.sh"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def page_factory(browser):
    """New pages in fresh contexts (a context = a separate browser profile: its own cookies); collects dialogs."""
    contexts, dialogs = [], []

    def new_page():
        ctx = browser.new_context(viewport={"width": 1000, "height": 900})
        ctx.set_default_timeout(TIMEOUT_MS)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        return page

    new_page.dialogs = dialogs
    yield new_page
    for ctx in contexts:
        ctx.close()


def _position(page) -> str:
    return page.locator("#position").inner_text()


def _wait_position(page, text: str) -> None:
    """The page shows ``text`` as its position, and its keyboard handler is installed."""
    from playwright.sync_api import expect

    expect(page.locator("#position")).to_have_text(text, timeout=TIMEOUT_MS)
    page.wait_for_selector("body[data-ready='1']", state="attached")


def _concept_of(annotation: Annotation, page) -> dict:
    store = Store.open_existing(annotation.run_dir)
    try:
        return annotation.items(store)[page.locator("input[name=item]").get_attribute("value")].row
    finally:
        store.close()


def _image_loaded(page) -> bool:
    page.wait_for_function("() => { const i = document.getElementById('image'); return i && i.complete; }")
    return page.eval_on_selector("#image", "i => i.naturalWidth > 0")


def test_an_annotator_answers_ten_by_keyboard_reloads_and_resumes_at_eleven(run, page_factory):
    annotation = Annotation(run)
    with serving(annotation) as base:
        page = page_factory()
        page.goto(base)
        page.keyboard.type("alice")  # the name box has the focus
        page.keyboard.press("Enter")
        _wait_position(page, "image 1 of 36")
        typed = {}
        for i in range(10):
            assert _image_loaded(page)
            assert page.evaluate("document.activeElement.id") == "answer"  # ready to type, no click needed
            row = _concept_of(annotation, page)
            if i % 4 == 3:
                page.keyboard.press("Escape")  # can't tell
                typed[row["key"]] = CANT_TELL
            else:
                text = row["concept"] if i % 2 == 0 else "nothing I know"
                page.keyboard.type(text)
                page.keyboard.press("Enter")
                typed[row["key"]] = text
            _wait_position(page, f"image {i + 2} of 36")
            assert page.locator("#progress").get_attribute("value") == str(i + 1)
        page.reload()
        _wait_position(page, "image 11 of 36")
        assert _image_loaded(page)
        elsewhere = page_factory()  # another browser, same name: resumes from the RUN, not from a cookie
        elsewhere.goto(base)
        elsewhere.fill("#name", "alice")
        elsewhere.keyboard.press("Enter")
        _wait_position(elsewhere, "image 11 of 36")
        assert page_factory.dialogs == []
    stored = {v["key"]: v for v in Store.open_existing(run).verdicts("human:alice")}
    assert {k: v["answer"] for k, v in stored.items()} == typed
    for key, v in stored.items():
        assert v["score"] == (0 if typed[key] in (CANT_TELL, "nothing I know") else 1), v


def test_two_annotators_at_once_lose_nothing(run, page_factory):
    annotation = Annotation(run)
    with serving(annotation) as base:
        pages = {name: page_factory() for name in ("bea", "carl")}
        for name, page in pages.items():
            page.goto(base)
            page.fill("#name", name)
            page.keyboard.press("Enter")
            _wait_position(page, "image 1 of 36")
        for i in range(12):
            for name, page in pages.items():  # both answers are on their way before either page has loaded
                page.fill("#answer", f"{name} saw {i}")
            for page in pages.values():
                page.locator("#answer").press("Enter")
            for page in pages.values():
                _wait_position(page, f"image {i + 2} of 36")
    store = Store.open_existing(run)
    for name in pages:
        assert sorted(v["answer"] for v in store.verdicts(f"human:{name}")) == sorted(f"{name} saw {i}" for i in range(12))
    assert page_factory.dialogs == []


def test_script_names_and_path_traversal_are_harmless(run, page_factory):
    annotation = Annotation(run, protocol="lenient", choices=True)
    with serving(annotation) as base:
        page = page_factory()
        page.goto(base)
        page.fill("#name", "dora")
        page.keyboard.press("Enter")
        _wait_position(page, "image 1 of 36")
        for _ in range(36):  # Esc ("can't tell") until an image of the <script> category comes up
            if SCRIPT_CATEGORY in page.locator("#question").inner_text():
                break
            before = _position(page)
            page.keyboard.press("Escape")
            page.wait_for_function("b => document.getElementById('position').textContent !== b", arg=before)
            page.wait_for_selector("body[data-ready='1']", state="attached")
        assert page.locator("#question").inner_text() == f"What {SCRIPT_CATEGORY} is in the image if you had to guess?"
        options = page.eval_on_selector_all("#choices option", "os => os.map(o => o.value)")
        assert sorted(options) == sorted([SCRIPT_CONCEPT, "winter"])
        assert page.evaluate("document.scripts.length") == 1  # only the app's own file
        page.keyboard.type("<script>alert('answer')</script>")
        before = _position(page)
        page.keyboard.press("Enter")
        page.wait_for_function("b => document.getElementById('position').textContent !== b", arg=before)
        for path in ("/image/..%2f..%2fsweep.sqlite", "/image/..%2fsweep.sqlite", "/static/..%2fapp.py",
                     "/static/%2e%2e%2f%2e%2e%2fsweep%2fstore.py", "/sweep.sqlite", "/image/%2fetc%2fpasswd"):
            response = page.goto(base + path)
            assert response.status == 404, path
            assert "SQLite" not in page.content() and "import" not in page.content()
    assert page_factory.dialogs == []
    answers = [v["answer"] for v in Store.open_existing(run).verdicts("human:dora")]
    assert "<script>alert('answer')</script>" in answers


def test_the_report_shows_the_human_rows_and_kappa(run, page_factory):
    for name in ("ann", "ben", "<script>"[1:7]):  # "script" as a name, and answers with markup
        a = Annotation(run)
        rng = random.Random(name)
        while (p := a.progress(name)).item is not None:
            row = p.item.row
            yes = row["kind"] == "concept" and rng.random() < 0.7
            a.record(name, p.item.id, row["concept"] if yes else rng.choice(["fog", "<script>alert('said')</script>", None]))
    assert main(["report", str(run)]) == 0
    page = page_factory()
    page.goto((run / "report.html").resolve().as_uri())
    humans = page.locator("#humans")
    assert humans.is_visible()
    text = page.locator("body").inner_text()
    assert "3 annotator(s) (ann, ben, script)" in text and "108 answers" in text
    for heading in ("humans, stringent", "fake-judge vs humans, stringent",
                    "Where fake-judge and the humans disagree most (stringent)"):
        assert page.get_by_role("heading", name=heading, exact=True).is_visible(), heading
    table = page.locator("h3:has-text('humans, stringent') + p + table")
    assert table.locator("tr").count() >= 5  # header, 2 categories, All, chance rows
    assert "Animals" in table.inner_text() and "q=" in table.inner_text()
    kappa = page.locator("table.kappa").first.inner_text()
    assert "κ" in kappa and "both yes" in kappa and "all layers" in kappa
    assert "<script>alert('said')</script>" in page.locator(".disagree").first.inner_text()  # shown as text
    assert page.evaluate("document.scripts.length") == 1  # the report's own inline script only
    assert page_factory.dialogs == []


def test_lens_readouts_by_keyboard(tmp_path, page_factory):
    """``annotate --lens``: the digit keys tick candidates, Enter sends the ticks, Esc is "none of these"."""
    import json

    from test_lens_annotate import _images, _write

    from layerdream.annotate.lens import LensAnnotation

    (tmp_path / "lens").mkdir()
    _write(tmp_path / "lens", _images())
    lens = LensAnnotation(tmp_path)  # a RUN-like folder: its lens/ is used
    with serving(lens) as base:
        page = page_factory()
        page.goto(base)
        page.keyboard.type("lena")
        page.keyboard.press("Enter")
        _wait_position(page, "patch 1 of 6")
        first = page.locator("input[name=item]").get_attribute("value")
        offered = lens.items()[first].choices
        page.keyboard.press("1")
        page.keyboard.press("2")
        page.keyboard.press("Enter")
        _wait_position(page, "patch 2 of 6")
        page.keyboard.press("Escape")
        _wait_position(page, "patch 3 of 6")
    answers = sorted(lens.answers(), key=lambda a: a["created_at"])
    assert json.loads(answers[0]["chosen"]) == offered[:2] and answers[0]["interpretable"] == 1
    assert answers[1]["interpretable"] == 0 and json.loads(answers[1]["chosen"]) == []
