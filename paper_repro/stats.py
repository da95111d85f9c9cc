"""Uncertainty of image-averaged metrics: bootstrap intervals, paired differences and verdict rules.

Every number of the results tables is a mean over test images (F1, IoU, AUC and PSNR are scored per image,
then averaged), so its sampling uncertainty is estimated by resampling the *images* with replacement
(Efron's percentile bootstrap). A difference between two rows of one table is resampled *paired*: the same
drawn images for both rows, so the spread of the images themselves cancels and only the difference of the
models on those images remains.

Only NumPy: no tables, no plotting. The orchestration that feeds per-image scores to these functions is in
:mod:`paper_repro.experiments`.

Choices that are ours: the percentile interval (not BCa), 1000 resamples and seed 0 by default, NaN
(an image without a score, e.g. an authentic image's pixel F1) left out of each resampled mean, and the
verdict rule of :func:`verdict`.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

__all__ = ["Interval", "bootstrap_indices", "bootstrap_ci", "paired_difference", "verdict", "VERDICTS"]

#: The possible outcomes of :func:`verdict`.
VERDICTS = ("supported", "contradicted", "inconclusive", "not testable")


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
