"""The claims' verdict rule, checked by simulation: per-image scores and training-noise draws constructed with a
known true difference, the verdicts counted over many draws."""
from __future__ import annotations

import numpy as np
import pytest

from paper_repro import stats

PAPER = 0.10  # the paper's claimed difference in the simulations
N_IMAGES, N_GROUPS, SEED_SD, GROUP_SD, IMAGE_SD = 120, 40, 0.012, 0.03, 0.06


def _draw(rng, true_diff):
    """One claim: per-image scores of arms A and B on the same images (three images per source-photo group, a
    group effect shared by its images), each arm's mean moved by its own training-noise draw."""
    groups = np.repeat(np.arange(N_GROUPS), N_IMAGES // N_GROUPS)
    base = rng.normal(0.3, 0.15, N_IMAGES)
    d = true_diff + rng.normal(0, GROUP_SD, N_GROUPS)[groups] + rng.normal(0, IMAGE_SD, N_IMAGES)
    b = base + rng.normal(0, SEED_SD)
    a = base + d + rng.normal(0, SEED_SD)
    return a, b, groups


def _rates(true_diff, n_sims=1000, **kw):
    rng = np.random.default_rng(1)
    counts = {}
    for i in range(n_sims):
        a, b, g = _draw(rng, true_diff)
        d = stats.combined_difference(a, b, g, SEED_SD, SEED_SD, n_resamples=400, seed=i, **kw)
        v = stats.effect_verdict(d.low, d.high, PAPER)
        counts[v] = counts.get(v, 0) + 1
    return {k: v / n_sims for k, v in counts.items()}


def _above(rate: float, nominal: float, n: int) -> float:
    """How far a simulated rate lies above ``nominal``, in Monte Carlo standard errors."""
    return (rate - nominal) / (nominal * (1 - nominal) / n) ** 0.5


def test_a_true_zero_difference_is_declared_real_at_most_five_percent_of_the_time():
    r = _rates(0.0)
    false_effect = r.get("reproduced", 0) + r.get("smaller than claimed", 0) + r.get("contradicted", 0)
    # the type I error is 0.05 up to the simulation's own error (1000 draws: 0.007)
    assert _above(false_effect, 0.05, 1000) < 2.0, r
    assert r.get("not reproduced", 0) >= 0.8, r  # and the paper's size is ruled out most of the time


def test_the_papers_difference_is_reproduced_and_half_of_it_is_smaller_than_claimed():
    full = _rates(PAPER)
    assert full.get("reproduced", 0) >= 0.9, full
    half = _rates(PAPER / 2)
    # at half the paper's size the interval reaches the paper's number about a fifth of the time (z = 0.76)
    assert half.get("smaller than claimed", 0) + half.get("not reproduced", 0) >= 0.6, half
    assert half.get("reproduced", 0) <= 0.3 and half.get("contradicted", 0) == 0, half


def test_without_the_training_noise_a_true_zero_is_called_real_too_often():
    """The reason the noise is in the interval: image sampling alone misses the seed draws."""
    rng = np.random.default_rng(2)
    wrong = 0
    for i in range(200):
        a, b, g = _draw(rng, 0.0)
        d = stats.combined_difference(a, b, g, 0.0, 0.0, n_resamples=400, seed=i)
        wrong += stats.effect_verdict(d.low, d.high, PAPER) in ("reproduced", "smaller than claimed", "contradicted")
    assert _above(wrong / 200, 0.05, 200) > 5


def test_the_cluster_bootstrap_is_wider_than_the_image_bootstrap_when_groups_share_an_effect():
    rng = np.random.default_rng(3)
    a, b, g = _draw(rng, 0.0)
    grouped = stats.combined_difference(a, b, g, n_resamples=2000)
    by_image = stats.combined_difference(a, b, None, n_resamples=2000)
    assert grouped.groups == N_GROUPS and by_image.groups == N_IMAGES
    assert grouped.se_images > 1.1 * by_image.se_images  # design effect 1 + (3 - 1) x 0.2: about 1.18 in se
    assert grouped.estimate == pytest.approx(by_image.estimate)


def test_two_arms_add_their_seed_variances():
    a, b = np.zeros(50), np.zeros(50)
    d = stats.combined_difference(a, b, sd_a=0.03, sd_b=0.04)
    assert d.sd_training == pytest.approx(0.05) and d.se == pytest.approx(0.05)
    assert d.high - d.low == pytest.approx(2 * 1.959964 * 0.05, rel=1e-4)


@pytest.mark.parametrize("low, high, paper, expected", [
    (0.01, 0.3, 0.2, "reproduced"), (0.25, 0.3, 0.2, "reproduced"), (0.01, 0.1, 0.2, "smaller than claimed"),
    (-0.01, 0.1, 0.2, "not reproduced"), (-0.01, 0.3, 0.2, "inconclusive"), (-0.3, -0.01, 0.2, "contradicted"),
    (-0.3, -0.01, -0.2, "reproduced"), (0.01, 0.3, -0.2, "contradicted"), (0.01, 0.05, None, "supported"),
    (-0.01, 0.05, None, "inconclusive"), (float("nan"), 0.1, 0.2, "not testable")])
def test_effect_verdict_rules(low, high, paper, expected):
    assert stats.effect_verdict(low, high, paper) == expected


def test_holm_adjusts_the_family_and_keeps_nan():
    adj = stats.holm([0.01, 0.04, 0.03, float("nan"), 0.5])
    assert adj[:3] == pytest.approx([0.04, 0.09, 0.09]) and np.isnan(adj[3]) and adj[4] == pytest.approx(0.5)
    assert (stats.holm([0.2, 0.9]) <= 1).all()


def test_a_seed_sd_from_three_seeds_widens_the_interval():
    a, b = np.zeros(60), np.zeros(60)
    known = stats.combined_difference(a, b, sd_a=0.02, sd_b=0.02)
    three = stats.combined_difference(a, b, sd_a=0.02, sd_b=0.02, seeds_a=3, seeds_b=3)
    assert three.se == pytest.approx(known.se)
    # two arms with two degrees of freedom each: Satterthwaite gives 4, t(0.975, 4) = 2.776
    assert (three.high - three.low) / (2 * three.se) == pytest.approx(2.776, abs=1e-3)
