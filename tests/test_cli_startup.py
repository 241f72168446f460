"""`layerdream --help` answers at once: no torch, no transformers until a command needs them."""
import subprocess
import sys


def test_help_imports_neither_torch_nor_transformers():
    code = ("import sys, layerdream.cli as c\n"
            "c.build_parser().format_help()\n"
            "import layerdream, layerdream.evaluation, layerdream.sweep, layerdream.report\n"
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_lazy_public_names_resolve():
    import layerdream as ld
    from layerdream.evaluation import evaluate, make_judge
    import layerdream.evaluation.evaluate as module  # noqa: F401  (importing the submodule must not shadow the function)
    from layerdream import evaluation

    assert callable(ld.synthesize) and callable(ld.image_representation) and callable(make_judge)
    assert callable(evaluate) and callable(evaluation.evaluate)
    assert sorted(dir(ld)) == sorted(ld.__all__)


def test_a_reader_that_leaves_is_no_traceback(tmp_path):
    """`layerdream families | head` raised BrokenPipeError with a traceback once head had its lines; now the
    command ends quietly with 141 (128 + SIGPIPE), as a Unix filter does. The pipe's reader is closed before
    the command writes, so the test does not race the pipe buffer."""
    import os
    from pathlib import Path

    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), "OMP_NUM_THREADS": "1"}
    try:
        proc = subprocess.run([sys.executable, "-m", "layerdream.cli", "families", "--status", "supported"], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120, env=env)
    finally:
        os.close(write)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 141, proc.stderr
