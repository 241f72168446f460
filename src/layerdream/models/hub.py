"""Is the Hugging Face hub reachable? Asked once, in about a second, before a hub id is loaded.

Without a network ``from_pretrained("org/name")`` retries with back-off for ~30 s before it says it
could not connect (~14 s even with ``HF_HUB_OFFLINE=1`` on a busy machine). A plain TCP connect to the
hub's host (or to the proxy the environment names) answers the same question in milliseconds when
nothing is there, and in at most ``TIMEOUT`` seconds when packets are dropped. Then:

* hub unreachable (or ``HF_HUB_OFFLINE`` set) and the checkpoint in the local cache: load it from the
  cache in huggingface_hub's offline mode, without waiting for the hub;
* unreachable and not cached: one line now, naming what to do.
"""
from __future__ import annotations

import os
from urllib.parse import urlparse

from ..errors import UserError

TIMEOUT = 3.0  # seconds for name lookup + connect; a reachable hub answers in well under one
_TRUE = {"1", "on", "yes", "true"}


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def offline_by_setting() -> bool:
    """HF_HUB_OFFLINE (or the older TRANSFORMERS_OFFLINE) says not to use the network at all."""
    return any(os.environ.get(k, "").strip().lower() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _target(url: str) -> tuple[str, int]:
    """The host:port a request to ``url`` first connects to: the proxy if the environment names one."""
    parsed = urlparse(url)
    scheme = parsed.scheme or "https"
    proxy = next((os.environ[k] for k in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY")
                  if os.environ.get(k)), None)
    if proxy and not _bypassed(parsed.hostname or ""):
        p = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        return p.hostname or "", p.port or (443 if p.scheme == "https" else 80)
    return parsed.hostname or "", parsed.port or (443 if scheme == "https" else 80)


def _bypassed(host: str) -> bool:
    rules = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    return any(r == "*" or host == r.lstrip(".") or host.endswith("." + r.lstrip("."))
               for r in (x.strip() for x in rules.split(",")) if r)


def reachable(url: str | None = None, timeout: float = TIMEOUT) -> bool:
    """Whether a TCP connection to the hub (or its proxy) opens within ``timeout`` seconds."""
    from ..net import port_open

    host, port = _target(url or endpoint())
    return port_open(host, port, timeout)


def cached(repo_id: str, filename: str = "config.json") -> bool:
    """Whether ``filename`` of ``repo_id`` is in the local hub cache (HF_HOME / HF_HUB_CACHE)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(repo_id, filename)
    except Exception:  # noqa: BLE001 - a malformed id is for from_pretrained to name
        return False
    return isinstance(found, str)


def cache_only(repo_id: str, gguf_file: str | None = None, toy_models: tuple[str, ...] = ()) -> bool:
    """For a hub id: False when the hub answers (load as usual), True when it cannot be reached but the
    checkpoint is cached (load it from the cache: :func:`go_offline`); a UserError when neither, which
    names ``toy_models`` (the shipped names, which work offline)."""
    if not offline_by_setting() and reachable():
        return False
    if cached(repo_id, gguf_file or "config.json"):
        return True
    why = "HF_HUB_OFFLINE is set" if offline_by_setting() else f"{endpoint()} cannot be reached (no network?)"
    raise UserError(f"cannot load model {repo_id!r}: {why} and it is not in the local Hugging Face cache; "
                    "connect to the network once to download it, or pass a local checkpoint folder or a toy model"
                    + (f" ({', '.join(toy_models)})" if toy_models else ""))


def go_offline(enabled: bool = True) -> bool | None:
    """Switch huggingface_hub to offline mode for one load; returns what :func:`restore` puts back.

    ``local_files_only=True`` alone is not enough: transformers also looks for optional files (an
    adapter config, a chat template, ...) without it, each with ~30 s of retries. Both libraries ask
    ``huggingface_hub.constants.HF_HUB_OFFLINE`` at call time (what HF_HUB_OFFLINE=1 sets at import)."""
    if not enabled:
        return None
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    return before


def restore(before: bool | None) -> None:
    if before is not None:
        from huggingface_hub import constants

        constants.HF_HUB_OFFLINE = before


__all__ = ["reachable", "cached", "cache_only", "go_offline", "restore", "endpoint", "offline_by_setting", "TIMEOUT"]
