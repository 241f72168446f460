"""A hub id without a network: one line in seconds (it took ~30 s of retries), or the cached copy."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import layerdream as ld
from layerdream.models import hub

ROOT = Path(__file__).resolve().parents[2]
NOWHERE = "http://127.0.0.1:1"  # nothing listens on port 1: the connect is refused at once


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    return env | {"HF_ENDPOINT": NOWHERE, "HF_HUB_CACHE": str(tmp_path / "hub"), "PYTHONPATH": str(ROOT / "src"),
                  "OMP_NUM_THREADS": "1", "HF_HUB_DISABLE_TELEMETRY": "1"} | extra


def test_unreachable_hub_is_one_line_in_seconds(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", NOWHERE)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    started = time.perf_counter()
    with pytest.raises(ld.UserError, match="cannot be reached .* not in the local Hugging Face cache"):
        ld.load("someone/not-cached-anywhere")
    assert time.perf_counter() - started < 10


def test_offline_setting_without_cache_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ld.UserError, match="HF_HUB_OFFLINE is set"):
        hub.cache_only("someone/not-cached-anywhere")


def test_proxy_from_the_environment_is_what_is_checked(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert hub._target("https://huggingface.co") == ("proxy.example", 3128)
    monkeypatch.setenv("NO_PROXY", ".huggingface.co")
    assert hub._target("https://huggingface.co") == ("huggingface.co", 443)


def test_cached_checkpoint_loads_without_the_hub(tmp_path, tiny_folder):
    """Offline with the checkpoint in the cache: it loads from the cache, at once."""
    snapshot = tmp_path / "hub" / "models--someone--tiny" / "snapshots" / "0123abcd"
    shutil.copytree(tiny_folder, snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abcd")
    code = "import layerdream as ld; v = ld.load('someone/tiny', device='cpu'); print(v.num_layers)"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "3"
    assert time.perf_counter() - started < 60
