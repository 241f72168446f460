"""`layerdream toyworld samples` writes a grid; bad input is one line and exit 2."""
from layerdream.cli import main


def test_samples_writes_png(tmp_path):
    out = tmp_path / "grid.png"
    assert main(["toyworld", "samples", "--out", str(out), "-n", "4", "--seed", "1"]) == 0
    from PIL import Image

    assert Image.open(out).size[0] > 64


def test_samples_bad_input(tmp_path, capsys):
    assert main(["toyworld", "samples", "--out", str(tmp_path / "x.jpg")]) == 2
    assert main(["toyworld", "samples", "--out", str(tmp_path / "x.png"), "-n", "0"]) == 2
    assert main(["toyworld", "samples", "--out", str(tmp_path / "missing" / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("layerdream: error:") for line in err)
