"""The package's floors (docs/architecture.md) are enforced, not described: the import-linter layers
contract in pyproject.toml passes; it fails, naming the import, when a lower floor imports a higher one
(shown on a copy of the package with two deliberately wrong imports); names a subsystem looks up on the
root package (``import layerdream as ld; ld.X``), which the contract cannot see, resolve to its own floor
or below; and no module is over 400 lines without saying why at its top.
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "layerdream"
MAX_LINES = 400
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contract() -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [contract] = [c for c in config["contracts"] if c["type"] == "layers"]
    return contract


def _floors() -> dict[str, int]:
    """Top-level room of layerdream -> its floor (0 = top, the CLI)."""
    return {room.strip(): i for i, layer in enumerate(_contract()["layers"])
            for room in layer.replace(":", "|").split("|")}


def _lint(src: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(ROOT / "pyproject.toml")], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_layers_contract_is_kept(tmp_path):
    proc = _lint(ROOT / "src", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 kept, 0 broken" in proc.stdout


def test_the_contract_fails_on_an_upward_import_and_names_it(tmp_path):
    copy = tmp_path / "src" / "layerdream"
    def not_source(folder: str, names: list[str]) -> list[str]:  # the contract reads only the .py files
        return [n for n in names if n in ("__pycache__", "checkpoints")
                or (not n.endswith(".py") and not (Path(folder) / n).is_dir())]

    shutil.copytree(PACKAGE, copy, ignore=not_source)
    with open(copy / "models" / "vlm.py", "a") as f:  # the model zoo reaching up into the command line
        f.write("\n\ndef _wrong():\n    from ..cli import main  # deliberately wrong\n\n    return main\n")
    with open(copy / "report" / "tables.py", "a") as f:  # the report needing the web app again
        f.write("\nfrom ..annotate import session as _wrong  # noqa: E402,F401  deliberately wrong\n")
    proc = _lint(tmp_path / "src", tmp_path)
    out = proc.stdout
    assert proc.returncode != 0 and "BROKEN" in out, out + proc.stderr
    assert "layerdream.models is not allowed to import layerdream.cli" in out
    assert "layerdream.models.vlm -> layerdream.cli" in out
    assert "layerdream.report is not allowed to import layerdream.annotate" in out
    # ... and a new top-level room must be given a floor (the contract is exhaustive)
    (copy / "models" / "vlm.py").write_text((PACKAGE / "models" / "vlm.py").read_text())
    (copy / "report" / "tables.py").write_text((PACKAGE / "report" / "tables.py").read_text())
    (copy / "newroom.py").write_text('"""A module nobody placed."""\n')
    proc = _lint(tmp_path / "src", tmp_path)
    assert proc.returncode != 0 and "layerdream.newroom" in proc.stdout, proc.stdout + proc.stderr


def _room(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def test_root_lookups_do_not_run_up_a_floor():
    """``ld.sweep`` inside a subsystem would import the API through the root's lazy table, unseen by the
    contract: every ``ld.X`` below the API must name something on its own floor or lower."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    lazy = next(node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "lazy")
    table = {k.value: v.value.lstrip(".").split(".")[0] for k, v in zip(lazy.args[1].keys, lazy.args[1].values)}
    floors = _floors()
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "__init__.py":
            continue
        module = ast.parse(path.read_text())
        aliases = {a.asname or a.name for node in ast.walk(module) if isinstance(node, ast.Import)
                   for a in node.names if a.name == "layerdream"}
        for node in ast.walk(module):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                target = table.get(node.attr)
                if target is not None and floors[target] < floors[_room(path)]:
                    wrong.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: ld.{node.attr} is layerdream.{target}")
    assert not wrong, "upward through the root package:\n" + "\n".join(wrong)


def test_no_module_is_over_400_lines_without_a_reason_at_its_top():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text().splitlines()
        if len(lines) > MAX_LINES and not any("over 400 lines" in line.lower() for line in lines[:40]):
            long.append(f"{path.relative_to(ROOT)}: {len(lines)} lines")
    assert not long, ("split these modules, or say at the top (first 40 lines) why one module is "
                      "'over 400 lines':\n" + "\n".join(long))

