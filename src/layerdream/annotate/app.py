"""The annotation web app (Starlette): a page per image, keyboard-first, blind; all rules are in ``session.py``.

Why these choices:

* **Starlette + uvicorn**, not a hand-written HTTP server: request parsing, routing and the server
  loop are the part that is easy to get subtly wrong, and both are well kept.
* **Plain HTML forms** (post, then redirect to ``/``): the page works without JavaScript, a reload
  never re-sends an answer, and Enter submits by itself. ``static/annotate.js`` only adds the Esc key
  for "can't tell" and disables the buttons while an answer is on its way.
* **Safety.** Images are looked up by an opaque id in the RUN's results table (``Annotation.image``),
  and the two static files are read into memory at start: no path from a request ever reaches the
  file system. Templates are Jinja2 with autoescaping on, and a Content-Security-Policy allows no
  inline script, so a concept or an answer named ``<script>`` is text twice over. On 127.0.0.1 only
  ``Host: 127.0.0.1``/``localhost`` is served (a web page cannot reach the app by DNS rebinding); on
  any other address every request needs the token of the link (kept in an HttpOnly cookie after the
  first visit). Cookies are SameSite=Strict, so another site cannot post answers in an annotator's name,
  and a POST a browser sends from another origin (``Sec-Fetch-Site``/``Origin``) is refused, so another
  site cannot set the annotator's name either (login CSRF). A loopback IP literal (``--host 127.0.0.2``)
  is served like 127.0.0.1.
"""
from __future__ import annotations

import hmac
import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .lens import LensAnnotation
from .session import Annotation, clean_name

HERE = Path(__file__).parent
NAME_COOKIE = "ld_annotator"
TOKEN_COOKIE = "ld_token"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"]
CSP = ("default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def _static_files() -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, content type) of the app's own static files, read once at start."""
    return {p.name: (p.read_bytes(), STATIC_TYPES[p.suffix]) for p in sorted((HERE / "static").iterdir())
            if p.suffix in STATIC_TYPES}


class _Guard:
    """Pure ASGI middleware: the token check (non-loopback hosts) and the security headers on every reply."""

    def __init__(self, app: ASGIApp, token: str | None, hosts: list[str] | None) -> None:
        self.app = app
        self.token = token
        self.hosts = None if hosts is None else {h.lower() for h in hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.hosts is not None and not _loopback_host(host_name(request.headers.get("host", "")), self.hosts):
            await _with_headers(PlainTextResponse("Invalid host header", status_code=400))(scope, receive, send)
            return
        if request.method == "POST" and cross_origin(request):
            reply = PlainTextResponse("This form was sent from another web site; open the annotation page itself "
                                      "and answer there.", status_code=403)
            await _with_headers(reply)(scope, receive, send)
            return
        set_cookie = False
        if self.token is not None:
            given = request.query_params.get("token")
            if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
                set_cookie = True
            elif not hmac.compare_digest((request.cookies.get(TOKEN_COOKIE) or "").encode(), self.token.encode()):
                reply = PlainTextResponse("This annotation server needs the link with its token; ask the researcher "
                                          "who started it for the link.", status_code=403)
                await _with_headers(reply)(scope, receive, send)
                return
        if set_cookie:  # drop the token from the address bar (and from any screenshot of it)
            reply = RedirectResponse("/", status_code=303)  # never a path from the request: no open redirect
            reply.set_cookie(TOKEN_COOKIE, self.token or "", httponly=True, samesite="strict")
            await _with_headers(reply)(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _loopback_host(name: str, names: set[str]) -> bool:
    """A Host that can only mean this machine's loopback: one of ``names``, or a loopback IP literal
    (``--host 127.0.0.2`` prints a link with that address). A DNS name other than localhost is refused:
    that is what a DNS-rebinding page would send."""
    if name in names:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def cross_origin(request: Request) -> bool:
    """True for a request a browser sent from a page of another origin (login CSRF: a page elsewhere
    auto-submitting a form to /name set the annotator's name cookie, so later answers went under
    another name; SameSite=Strict protects only requests that need a cookie).

    Browsers say where a request comes from: ``Sec-Fetch-Site`` (all current browsers), else ``Origin``
    (sent with every POST; our pages' referrer policy keeps it, ``null`` counts as foreign). A request
    with neither is not from a browser's page (curl, a test client), so no page can forge it."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return origin.lower() != f"{request.url.scheme}://{request.headers.get('host', '')}".lower()


def host_name(header: str) -> str:
    """The host of a Host header without its port: ``127.0.0.1:8765`` -> ``127.0.0.1``, ``[::1]:80`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}


def _with_headers(response: Response) -> Response:
    for k, v in SECURITY_HEADERS.items():
        response.headers[k] = v
    return response


def create_app(annotation: Annotation | LensAnnotation, *, token: str | None = None, loopback: bool = True) -> Starlette:
    """The ASGI app serving ``annotation`` (a RUN's images, or lens readouts: ``LensAnnotation``, where the
    annotator ticks candidate words instead of typing). ``token``: required on every request
    (non-loopback hosts); ``loopback``: only Host headers naming this machine's loopback are served."""
    lens = isinstance(annotation, LensAnnotation)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    static = _static_files()

    def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(template).render(protocol=annotation.protocol, **context), status_code=status,
                            headers={"Cache-Control": "no-store"})

    def annotator(request: Request) -> str | None:
        try:
            return clean_name(unquote(request.cookies.get(NAME_COOKIE) or ""))
        except ValueError:
            return None

    async def page(request: Request, name: str, message: str | None = None, status: int = 200) -> HTMLResponse:
        state = await run_in_threadpool(annotation.progress, name)
        if state.item is None:
            return render("done.html", name=name, total=state.total, status=status)
        if lens:
            return render("lens_item.html", status=status, name=name, item_id=state.item.id,
                          question=annotation.question(state.item), choices=state.item.choices,  # type: ignore[arg-type]
                          answered=state.answered, total=state.total, message=message)
        return render("item.html", status=status, name=name, item_id=state.item.id, question=annotation.question(state.item),
                      choices=annotation.completions(state.item), answered=state.answered, total=state.total,
                      message=message)

    async def index(request: Request) -> Response:
        name = annotator(request)
        if name is None:
            return render("name.html", message=None, value="")
        return await page(request, name)

    async def set_name(request: Request) -> Response:
        form = await request.form()
        if not isinstance(form.get("name") or "", str):  # an uploaded file, not a typed name
            await form.close()
            return render("name.html", status=400, message="Please type your name.", value="")
        raw = str(form.get("name") or "")
        try:
            name = clean_name(raw)
        except ValueError as err:
            return render("name.html", status=400, message=str(err), value=raw[:80])
        reply = RedirectResponse("/", status_code=303)
        reply.set_cookie(NAME_COOKIE, quote(name), max_age=180 * 24 * 3600, httponly=True, samesite="strict")
        return reply

    async def leave(request: Request) -> Response:
        reply = RedirectResponse("/", status_code=303)
        reply.delete_cookie(NAME_COOKIE, httponly=True, samesite="strict")
        return reply

    async def answer(request: Request) -> Response:
        name = annotator(request)
        if name is None:
            return RedirectResponse("/", status_code=303)
        form = await request.form()
        if lens:
            return await lens_answer(request, name, form)
        fields = [form.get(k) for k in ("item", "answer", "cant_tell")]
        if any(v is not None and not isinstance(v, str) for v in fields):  # an uploaded file, not typed text
            await form.close()
            return await page(request, name, message="Type your answer into the box.", status=400)
        item_id = str(form.get("item") or "")
        cant_tell = bool(form.get("cant_tell"))
        text = None if cant_tell else str(form.get("answer") or "")
        try:
            await run_in_threadpool(annotation.record, name, item_id, text)
        except ValueError as err:
            return await page(request, name, message=str(err), status=400)
        return RedirectResponse("/", status_code=303)

    async def lens_answer(request: Request, name: str, form: Any) -> Response:
        ticked = form.getlist("choice")
        fields = [form.get("item"), form.get("none"), *ticked]
        if any(v is not None and not isinstance(v, str) for v in fields):  # an uploaded file, not a tick
            await form.close()
            return await page(request, name, message="Tick the words on the page.", status=400)
        chosen = None if form.get("none") else [str(v) for v in ticked]
        try:
            await run_in_threadpool(annotation.record, name, str(form.get("item") or ""), chosen)
        except ValueError as err:
            return await page(request, name, message=str(err), status=400)
        return RedirectResponse("/", status_code=303)

    async def image(request: Request) -> Response:
        data = await run_in_threadpool(annotation.image, request.path_params["item_id"])
        if data is None:
            return PlainTextResponse("no such image", status_code=404)
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    async def static_file(request: Request) -> Response:
        found = static.get(request.path_params["name"])
        if found is None:
            return PlainTextResponse("not found", status_code=404)
        return Response(found[0], media_type=found[1], headers={"Cache-Control": "no-cache"})

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/name", set_name, methods=["POST"]),
        Route("/leave", leave, methods=["POST"]),
        Route("/answer", answer, methods=["POST"]),
        Route("/image/{item_id:str}", image, methods=["GET"]),
        Route("/static/{name:str}", static_file, methods=["GET"]),
    ]
    middleware = [Middleware(_Guard, token=token, hosts=LOOPBACK_HOSTS if loopback else None)]
    return Starlette(routes=routes, middleware=middleware)
