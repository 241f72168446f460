"""The web app over real HTTP (uvicorn on a loopback port): traversal, token, Host check, escaping,
headers, and many concurrent answers with none lost."""
from __future__ import annotations

import http.client
import http.cookiejar
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

if not os.environ.get("CI"):
    pytest.importorskip("starlette", reason="the annotate extra is not installed: pip install 'layerdream[annotate]'")
    pytest.importorskip("uvicorn", reason="the annotate extra is not installed: pip install 'layerdream[annotate]'")

from annotate_fixtures import SCRIPT_CATEGORY, SCRIPT_CONCEPT, serving  # noqa: E402

from layerdream.annotate.session import Annotation  # noqa: E402
from layerdream.sweep.store import Store  # noqa: E402


class Browserless:
    """A cookie-keeping HTTP client that does not follow redirects (to see 303s and Set-Cookie)."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base: str, follow: bool = True):
        self.base = base
        handlers = [urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())]
        if not follow:
            handlers.append(self._NoRedirect())
        self.opener = urllib.request.build_opener(*handlers)

    def call(self, path: str, data: dict | None = None) -> tuple[int, dict, bytes]:
        body = None if data is None else urllib.parse.urlencode(data).encode()
        try:
            with self.opener.open(self.base + path, data=body, timeout=30) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def raw_get(base: str, path: str, host: str | None = None) -> tuple[int, bytes]:
    """A GET that sends ``path`` byte for byte (no client-side normalisation of ../)."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", host or u.netloc)
    conn.endheaders()
    r = conn.getresponse()
    out = r.status, r.read()
    conn.close()
    return out


def item_of(html: bytes) -> str:
    return re.search(rb'name="item" value="([0-9a-f]{24})"', html).group(1).decode()


def test_no_request_path_reaches_the_file_system(run):
    secret_files = [(run / "sweep.sqlite").read_bytes()[:16], b"import", b"\x89PNG"]
    with serving(Annotation(run)) as base:
        image_path = Store.open_existing(run).results()[0]["image_path"]
        for path in ["/image/../sweep.sqlite", "/image/..%2fsweep.sqlite", "/image/%2e%2e%2f%2e%2e%2fsweep.sqlite",
                     "/image/..%5csweep.sqlite", "/image//etc/passwd", "/image/%2Fetc%2Fpasswd",
                     f"/image/{urllib.parse.quote(image_path, safe='')}", f"/image/{image_path}",
                     "/static/../app.py", "/static/..%2fapp.py", "/static/%2e%2e%2fsession.py",
                     "/static/..%2f..%2f..%2fsweep%2fstore.py", "/../sweep.sqlite", "/sweep.sqlite",
                     "/images/" + image_path.split("/", 1)[1], "/" + image_path]:
            status, body = raw_get(base, path)
            assert status in (404, 405), (path, status)
            assert not any(body.startswith(s) for s in secret_files), path
            assert b"SQLite format" not in body and b"def " not in body, path


def test_host_header_check_on_loopback_and_security_headers(run):
    with serving(Annotation(run)) as base:
        assert raw_get(base, "/", host="evil.example")[0] == 400  # DNS rebinding: another name for 127.0.0.1
        assert raw_get(base, "/", host="evil.example:80")[0] == 400
        assert raw_get(base, "/", host="localhost:1")[0] == 200
        status, headers, _ = Browserless(base).call("/")
        assert status == 200
        assert "script-src 'self'" in headers["content-security-policy"] and "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


def test_a_token_is_required_on_other_hosts(run):
    token = "tok-" + "x" * 20
    with serving(Annotation(run), token=token, loopback=False) as base:
        stranger = Browserless(base)
        for path in ("/", "/static/annotate.css", "/image/" + "0" * 24, "/?token=wrong"):
            status, _, body = stranger.call(path)
            assert status == 403 and b"token" in body, path
        assert stranger.call("/name", {"name": "mallory"})[0] == 403
        raw = Browserless(base, follow=False)
        status, headers, _ = raw.call(f"/?token={token}")
        assert status == 303 and headers["location"] == "/"  # the token leaves the address bar
        assert "HttpOnly" in headers["set-cookie"] and "samesite=strict" in headers["set-cookie"].lower()
        for path in ("//evil.example/", "/image/x"):  # the redirect never takes a path from the request
            assert Browserless(base, follow=False).call(f"{path}?token={token}")[1]["location"] == "/"
        colleague = Browserless(base)
        status, _, html = colleague.call(f"/?token={token}")
        assert status == 200 and b'id="name-form"' in html
        status, _, html = colleague.call("/name", {"name": "ann"})
        assert status == 200 and b"image 1 of 36" in html
        assert colleague.call("/image/" + item_of(html))[0] == 200


def test_pages_escape_everything(run):
    """A <script> category (shown in the lenient question), concept (a --choices completion) and name."""
    annotation = Annotation(run, protocol="lenient", choices=True)
    with serving(annotation) as base:
        client = Browserless(base)
        status, _, html = client.call("/name", {"name": "<script>x"})
        assert status == 400 and b"<script>x" not in html and b"&lt;script&gt;x" in html
        status, _, html = client.call("/name", {"name": "eve"})
        for _ in range(36):
            if SCRIPT_CATEGORY.encode() in html or b"&lt;script&gt;alert(&#39;category&#39;)" in html:
                break
            status, _, html = client.call("/answer", {"item": item_of(html), "cant_tell": "1"})
        assert b"&lt;script&gt;alert(&#39;category&#39;)&lt;/script&gt; is in the image" in html
        assert b"&lt;script&gt;alert(&#39;concept&#39;)&lt;/script&gt;" in html  # the completion, as text
        assert SCRIPT_CATEGORY.encode() not in html and SCRIPT_CONCEPT.encode() not in html
        assert html.count(b"<script") == 1  # the app's own static script, nothing else


def test_empty_answer_is_refused_and_a_stale_form_changes_nothing(run):
    with serving(Annotation(run)) as base:
        client = Browserless(base)
        _, _, html = client.call("/name", {"name": "ann"})
        status, _, again = client.call("/answer", {"item": item_of(html), "answer": "  "})
        assert status == 400 and b"Esc" in again and item_of(again) == item_of(html)
        status, _, page = client.call("/answer", {"item": "f" * 24, "answer": "dog"})
        assert status == 200 and b"image 1 of 36" in page
        assert Browserless(base).call("/answer", {"item": item_of(html), "answer": "dog"})[0] == 200  # no name: no answer
    assert not [v for v in Store.open_existing(run).verdicts() if v["judge"].startswith("human:")]


def test_concurrent_annotators_lose_no_answer(run):
    """Six annotators answer twelve images each at the same time, as fast as they can."""
    failures: list[str] = []

    def annotate(name: str, base: str) -> None:
        client = Browserless(base)
        _, _, html = client.call("/name", {"name": name})
        for i in range(12):
            status, _, html = client.call("/answer", {"item": item_of(html), "answer": f"{name} {i}"})
            if status != 200 or f"image {i + 2} of 36".encode() not in html:
                failures.append(f"{name} {i}: {status}")
                return

    with serving(Annotation(run)) as base:
        threads = [threading.Thread(target=annotate, args=(f"ann{n}", base)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not failures
    verdicts = [v for v in Store.open_existing(run).verdicts() if v["judge"].startswith("human:")]
    assert len(verdicts) == 72
    for n in range(6):
        answers = sorted(v["answer"] for v in verdicts if v["judge"] == f"human:ann{n}")
        assert answers == sorted(f"ann{n} {i}" for i in range(12))


def _post(base: str, path: str, fields: dict, headers: dict | None = None, host: str | None = None) -> tuple[int, dict]:
    """A form POST with chosen headers (Origin, Sec-Fetch-Site: what a browser sends for another site's form)."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("POST", path, body=urllib.parse.urlencode(fields),
                 headers={"Host": host or u.netloc, "Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
    r = conn.getresponse()
    out = r.status, {k.lower(): v for k, v in r.getheaders()}
    r.read()
    conn.close()
    return out


def test_another_site_cannot_set_the_annotators_name(run):
    """Login CSRF (issue 24.25): a page elsewhere auto-submitting a form to /name replaced the name cookie,
    so the annotator's later answers went under another name. Our own pages' POSTs still work."""
    with serving(Annotation(run)) as base:
        origin = base  # http://127.0.0.1:PORT
        for foreign in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                        {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"},
                        {"Sec-Fetch-Site": "same-site"}):
            status, headers = _post(base, "/name", {"name": "mallory"}, foreign)
            assert status == 403 and "set-cookie" not in headers, foreign
            assert _post(base, "/leave", {}, foreign)[0] == 403
        for own in ({"Origin": origin}, {"Sec-Fetch-Site": "same-origin", "Origin": "null"}, {}):
            status, headers = _post(base, "/name", {"name": "ann"}, own)
            assert status == 303 and "ld_annotator=ann" in headers["set-cookie"], own
        status, headers, _ = Browserless(base).call("/")
        assert headers["referrer-policy"] == "same-origin"  # keeps Origin on our own forms (no-referrer sent "null")


def test_a_loopback_address_other_than_127_0_0_1_is_served(run):
    """`annotate --host 127.0.0.2` printed a link that answered 400 "Invalid host header" (issue 24.23)."""
    with serving(Annotation(run)) as base:
        port = urllib.parse.urlsplit(base).port
        assert raw_get(base, "/", host=f"127.0.0.2:{port}")[0] == 200
        assert raw_get(base, "/", host=f"[::1]:{port}")[0] == 200
        for rebinding in ("evil.example", f"127.0.0.2.evil.example:{port}", "0.0.0.0", f"10.0.0.1:{port}"):
            assert raw_get(base, "/", host=rebinding)[0] == 400, rebinding


def test_an_uploaded_file_is_not_an_answer(run):
    """A multipart file as `answer` was stored as the text "UploadFile(...)" (issue 24.19)."""
    with serving(Annotation(run)) as base:
        client = Browserless(base)
        _, _, html = client.call("/name", {"name": "ann"})
        boundary = "layerdreamboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"item\"\r\n\r\n{item_of(html)}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"answer\"; filename=\"a.txt\"\r\n"
                f"Content-Type: text/plain\r\n\r\ndog\r\n--{boundary}--\r\n").encode()
        request = urllib.request.Request(base + "/answer", data=body,
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            status = client.opener.open(request, timeout=30).status
        except urllib.error.HTTPError as err:
            status = err.code
        assert status == 400
    assert not [v for v in Store.open_existing(run).verdicts() if v["judge"].startswith("human:")]
