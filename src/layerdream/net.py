"""Is anything listening at host:port? Asked before a client library is given an address it would retry for minutes.

Both the Hugging Face hub client (~30 s of back-off) and Ray's driver (600 s of reconnect attempts,
deaf to SIGTERM) wait a long time on an address where nothing answers. A plain TCP connect answers in
milliseconds when the port is closed and in at most ``timeout`` seconds when packets are dropped.
"""
from __future__ import annotations

import socket
import threading


def port_open(host: str, port: int, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host:port`` opens within ``timeout`` seconds.

    The attempt runs in a daemon thread: ``getaddrinfo`` has no timeout of its own and can stall for
    many seconds on a machine whose resolver is unreachable."""
    if not host:
        return False
    result: list[bool] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
            result.append(True)
        except (OSError, ValueError):
            result.append(False)

    thread = threading.Thread(target=attempt, daemon=True, name="layerdream-port-check")
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


__all__ = ["port_open"]
