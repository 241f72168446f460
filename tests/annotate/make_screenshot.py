"""Take docs/img/annotate.png: the annotation page of a RUN in headless Chromium (Debian's), mid-answer.

Not a test (pytest does not collect it). Used for the docs:
    layerdream sweep --model toy-aligned --concepts toy --layer 1 --seed 0 --out /tmp/toy
    python tests/annotate/make_screenshot.py /tmp/toy docs/img/annotate.png
It serves the RUN on a free loopback port, gives the name "ada", answers nothing (the RUN is unchanged but
for the app's id secret), types a partial answer and takes the picture.
"""
from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path


def main(run: str, out: str, protocol: str = "lenient") -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from layerdream.annotate.app import create_app
    from layerdream.annotate.session import Annotation

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(shutil.copytree(run, Path(tmp) / "run"))  # the picture never writes to the RUN itself
        annotation = Annotation(copy, protocol=protocol, choices=protocol == "lenient")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        server = uvicorn.Server(uvicorn.Config(create_app(annotation), log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 900, "height": 760}, device_scale_factor=1)
                page.goto(f"http://127.0.0.1:{sock.getsockname()[1]}/")
                page.keyboard.type("ada")
                page.keyboard.press("Enter")
                page.wait_for_selector("body[data-ready='1']")
                for _ in range(3):  # a few answers, so that the progress bar has moved
                    page.keyboard.press("Escape")
                    page.wait_for_load_state("load")
                    page.wait_for_selector("body[data-ready='1']")
                page.keyboard.type("su")
                page.wait_for_timeout(300)
                page.screenshot(path=out)
                browser.close()
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
