import torch

from layerdream.sweep.conceptsets import load_concept_set
from layerdream.sweep.plan import control_jobs, plan_jobs, random_direction


def test_plan_counts_and_unique_keys():
    cs = load_concept_set("paper")
    jobs = plan_jobs(cs, [1, 5], [0, 1])
    keys = [j.key for j in jobs]
    assert len(keys) == len(set(keys))
    kinds = [j.kind for j in jobs]
    assert kinds.count("concept") == 105 * 4
    assert kinds.count("random") == 14 * 4 and kinds.count("shuffled") == 14 * 4
    assert len(plan_jobs(cs, [1], [0], controls=False)) == 105


def test_plan_is_deterministic():
    cs = load_concept_set("paper")
    assert [j.key for j in plan_jobs(cs, [1, 5], [0, 3])] == [j.key for j in plan_jobs(cs, [1, 5], [0, 3])]


def test_random_directions_are_unit_and_distinct_per_seed_and_layer():
    a = random_direction(0, 1, 0, 64)
    assert torch.allclose(a.norm(), torch.tensor(1.0))
    assert torch.equal(a, random_direction(0, 1, 0, 64))  # reproducible for resume
    others = [random_direction(1, 1, 0, 64), random_direction(0, 5, 0, 64), random_direction(0, 1, 1, 64)]
    for b in others:
        assert abs(float(a @ b)) < 0.6


def test_controls_one_per_category_and_differ_across_seed_and_layer():
    cs = load_concept_set("paper")
    c = control_jobs(cs, 1, 0)
    for kind in ("random", "shuffled"):
        cats = [j.category for j in c if j.kind == kind]
        assert sorted(cats) == sorted(cs.categories)
    for j in c:
        assert cs.by_name()[j.concept].category == j.category  # judged against a label of its own category
        if j.kind == "shuffled":
            assert cs.by_name()[j.source].category != j.category  # the donor comes from elsewhere
    pairs = lambda jobs: {(j.kind, j.concept, j.source) for j in jobs if j.kind == "shuffled"}
    assert pairs(c) != pairs(control_jobs(cs, 1, 1))
    assert pairs(c) != pairs(control_jobs(cs, 5, 0))


def test_more_controls_per_category():
    cs = load_concept_set("toy")
    c = control_jobs(cs, 1, 0, per_category=3)
    assert sum(j.kind == "random" for j in c) == 3 * len(cs.categories)
    assert len({j.key for j in c}) == len(c)
