"""Uncertainty of image-averaged metrics: bootstrap intervals, paired differences and verdict rules.

Every number of the results tables is a mean over test images (F1, IoU, AUC and PSNR are scored per image,
then averaged), so its sampling uncertainty is estimated by resampling the *images* with replacement
(Efron's percentile bootstrap). A difference between two rows of one table is resampled *paired*: the same
drawn images for both rows, so the spread of the images themselves cancels and only the difference of the
models on those images remains.

NumPy (and SciPy's Student t for :func:`combined_difference`): no tables, no plotting. The orchestration that feeds per-image scores to these functions is in
:mod:`paper_repro.experiments`.

Choices that are ours: the percentile interval (not BCa), 1000 resamples and seed 0 by default, NaN
(an image without a score, e.g. an authentic image's pixel F1) left out of each resampled mean, and the
verdict rule of :func:`verdict`.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

__all__ = ["Interval", "bootstrap_indices", "bootstrap_ci", "paired_difference", "verdict", "VERDICTS",
           "Difference", "cluster_paired_difference", "combined_difference", "effect_verdict", "EFFECT_VERDICTS",
           "holm"]

#: The possible outcomes of :func:`verdict`.
VERDICTS = ("supported", "contradicted", "inconclusive", "not testable")
#: The possible outcomes of :func:`effect_verdict` (ours against the paper's effect size).
EFFECT_VERDICTS = ("reproduced", "smaller than claimed", "not reproduced", "contradicted", "inconclusive",
                   "supported", "not testable")


class Interval(NamedTuple):
    """A point estimate and its two-sided interval (``low``, ``high``); ``n`` images entered it."""

    estimate: float
    low: float
    high: float
    n: int


def bootstrap_indices(n: int, n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """``(n_resamples, n)`` image indices drawn with replacement; the same seed gives the same draws, so two
    rows of a table evaluated on the same ``n`` images share them (a paired resampling)."""
    if n <= 0:
        raise ValueError(f"bootstrap needs at least one image, got n={n}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    return np.random.default_rng(seed).integers(0, n, size=(int(n_resamples), int(n)))


def _resampled_means(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """NaN-aware mean of ``values`` over each row of ``idx`` (a resample with no finite value gives NaN)."""
    x = values[idx]
    finite = np.isfinite(x)
    count = finite.sum(axis=1)
    total = np.where(finite, x, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _percentiles(samples: np.ndarray, level: float) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return math.nan, math.nan
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_ci(values, n_resamples: int = 1000, level: float = 0.95, seed: int = 0,
                 statistic: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> Interval:
    """Percentile bootstrap interval of the NaN-aware mean of per-image ``values``.

    ``statistic(values, idx)`` may replace the mean: it gets the values and the ``(n_resamples, n)`` index
    array and returns one number per resample. With no finite value the result is all NaN."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    v = np.asarray(values, dtype=float).ravel()
    n = int(np.isfinite(v).sum())
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    stat = statistic or _resampled_means
    estimate = float(stat(v, np.arange(v.size)[None, :])[0])
    low, high = _percentiles(stat(v, bootstrap_indices(v.size, n_resamples, seed)), level)
    return Interval(estimate, low, high, n)


def paired_difference(a, b, n_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> Interval:
    """Interval of ``mean(a) - mean(b)`` where ``a[i]`` and ``b[i]`` score the same image ``i``.

    Each resample draws one set of images and takes both means over it (the same images for both rows).
    Images where either score is NaN are left out of both, so the two means always cover the same images."""
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired scores must cover the same images: {a.size} against {b.size}")
    both = np.isfinite(a) & np.isfinite(b)
    a, b = a[both], b[both]
    if a.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    idx = bootstrap_indices(a.size, n_resamples, seed)
    diffs = a[idx].mean(axis=1) - b[idx].mean(axis=1)
    low, high = _percentiles(diffs, level)
    return Interval(float(a.mean() - b.mean()), low, high, int(a.size))


def verdict(low: float, high: float, estimate: float, paper: float | None = None, noise_sd: float = 0.0,
            reason: str | None = None) -> str:
    """The verdict on a claim "row A beats row B", given our paired difference A - B.

    ``paper`` is the paper's difference (its sign is the claimed direction; positive when ``None``);
    ``noise_sd`` the seed-to-seed standard deviation of the metric (training noise). Rules (ours):

    - ``not testable``: a ``reason`` is given, or the interval is undefined (no images);
    - ``supported``: the interval excludes 0 in the claimed direction *and* ``|estimate| > 2 * noise_sd``;
    - ``contradicted``: the interval excludes 0 in the other direction (and ``|estimate| > 2 * noise_sd``);
    - ``inconclusive``: anything else (the interval holds 0, or the difference is within training noise).
    """
    if reason or not (np.isfinite(low) and np.isfinite(high) and np.isfinite(estimate)):
        return "not testable"
    sign = 1.0 if paper is None or not np.isfinite(paper) or paper >= 0 else -1.0
    lo, hi, est = (low, high, estimate) if sign > 0 else (-high, -low, -estimate)
    beyond_noise = abs(est) > 2.0 * float(noise_sd or 0.0)
    if lo > 0 and beyond_noise:
        return "supported"
    if hi < 0 and beyond_noise:
        return "contradicted"
    return "inconclusive"


# ------------------------------------------------------------------ differences with their whole uncertainty
class Difference(NamedTuple):
    """``estimate`` = mean(A) - mean(B) with its combined two-sided interval (``low``, ``high``), standard error
    ``se`` (image sampling and training noise together), the parts of it (``se_images``, ``sd_training``), the
    two-sided ``p`` of "no difference", ``n`` images and ``groups`` source-photo groups."""

    estimate: float
    low: float
    high: float
    se: float
    se_images: float
    sd_training: float
    p: float
    n: int
    groups: int


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _normal_quantile(q: float) -> float:
    """Inverse of the standard normal CDF (bisection; exact enough for interval levels)."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if _normal_cdf(mid) < q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def cluster_paired_difference(a, b, groups=None, n_resamples: int = 1000, seed: int = 0
                              ) -> tuple[float, np.ndarray, int, int]:
    """Bootstrap of ``mean(a) - mean(b)`` over *groups* of images (a cluster bootstrap): each resample draws
    whole groups with replacement, so images made from one source photo, which a grouped split keeps together,
    are drawn together and their correlation widens the interval as it should. ``groups[i]`` labels image
    ``i`` (``None``: every image its own group, the plain paired bootstrap). Images where either score is NaN are
    left out of both. Returns ``(estimate, resampled differences, n images, n groups)``."""
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired scores must cover the same images: {a.size} against {b.size}")
    g = np.arange(a.size) if groups is None else np.asarray(groups).ravel()
    if g.size != a.size:
        raise ValueError(f"groups must label every image: {g.size} labels for {a.size} images")
    both = np.isfinite(a) & np.isfinite(b)
    d, g = (a - b)[both], g[both]
    if d.size == 0:
        return math.nan, np.array([]), 0, 0
    _, codes = np.unique(g, return_inverse=True)
    sums = np.bincount(codes, weights=d)
    counts = np.bincount(codes).astype(float)
    idx = bootstrap_indices(sums.size, n_resamples, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        diffs = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    return float(d.mean()), diffs, int(d.size), int(sums.size)


def combined_difference(a, b, groups=None, sd_a: float = 0.0, sd_b: float = 0.0, n_resamples: int = 1000,
                        level: float = 0.95, seed: int = 0, seeds_a: int | None = None,
                        seeds_b: int | None = None) -> Difference:
    """A - B with one interval for both sources of uncertainty: the images (the standard deviation of the
    cluster bootstrap, :func:`cluster_paired_difference`) and the training (``sd_a`` / ``sd_b``: the
    seed-to-seed standard deviation of each arm's mean, measured or pooled by the caller; two independently
    trained arms add their variances). ``se = sqrt(se_images^2 + sd_a^2 + sd_b^2)``; the interval is
    ``estimate +- t * se`` and ``p`` the two-sided Student-t probability of a zero difference, with the degrees
    of freedom of Welch and Satterthwaite: ``k - 1`` for the image part (``k`` groups) and ``seeds - 1`` for a
    seed standard deviation estimated from ``seeds_a`` / ``seeds_b`` training runs (``None``: taken as known).
    A standard deviation from three seeds has two degrees of freedom, and the interval widens accordingly.

    Choices that are ours: the bootstrap variance scaled by ``k / (k - 1)`` (the usual small-sample correction
    of a clustered mean), the t approximation (the bootstrap distribution of a mean over >= 100 images is close
    to normal, and a training-noise draw has no distribution of its own to resample), and adding the two arms'
    seed variances as independent."""
    from scipy import stats as st

    est, diffs, n, k = cluster_paired_difference(a, b, groups, n_resamples, seed)
    if n == 0:
        return Difference(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, 0, 0)
    finite = diffs[np.isfinite(diffs)]
    # the bootstrap's variance of a mean over k groups is (k - 1) / k of the unbiased one: scaled back
    var_img = float(finite.var(ddof=1)) * k / (k - 1) if finite.size > 1 and k > 1 else 0.0
    parts = [(var_img, k - 1)]
    for sd, seeds in ((sd_a, seeds_a), (sd_b, seeds_b)):
        parts.append((float(sd or 0.0) ** 2, math.inf if seeds is None else max(int(seeds) - 1, 1)))
    var = sum(v for v, _ in parts)
    se = math.sqrt(var)
    denom = sum(v * v / df for v, df in parts if v > 0 and df > 0 and math.isfinite(df))
    df = var * var / denom if denom > 0 else math.inf
    q = float(st.t.ppf(0.5 + level / 2.0, df)) if math.isfinite(df) else _normal_quantile(0.5 + level / 2.0)
    if se > 0:
        p = float(2.0 * (st.t.sf(abs(est) / se, df) if math.isfinite(df) else 1.0 - _normal_cdf(abs(est) / se)))
    else:
        p = 0.0 if est != 0 else 1.0
    return Difference(est, est - q * se, est + q * se, se, math.sqrt(var_img), math.sqrt(var - var_img), p, n, k)


def effect_verdict(low: float, high: float, paper: float | None = None, reason: str | None = None) -> str:
    """The verdict on a claim "A beats B by the paper's ``paper``" from our interval (``low``, ``high``) of
    A - B (the claimed direction is the sign of ``paper``; positive when there is none). Rules (ours):

    - ``not testable``: a ``reason`` is given or the interval is undefined;
    - ``contradicted``: the interval excludes 0 against the claimed direction;
    - with a paper difference: ``reproduced`` when the interval excludes 0 in the claimed direction and holds
      the paper's difference (or lies beyond it); ``smaller than claimed`` when it excludes 0 in the claimed
      direction and lies wholly short of the paper's difference; ``not reproduced`` when it holds 0 but lies
      wholly short of the paper's difference (the paper's size is ruled out); ``inconclusive`` when it holds
      both 0 and the paper's difference;
    - without one: ``supported`` when the interval excludes 0 in the claimed direction, else ``inconclusive``.
    """
    if reason or not (np.isfinite(low) and np.isfinite(high)):
        return "not testable"
    has_paper = paper is not None and np.isfinite(paper) and paper != 0
    sign = -1.0 if has_paper and paper < 0 else 1.0
    lo, hi = (low, high) if sign > 0 else (-high, -low)
    size = abs(paper) if has_paper else math.nan
    if hi < 0:
        return "contradicted"
    if not has_paper:
        return "supported" if lo > 0 else "inconclusive"
    if lo > 0:
        return "reproduced" if hi >= size else "smaller than claimed"
    return "not reproduced" if hi < size else "inconclusive"


def holm(p) -> np.ndarray:
    """Holm's step-down adjustment of the p-values ``p`` (NaN kept as NaN, left out of the family): the
    family-wise error stays at the nominal level over all the claims tested together."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out
