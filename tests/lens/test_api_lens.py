"""`ld.lens(...)`: the same run from Python, results as DataFrames; `ld.lens` is both the function and the package."""
from __future__ import annotations

import torch

torch.set_num_threads(1)


def test_ld_lens_dataframes(tmp_path):
    import layerdream as ld
    import layerdream.lens.index  # noqa: F401  (importing the subpackage must not hide the function)

    assert callable(ld.lens) and ld.lens.build_index is layerdream.lens.index.build_index
    vlm = ld.load("toy-plain", device="cpu")
    result = ld.lens(vlm, layers=[1], n_images=4, tokens=4, lenses="embedding,contextual", corpus_limit=200,
                     index_dir=tmp_path / "cache", n_perm=20, progress=False)
    assert result.folder is None  # nothing written without out=
    table = result.table()
    assert set(table["lens"]) == {"embedding", "contextual"} and set(table["layer"]) == {1}
    assert len(result.readouts()) == 4 * 4 * 2 * 5
    assert set(result.sources()["text_layer"]) <= {1, 2, 3, 4}
    assert set(result.measures()["measure"]) == {"retrieval_top1", "linear_cka", "mutual_knn"}
    assert "toy-plain" in repr(result) and result.plot().data[:4] == b"\x89PNG"
