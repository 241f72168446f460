"""Reaching a Ray cluster: one line in about a second when nothing answers, and SIGTERM obeyed meanwhile.

``ray.init(address="127.0.0.1:1")`` with nothing listening spent 600 s printing Ray's C++ reconnect
warnings, and ``--ray auto`` after an earlier local ``--ray`` run did the same with the address that
run left in ``/tmp/ray/ray_current_cluster``. Worse, ray.init installs a Python SIGTERM handler and
then blocks in C++, where Python handlers never run: SIGTERM was ignored for those 600 s.

So before ray.init the address is resolved as Ray resolves it (RAY_ADDRESS, then that file) and
probed with a plain TCP connect (:func:`layerdream.net.port_open`); and while ray.init runs, SIGTERM
is taken by a helper thread and ends the process at once, as SIGTERM's default action does.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

from ..errors import UserError
from ..net import port_open

TIMEOUT = 3.0  # seconds for the probe; a cluster on the same network answers in milliseconds
STALE_FILE = "/tmp/ray/ray_current_cluster"


def bootstrap_address(address: str | None) -> tuple[str | None, str]:
    """(host:port that ray.init would connect to, where that came from); (None, "") when Ray starts a
    local instance or the address cannot be worked out here (then nothing is probed)."""
    if address in (None, "", "local"):
        return None, ""
    if address.startswith("ray://"):
        return address[len("ray://"):].split("/", 1)[0], ""
    from_env = bool(os.environ.get("RAY_ADDRESS")) and address == "auto"
    try:
        from ray._private import services  # the resolution ray.init itself uses (RAY_ADDRESS, the cluster file)

        resolved = services.canonicalize_bootstrap_address(address)
    except ConnectionError:
        raise UserError("--ray auto: no Ray cluster is running on this machine (no `ray start` here, RAY_ADDRESS "
                        "unset); start one with `ray start --head`, or give --ray without an address for a local one") from None
    except Exception:  # noqa: BLE001 - Ray's private API moved or the address is odd: let ray.init say it
        return (address if ":" in address else None), ""
    if resolved is None:
        return None, ""
    source = ("from RAY_ADDRESS" if from_env else
              f"from {_cluster_file()}, which an earlier `ray start` or --ray run left" if address == "auto" else "")
    return resolved, source


def _cluster_file() -> str:
    """Where `--ray auto` reads the last cluster's address (RAY_TMPDIR/ray/ray_current_cluster, usually /tmp/ray/...)."""
    try:
        from ray._common.utils import get_ray_address_file

        return get_ray_address_file(None)
    except Exception:  # noqa: BLE001 - only for the message
        return STALE_FILE


def check_reachable(address: str | None, timeout: float = TIMEOUT) -> None:
    """UserError, in about a second, when nothing listens where ray.init would connect."""
    hostport, source = bootstrap_address(address)
    if hostport is None:
        return
    host, _, port = hostport.rpartition(":")
    if not port.isdigit():
        return
    if not port_open(host.strip("[]"), int(port), timeout):
        shown = address.removeprefix("ray://") if address else hostport
        where = (f"{hostport} ({source})" if source else
                 shown if shown == hostport else f"{shown} (which Ray connects to as {hostport})")
        raise UserError(f"nothing answers at the Ray address {where}: is the cluster down? Start it with "
                        "`ray start --head`, check --ray, or give --ray without an address for a local Ray")


@contextmanager
def sigterm_ends_connect() -> Iterator[None]:
    """While ray.init connects, a SIGTERM ends the process (one line on stderr, exit 143).

    SIGTERM is blocked in the calling (main) thread and waited for by a helper thread; threads that
    Ray starts meanwhile inherit the mask, so the signal stays pending until the helper takes it.
    Afterwards the mask is as it was and Ray's own handler is in charge."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if signal.sigtimedwait({signal.SIGTERM}, 0.2) is not None:
                sys.stderr.write("layerdream: terminated (SIGTERM) while connecting to Ray; nothing was written\n")
                sys.stderr.flush()
                os._exit(128 + signal.SIGTERM)

    helper = threading.Thread(target=watch, daemon=True, name="layerdream-sigterm")
    helper.start()
    try:
        yield
    finally:
        stop.set()
        helper.join()
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


__all__ = ["check_reachable", "bootstrap_address", "sigterm_ends_connect", "TIMEOUT"]
