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


def test_save_figure_writes_the_png_and_closes_the_figure_even_when_saving_fails(tmp_path, monkeypatch):
    """The one writer of every figure (Figure 3, align, the two lens figures): atomic, and pyplot lets go."""
    import matplotlib
    import pytest

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import layerdream.io as lio

    fig = plt.figure()
    out = lio.save_figure(fig, tmp_path / "f.png")
    assert out == tmp_path / "f.png" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lio, "atomic_write_bytes", full_disk)
    fig = plt.figure()
    with pytest.raises(OSError):
        lio.save_figure(fig, tmp_path / "g.png")
    assert not plt.fignum_exists(fig.number) and not (tmp_path / "g.png").exists()
