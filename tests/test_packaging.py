"""The set-up's own output: no deprecation banners from the build backend, and a last line that names versions."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_reads_without_setuptools_deprecations():
    """`pip install -e .` reads pyproject.toml three times (requires, metadata, build): a table-valued
    project.license printed setuptools' banner three times. An SPDX string is the current form."""
    pytest.importorskip("setuptools")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_configuration(Distribution(), ROOT / "pyproject.toml")
    deprecations = [str(w.message).splitlines()[0] for w in caught if "Deprecat" in w.category.__name__]
    assert deprecations == []


def test_setup_script_last_line_prints_versions():
    """The set-up's closing line: `layerdream <version> from <folder> | torch <version> | ...`, not a name twice."""
    last = (ROOT / "scripts" / "setup-venv.sh").read_text().strip().splitlines()[-1]
    assert last.startswith('"$VENV/bin/python" -c ')
    out = subprocess.run(["bash", "-c", last.replace('"$VENV/bin/python"', shlex.quote(sys.executable), 1)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    version = re.escape(metadata.version("layerdream"))
    assert re.match(rf"layerdream {version} from \S+ \| torch \S+ \| transformers \S+$", out.stdout.strip()), out.stdout
