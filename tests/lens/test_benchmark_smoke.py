"""benchmarks/lens.py's quick path runs end to end and reports every row (its numbers mean nothing here)."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
torch.set_num_threads(1)


def test_lens_benchmark_quick():
    from benchmarks import lens

    result = lens.run(quick=True)
    rows = result["rows"]
    assert rows["index build"]["tokens_per_s"] > 0 and rows["search"]["rows"] > 0
    assert rows["forward"]["per_layer/one"] > 0
    assert set(k for k in rows["readout"] if "+" in k or k in ("embedding", "logit", "contextual")) == {
        "embedding", "logit", "contextual", "embedding+logit+contextual"}
    assert "tokens/s" in lens.report(result) and "images/s" in lens.report(result)
