"""examples/quickstart.ipynb runs end to end (nbmake, a real Jupyter kernel) and is committed with its outputs.

The notebook is executed on a copy in a temporary folder, so its RUN (``runs/quickstart``) lands there
and a finished RUN in the repository can never turn the sweep into a no-op. To refresh the committed
outputs after changing the notebook: ``python -m pytest --nbmake --overwrite`` on a copy (see
``test_the_quickstart_notebook_runs_end_to_end``), then copy it back (docs/python-api.md).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"


def _need_nbmake() -> None:
    """nbmake is in the `test` extra; in CI a missing plugin is a failure, elsewhere a skip with the reason."""
    if os.environ.get("CI"):
        import nbmake  # noqa: F401
    else:
        pytest.importorskip("nbmake", reason="pip install -e '.[test]' for the notebook test")


def _code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


@pytest.mark.slow
def test_the_quickstart_notebook_runs_end_to_end(tmp_path):
    _need_nbmake()
    copy = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbmake", "--overwrite",
                           "--nbmake-timeout=300", str(copy)], cwd=tmp_path, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    print(f"quickstart notebook: {seconds:.0f} s")
    cells = _code_cells(copy)
    outputs = [o for c in cells for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert all(c["outputs"] for c in cells[1:]), "every code cell after the settings shows something"
    # what the study produced, read back from the RUN the notebook made
    import layerdream as ld

    run = ld.open_run(tmp_path / "runs" / "quickstart")
    results = run.results()
    assert set(results.kind) == {"concept", "random", "shuffled"} and sorted(set(results.layer)) == [1, 2, 4]
    rec = run.recognition(by="layer", protocol="stringent", controls="pooled")
    assert list(rec.layer) == [1, 2, 4] and rec.random_rate.notna().all() and rec.shuffled_rate.notna().all()
    assert (tmp_path / "runs" / "quickstart" / "report.html").is_file()
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4, "the synthesised image, the grid, the recognition plot and the alignment plot"


def test_the_committed_notebook_carries_its_outputs():
    """It reads well on a code host only if it was executed before it was committed, without errors."""
    cells = _code_cells(NOTEBOOK)
    assert cells and all(c["outputs"] for c in cells[1:]), "every cell after the settings shows its result"
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), "executed top to bottom in one kernel"
    assert not [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    first = json.loads(NOTEBOOK.read_text())["cells"][0]
    assert first["cell_type"] == "markdown" and "GPU" in "".join(first["source"])
