"""Fixtures for evaluation tests: a real chat-completions HTTP server on 127.0.0.1, and test images.

The fake server decides what to do from the colour of the image it receives, so one evaluate() call
can mix good answers, 500s, 429s, timeouts, malformed JSON and empty answers, and each item's
verdicts can be checked. Text-only requests (the LLM grader) are graded by substring.
"""
from __future__ import annotations

import base64
import io
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

torch.set_num_threads(1)

COLOURS = {
    "red": (255, 0, 0),        # answers "Dogs."
    "green": (0, 255, 0),      # answers "Cat"
    "blue": (0, 0, 255),       # always HTTP 500 (body echoes the Authorization header)
    "white": (255, 255, 255),  # sleeps beyond the client timeout
    "black": (0, 0, 0),        # 200 with malformed JSON
    "gray": (128, 128, 128),   # always HTTP 429
    "yellow": (255, 255, 0),   # 200 with empty content, finish_reason=length
    "purple": (128, 0, 128),   # answers "Chessboard" (the rubric grader counts it as chess, the matcher does not)
    "orange": (255, 128, 0),   # 200 with an HTML page instead of JSON (a proxy's error page)
}
ANSWERS = {"red": "Dogs.", "green": "Cat", "purple": "Chessboard"}


def _colour_of(data_url: str) -> str:
    from PIL import Image

    raw = base64.b64decode(data_url.split(",", 1)[1])
    pixel = Image.open(io.BytesIO(raw)).convert("RGB").getpixel((0, 0))
    return min(COLOURS, key=lambda c: sum((a - b) ** 2 for a, b in zip(COLOURS[c], pixel)))


class FakeServer:
    def __init__(self, sleep: float = 1.0) -> None:
        self.requests: list[dict] = []
        self.auth: list[str] = []
        self.fail_first = 0  # the first N requests get 429 (then normal behaviour)
        self.flaky = 0  # every flaky-th request gets a bad 200: truncated JSON, empty content, or a cut-off grader reply
        self.down: str | None = None  # "500": every request gets HTTP 500; "html": 200 with an HTML page
        self.sleep = sleep
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                try:
                    server.handle(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def count(self) -> int:
        return len(self.requests)

    def _send(self, h: BaseHTTPRequestHandler, code: int, body: bytes, headers: dict | None = None) -> None:
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _completion(self, content: str | None, finish: str = "stop") -> bytes:
        return json.dumps({
            "id": "x", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        }).encode()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = json.loads(h.rfile.read(int(h.headers.get("Content-Length", 0))))
        with self.lock:
            self.requests.append(body)
            self.auth.append(h.headers.get("Authorization", ""))
            n = len(self.requests)
        if n <= self.fail_first:
            return self._send(h, 429, b'{"error": {"message": "slow down"}}', {"Retry-After": "0"})
        if self.flaky and n % self.flaky == 0:
            bad = (n // self.flaky) % 3
            if bad == 0:
                return self._send(h, 200, self._completion("Dogs.")[:37])  # the body cut off mid-JSON
            grader = isinstance(body["messages"][0]["content"], str)
            return self._send(h, 200, self._completion("Thinking it over. Resu" if grader and bad == 2 else ""))
        if self.down == "500":
            return self._send(h, 500, b'{"error": {"message": "internal error"}}')
        if self.down == "html":
            return self._send(h, 200, b"<html><body>Bad gateway</body></html>", {"Content-Type": "text/html"})
        content = body["messages"][0]["content"]
        if isinstance(content, str):  # grader: rubric text
            concept = re.search(r"mention it sees '([^']*)'", content).group(1)
            response = content.split("<BEGIN RESPONSE>")[1].split("<END RESPONSE>")[0]
            score = int(concept.lower() in response.lower())
            return self._send(h, 200, self._completion(f"Result: 0 would be wrong? Thinking.\nResult: {score}"))
        image = next(p for p in content if p["type"] == "image_url")["image_url"]["url"]
        colour = _colour_of(image)
        if colour in ANSWERS:
            return self._send(h, 200, self._completion(ANSWERS[colour]))
        if colour == "blue":
            msg = json.dumps({"error": {"message": f"boom, your header was {h.headers.get('Authorization')}"}})
            return self._send(h, 500, msg.encode())
        if colour == "white":
            time.sleep(self.sleep)
            return self._send(h, 200, self._completion("too late"))
        if colour == "black":
            return self._send(h, 200, b'{"choices": [ this is not json')
        if colour == "orange":
            return self._send(h, 200, b"<html><body>Bad gateway</body></html>", {"Content-Type": "text/html"})
        if colour == "gray":
            return self._send(h, 429, b'{"error": {"message": "rate limited"}}', {"Retry-After": "0"})
        return self._send(h, 200, self._completion(None, "length"))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = FakeServer()
    yield srv
    srv.close()


@pytest.fixture
def images(tmp_path):
    """One 16x16 PNG per colour: {colour: path}."""
    from PIL import Image

    out = {}
    for name, rgb in COLOURS.items():
        path = tmp_path / f"{name}.png"
        Image.new("RGB", (16, 16), rgb).save(path)
        out[name] = str(path)
    return out


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
