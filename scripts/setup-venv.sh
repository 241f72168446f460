#!/usr/bin/env bash
# Create .venv and install layerdream with the given extras. Used by `make demo` / `make test`.
# torch: a machine that already has a torch (e.g. CUDA) keeps it (the venv sees system packages);
# a machine without one gets the CPU wheel torch==2.13.0 (plain `torch` would pull GBs of CUDA).
set -euo pipefail
VENV=${VENV:-.venv}
EXTRAS=${1:-}
if [ ! -x "$VENV/bin/python" ]; then
  if python3 -c "import torch" 2>/dev/null; then
    python3 -m venv --system-site-packages "$VENV"
  else
    python3 -m venv "$VENV"
  fi
fi
"$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
fi
"$VENV/bin/python" -m pip install -q -e ".${EXTRAS:+[$EXTRAS]}" 2>&1 | grep -v "^WARNING: Location" || true
# timm (PerceptionLM's vision tower; its tests: tests/models/families/_timm_stand_in.py) is not in the test extra:
# it requires torchvision, and pip would then replace the CPU torch with a CUDA torch + torchvision (GBs), whose
# torchvision does not import beside a CPU torch anyway. --no-deps: its other requirements (pyyaml, huggingface_hub,
# safetensors) are ours already.
case ",$EXTRAS," in
  *,test,*) "$VENV/bin/python" -m pip install -q --no-deps "timm>=1.0.31,<2" 2>&1 | grep -v "^WARNING: Location" || true ;;
esac
# The venv must run THIS checkout: with --system-site-packages an installed layerdream elsewhere (system,
# user site, PYTHONPATH) could be imported instead of the editable install, and every test would test it.
"$VENV/bin/python" -c "import layerdream, pathlib, sys; got = pathlib.Path(layerdream.__file__).resolve(); \
want = pathlib.Path('src/layerdream').resolve(); \
sys.exit(0 if got.is_relative_to(want) else f'setup-venv: $VENV imports layerdream from {got.parent}, not this checkout ({want}); uninstall that copy (pip uninstall layerdream) or unset PYTHONPATH')"
"$VENV/bin/python" -c "import importlib.metadata as m, layerdream, torch, transformers; print('layerdream', m.version('layerdream'), 'from', layerdream.__path__[0], '| torch', torch.__version__, '| transformers', transformers.__version__)"
