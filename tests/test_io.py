import os
import stat

from layerdream.io import atomic_write_bytes, atomic_write_json, slugify


def test_atomic_write_leaves_no_temp_and_normal_permissions(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    path = atomic_write_json(tmp_path / "a.json", {"x": 1})
    assert path.read_text().strip().startswith("{") and [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # readable like any file open() makes, not 0600
    atomic_write_bytes(tmp_path / "a.json", b"2")
    assert (tmp_path / "a.json").read_bytes() == b"2"


def test_slugify():
    assert slugify("spring (season)") == "spring_season" and slugify("T-rex") == "t_rex" and slugify("???") == "concept"
