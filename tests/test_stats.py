"""Bootstrap intervals, paired differences and the verdict rules (paper_repro.stats)."""
import math

import numpy as np
import pytest

from paper_repro import stats


def test_bootstrap_interval_covers_the_true_mean_at_about_the_nominal_rate():
    # per-image scores like F1: bounded, skewed; the true mean of Beta(2, 3) is 0.4
    rng = np.random.default_rng(123)
    hits, trials = 0, 300
    for t in range(trials):
        sample = rng.beta(2.0, 3.0, size=120)
        ci = stats.bootstrap_ci(sample, n_resamples=1000, seed=t)
        hits += ci.low <= 0.4 <= ci.high
    coverage = hits / trials
    assert 0.90 <= coverage <= 0.99, coverage  # nominal 0.95; the percentile bootstrap runs slightly narrow


def test_bootstrap_interval_ignores_nan_and_is_seeded():
    v = np.array([0.2, np.nan, 0.8, 0.5, np.nan, 0.9])
    a = stats.bootstrap_ci(v, seed=1)
    assert a.n == 4 and a.estimate == pytest.approx(0.6)
    assert a == stats.bootstrap_ci(v, seed=1)
    assert a != stats.bootstrap_ci(v, seed=2)
    assert a.low <= a.estimate <= a.high
    empty = stats.bootstrap_ci([np.nan, np.nan])
    assert empty.n == 0 and math.isnan(empty.estimate)


def test_paired_difference_resamples_the_same_images_for_both_rows():
    # image difficulty varies hugely, the model difference is exactly 0.05 on every image: a paired
    # resampling sees only the 0.05; resampling the rows independently would give a wide interval
    rng = np.random.default_rng(0)
    b = rng.uniform(0.0, 0.9, size=200)
    a = b + 0.05
    d = stats.paired_difference(a, b, seed=3)
    assert d.estimate == pytest.approx(0.05)
    assert d.low == pytest.approx(0.05) and d.high == pytest.approx(0.05)
    # the unpaired intervals of each mean are far wider than 0.05
    ca = stats.bootstrap_ci(a, seed=3)
    assert ca.high - ca.low > 0.05


def test_paired_difference_drops_images_missing_on_either_side():
    a = np.array([1.0, np.nan, 0.5, 0.25])
    b = np.array([0.5, 0.5, np.nan, 0.25])
    d = stats.paired_difference(a, b)
    assert d.n == 2 and d.estimate == pytest.approx(0.25)
    with pytest.raises(ValueError, match="same images"):
        stats.paired_difference([1.0, 2.0], [1.0])


@pytest.mark.parametrize("low, high, est, paper, sd, expected", [
    (0.02, 0.08, 0.05, 0.10, 0.0, "supported"),       # interval above 0, paper says A > B
    (0.02, 0.08, 0.05, 0.10, 0.03, "inconclusive"),   # but within twice the seed noise
    (-0.08, -0.02, -0.05, 0.10, 0.0, "contradicted"),  # interval below 0, paper says A > B
    (-0.02, 0.08, 0.03, 0.10, 0.0, "inconclusive"),   # interval holds 0
    (-0.08, -0.02, -0.05, -0.10, 0.0, "supported"),   # paper claims A < B, and so do we
    (0.02, 0.08, 0.05, -0.10, 0.0, "contradicted"),
    (0.02, 0.08, 0.05, None, 0.0, "supported"),        # no paper number: the claim is "A > B"
    (math.nan, math.nan, math.nan, 0.1, 0.0, "not testable"),
])
def test_verdict_rules(low, high, est, paper, sd, expected):
    assert stats.verdict(low, high, est, paper=paper, noise_sd=sd) == expected


def test_verdict_with_a_reason_is_not_testable():
    assert stats.verdict(0.1, 0.2, 0.15, paper=0.1, reason="baseline not re-run") == "not testable"
