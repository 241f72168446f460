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
    # 4 controls of each kind per category, layer and seed by default (a test needs more than one)
    assert kinds.count("random") == 14 * 4 * 4 and kinds.count("shuffled") == 14 * 4 * 4
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


def test_one_control_per_category_plans_what_earlier_versions_planned():
    """RUNs made with the old default (1) must resume onto the same jobs: these keys are the old plan's."""
    cs = load_concept_set("toy")
    keys = [j.key for j in control_jobs(cs, 1, 0, per_category=1)]
    assert len(keys) == 2 * len(cs.categories)
    assert keys == [j.key for j in control_jobs(cs, 1, 0)]
    assert keys == _OLD_TOY_L1_S0


# control_jobs(toy, layer 1, seed 0) of the algorithm before distinct donors (commit f4dd2e8), verbatim
_OLD_TOY_L1_S0 = ['random|red|random#0|L1|s0', 'shuffled|green|triangle|L1|s0', 'random|square|random#1|L1|s0',
                  'shuffled|triangle|orange|L1|s0', 'random|sky|random#2|L1|s0', 'shuffled|sand|purple|L1|s0',
                  'random|winter|random#3|L1|s0', 'shuffled|summer|yellow|L1|s0']


def test_every_shuffled_control_of_a_category_has_its_own_donor():
    """A shuffled image is its donor's image: two with one donor are one control counted twice."""
    cs = load_concept_set("paper")
    c = control_jobs(cs, 1, 0, per_category=4)
    for category in cs.categories:
        donors = [j.source for j in c if j.kind == "shuffled" and j.category == category]
        assert len(donors) == 4 and len(set(donors)) == 4
        assert sum(j.kind == "random" and j.category == category for j in c) == 4


def test_more_controls_than_donors_are_capped_and_reported():
    """Issue 24 item 14: 1000 per category gave 4000 random but 294 shuffled controls without a word."""
    from layerdream.sweep.plan import shuffled_shortfall

    cs = load_concept_set("toy")
    short = shuffled_shortfall(cs, 1000)
    assert set(short) == set(cs.categories)
    c = control_jobs(cs, 1, 0, per_category=1000)
    for category in cs.categories:
        shuffled = [j for j in c if j.kind == "shuffled" and j.category == category]
        assert len(shuffled) == short[category] == len({j.source for j in shuffled})
    assert sum(j.kind == "random" for j in c) == 1000 * len(cs.categories)
    assert shuffled_shortfall(cs, 4) == {}
