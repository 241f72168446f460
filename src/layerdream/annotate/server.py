"""Serving the annotation page: the web extra's presence, the listening socket, the link to send.

Plain Python (socket, ipaddress): the web framework itself is imported by ``app.py`` and by the
command that runs the server (``layerdream annotate``, in ``layerdream.cli.annotate``).
"""
from __future__ import annotations

import ipaddress
import socket

from ..errors import UserError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
EXTRA_MODULES = ("starlette", "uvicorn", "jinja2", "multipart")


def check_extra() -> None:
    """One line naming the extra when the web framework is not installed."""
    import importlib.util

    missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"layerdream annotate needs the web extra: pip install 'layerdream[annotate]' "
                        f"(missing: {', '.join(missing)})")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the server starts: a busy port or a bad address is one line."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise UserError(f"--host {host!r} is not an address of this machine ({err.strerror}); "
                        f"use {DEFAULT_HOST} or this machine's address on the network") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port} ({err.strerror or err}); pick another --port, "
                        f"or a --host this machine has") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def link(host: str, port: int, token: str | None) -> str:
    """The address to send to annotators (with the token when it needs one)."""
    shown = host
    if host in ("0.0.0.0", "::", "[::]"):
        shown = socket.getfqdn() or socket.gethostname()
    elif ":" in host and not host.startswith("["):
        shown = f"[{host}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
