"""The report in a real browser: headless Chromium loads it from disk, every <img> decodes, the gallery renders.

Skipped only when Chromium is absent *and* we are not in CI (CI installs it: `apt-get install -y chromium`).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from layerdream.cli import main

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
IN_CI = bool(os.environ.get("CI"))
pytestmark = pytest.mark.skipif(CHROMIUM is None and not IN_CI, reason="chromium not installed (apt-get install -y chromium); required in CI")


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    assert CHROMIUM is not None, "CI must have chromium: apt-get update && apt-get install -y chromium"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("embed", [False, True])
def test_report_renders_with_no_broken_images(judged_run, tmp_path, embed):
    out = judged_run / "report.html" if not embed else tmp_path / "portable" / "report.html"
    out.parent.mkdir(exist_ok=True)
    assert main(["report", str(judged_run), "--out", str(out)] + (["--embed"] if embed else [])) == 0
    url = out.resolve().as_uri()
    dom = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # hidden and empty when nothing is broken: no debug line such as "broken=0 total=58" on the page
    m = re.search(r'id="image-check" data-broken="(-?\d+)" data-total="(-?\d+)" class="warn" hidden=""></div>', dom.stdout)
    assert m, "the page's image check did not run (or shows itself with nothing broken): " + dom.stdout[:500]
    broken, total = int(m.group(1)), int(m.group(2))
    n_images = len(list((judged_run / "images").rglob("*.png")))
    assert broken == 0
    assert total == n_images + 2  # every thumbnail plus the two Figure-3 plots

    shot = tmp_path / "shot.png"
    run = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,5000", "--hide-scrollbars", url)
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    with Image.open(shot) as im:
        im = im.convert("RGB")
        assert im.size == (1280, 5000)
        # the gallery (colourful thumbnails) is drawn: many saturated pixels in the lower part of the page
        lower = np.asarray(im.crop((0, 2000, 1280, 5000)).resize((320, 750))).astype(int)
        saturated = int(((lower.max(-1) - lower.min(-1)) > 60).sum())
        assert saturated > 2000, f"only {saturated} coloured pixels: the gallery did not render"


def test_the_broken_image_check_catches_a_missing_file(judged_run, tmp_path):
    assert main(["report", str(judged_run)]) == 0
    next((judged_run / "images").rglob("*.png")).unlink()
    dom = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", (judged_run / "report.html").as_uri())
    m = re.search(r'id="image-check" data-broken="1" data-total="\d+" class="warn">([^<]*)<', dom.stdout)
    assert m and "1 of" in m.group(1) and "failed to load" in m.group(1), dom.stdout[:300]
