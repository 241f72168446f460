"""Judge-free measures: known values on constructed data, and nulls that sit at chance."""
from __future__ import annotations

import pytest
import torch

from layerdream.diagnostics import measures as M

torch.set_num_threads(1)


def test_linear_cka_and_mutual_knn_on_known_geometry():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 8, generator=g)
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g))
    assert M.linear_cka(x, 3 * x @ q) == pytest.approx(1.0, abs=1e-9)  # rotation and scale invariant
    assert M.mutual_knn(x, x @ q, 3) == pytest.approx(1.0)
    y = torch.randn(30, 8, generator=g)
    assert M.linear_cka(x, y) < 0.6 and M.mutual_knn(x, y, 3) < 0.5


def test_retrieval_with_its_chance_and_null():
    g = torch.Generator().manual_seed(1)
    names = [f"c{i}" for i in range(10)]
    v = torch.nn.functional.normalize(torch.randn(10, 16, generator=g), dim=-1)
    labels = [{names[i % 10]} for i in range(40)]
    reps = v[[i % 10 for i in range(40)]] + 0.05 * torch.randn(40, 16, generator=g)
    r = M.retrieval_top1(reps, labels, v, names, n_perm=200)
    assert r["value"] == 1.0 and r["N"] == 10 and r["n"] == 40 and r["chance"] == pytest.approx(0.1)
    assert abs(r["null_mean"] - 0.1) < 0.05 and r["p"] == pytest.approx(1 / 201)
    noise = M.retrieval_top1(torch.randn(40, 16, generator=g), labels, v, names, n_perm=200)
    assert noise["p"] > 0.01


def test_paired_measures_rows_and_small_sets():
    g = torch.Generator().manual_seed(2)
    names = ["a", "b", "c", "d", "e", "f"]
    v = torch.randn(6, 4, generator=g)
    labels = [{n} for n in names]
    rows = M.judge_free(v.clone(), labels, v, names, layer=3, n_perm=100)
    by = {r["measure"]: r for r in rows}
    assert set(by) == {"retrieval_top1", "linear_cka", "mutual_knn"} and all(r["layer"] == 3 for r in rows)
    assert by["linear_cka"]["value"] == pytest.approx(1.0) and by["linear_cka"]["null_mean"] < 1
    assert by["mutual_knn"]["k"] == 3 and by["mutual_knn"]["N"] == 6
    assert M.paired_measures(v[:2], labels[:2], v, names) == []  # fewer than 3 concepts with images: nothing


def test_images_of_one_concept_give_no_retrieval_row():
    """`layerdream lens --images photos/` with only photos/red/ printed retrieval 1.000 (null 1.000, p=1): a
    permutation of identical labels is no null. Two concepts with images are the least a null can shuffle."""
    g = torch.Generator().manual_seed(3)
    names = ["red", "blue", "green"]
    v = torch.randn(3, 4, generator=g)
    one = M.judge_free(v[[0, 0, 0]] + 0.01 * torch.randn(3, 4, generator=g), [{"red"}] * 3, v, names, layer=1, n_perm=50)
    assert one == []
    two = M.judge_free(v[[0, 1]], [{"red"}, {"blue"}], v, names, layer=1, n_perm=50)
    assert [r["measure"] for r in two] == ["retrieval_top1"]  # CKA and mutual-kNN need 3
