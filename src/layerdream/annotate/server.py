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


def _reachable(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified or ip.is_link_local or ip.is_multicast)


def network_address(ipv6: bool = False) -> str | None:
    """This machine's address as colleagues on the network see it, or None when it has none but loopback.

    Not ``getfqdn()``: on many machines (containers, laptops, /etc/hosts mapping the hostname to
    127.0.1.1) it names loopback, and the link printed for colleagues read ``http://localhost:...``.
    First the address of the interface that carries the default route (a UDP ``connect`` picks it;
    no packet is sent), then any non-loopback address the hostname resolves to."""
    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    probe = "2001:db8::1" if ipv6 else "192.0.2.1"  # documentation ranges: never contacted
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            address = s.getsockname()[0]
        if _reachable(address):
            return address
    except OSError:
        pass
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, family, socket.SOCK_STREAM)
    except OSError:
        return None
    return next((info[4][0] for info in infos if _reachable(info[4][0])), None)


def link(host: str, port: int, token: str | None) -> str:
    """The address to send to annotators (with the token when it needs one): for a wildcard ``--host``
    (0.0.0.0, ::) an address of this machine that others can reach, not loopback."""
    shown = host
    if host in ("0.0.0.0", "::", "[::]"):
        found = network_address(ipv6=host != "0.0.0.0") or (network_address() if host != "0.0.0.0" else None)
        if found is None:
            raise UserError(f"--host {host}: this machine has no network address but loopback, so no colleague could "
                            f"reach it; use the default --host {DEFAULT_HOST} (or connect to a network)")
        shown = found
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
