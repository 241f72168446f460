"""Safetensors files written as a stream and read memory-mapped, for the contextual index.

Why not ``safetensors.torch.save_file``/``load_file``: the index of a real model is larger than the
memory of the machine that searches it (LatentLens: ~26 GB for 8 layers of a 7B model), so a layer's
matrix is written block by block and read back as a ``numpy.memmap`` (pages come from disk as the
search touches them). The files follow the safetensors format exactly (8-byte little-endian header
length, JSON header, raw little-endian data), so ``safetensors.safe_open`` reads them too.

A file whose header or size does not add up raises :class:`CorruptFile`; the index turns that into
one line that names the file and the fix.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

DTYPES = {"F16": np.float16, "F32": np.float32, "I64": np.int64, "I32": np.int32}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}


class CorruptFile(Exception):
    """A safetensors file that cannot be what it claims (truncated, overwritten, not safetensors)."""


def write(path: Path, tensors: dict[str, tuple[tuple[int, ...], np.dtype, Iterable[np.ndarray]]],
          metadata: dict[str, str] | None = None) -> Path:
    """Write ``{name: (shape, dtype, blocks)}`` atomically; ``blocks`` yields row blocks in order."""
    header: dict[str, object] = {}
    offset = 0
    for name, (shape, dtype, _) in tensors.items():
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        header[name] = {"dtype": CODES[np.dtype(dtype)], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # the data starts 8-byte aligned
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob)))
        fh.write(blob)
        for name, (shape, dtype, blocks) in tensors.items():
            written = 0
            for block in blocks:
                data = np.ascontiguousarray(block, dtype=dtype)
                fh.write(data.tobytes())
                written += data.nbytes
            expected = header[name]["data_offsets"][1] - header[name]["data_offsets"][0]  # type: ignore[index]
            if written != expected:
                raise ValueError(f"{name}: wrote {written} bytes, the header says {expected}")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def write_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """Small tensors in one go (the build's chunk files)."""
    spec = {}
    for name, t in tensors.items():
        arr = t.detach().cpu().contiguous().numpy()
        spec[name] = (tuple(arr.shape), arr.dtype, [arr])
    return write(path, spec, metadata)


def header(path: Path) -> tuple[dict, int]:
    """(header, data start) of a safetensors file, checked against the file's size."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            raw = fh.read(8)
            if len(raw) < 8:
                raise CorruptFile("shorter than a safetensors header")
            (n,) = struct.unpack("<Q", raw)
            if n > min(size, 100_000_000):
                raise CorruptFile("header length past the end of the file")
            head = json.loads(fh.read(n))
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise CorruptFile(str(err)) from None
    if not isinstance(head, dict):
        raise CorruptFile("header is not a mapping")
    end = max((v["data_offsets"][1] for k, v in head.items() if k != "__metadata__"), default=0)
    if 8 + n + end != size:
        raise CorruptFile(f"{size} bytes, the header needs {8 + n + end}")
    return head, 8 + n


def open_mmap(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Every tensor of the file as a torch view of a read-only memory map, and the metadata."""
    head, start = header(path)
    out = {}
    for name, info in head.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise CorruptFile(f"{name}: unsupported dtype {info.get('dtype')!r}")
        a, b = info["data_offsets"]
        count = int(np.prod(info["shape"])) if info["shape"] else 1
        if (b - a) != count * np.dtype(dtype).itemsize:
            raise CorruptFile(f"{name}: shape {info['shape']} does not match its {b - a} bytes")
        if count == 0:
            out[name] = torch.zeros(info["shape"], dtype=torch.from_numpy(np.zeros(0, dtype)).dtype)
            continue
        arr = np.memmap(path, dtype=dtype, mode="r", offset=start + a, shape=tuple(info["shape"]))
        import warnings

        with warnings.catch_warnings():  # read-only maps are never written through these views
            warnings.simplefilter("ignore", UserWarning)
            out[name] = torch.from_numpy(arr)
    return out, dict(head.get("__metadata__", {}))
