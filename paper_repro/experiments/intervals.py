"""Intervals on the tidy tables: a bootstrap over test images for every number, and for every row its paired
difference from the table's reference row (the same resampled images for both).

A tidy row is a mean over images (:mod:`paper_repro.experiments`); :func:`condition_values` recovers the
per-image values behind it from the per-image results of :func:`~paper_repro.experiments.sweeps.sweep_results`
(or the restorer's scores), and :mod:`paper_repro.stats` does the resampling. Aggregate rows (a sweep's
``brightness`` / ``contrast`` mean, the perturbed ``mean``) are resampled as the per-image mean over the same
conditions, which equals the mean of the per-condition means when every condition scores the same images.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from .. import stats

#: Columns :func:`add_intervals` adds: the row's interval and its paired difference from the reference row.
INTERVAL_COLUMNS = ("ci_low", "ci_high", "vs_ref", "vs_ref_low", "vs_ref_high")
#: Tidy metric -> per-image column, where they differ (the restorer's scores inside the tampered region).
RESTORATION_COLUMNS = {"psnr": "psnr_tampered", "ssim": "ssim_tampered"}


def _level_key(perturbation, level) -> tuple:
    return (str(perturbation), None if level is None or pd.isna(level) else round(float(level), 6))


def per_image(results: pd.DataFrame, metric: str, column: str | None = None) -> pd.DataFrame:
    """``image x condition`` values of one metric (columns keyed ``(perturbation, level)``, level ``None`` for
    clean). ``f1`` / ``iou`` / ``auc``: tampered images only (others NaN), as the tables average them;
    ``*_benco``: IMDL-BenCo's rule, every image with an authentic one scored 0 (:func:`paper_repro.metrics.benco_mean`)."""
    benco = metric.endswith("_benco")
    col = column or (metric[:-6] if benco else metric)
    if col not in results.columns:
        raise KeyError(f"per_image: no column {col!r} for metric {metric!r}")
    v = pd.to_numeric(results[col], errors="coerce").astype(float)
    tampered = results["tampered"].astype(bool) if "tampered" in results.columns else pd.Series(True, index=results.index)
    v = v.where(tampered, 0.0).fillna(0.0) if benco else v.where(tampered)
    keys = [_level_key(p, lv) for p, lv in zip(results["perturbation"], results["level"])]
    frame = pd.DataFrame({"image": results["image"].astype(str).to_numpy(), "key": keys, "value": v.to_numpy()})
    return frame.pivot_table(index="image", columns="key", values="value", aggfunc="first", dropna=False)


def condition_values(wide: pd.DataFrame, perturbation: str, level) -> pd.Series | None:
    """Per-image values behind one tidy row: its condition's column, or for an aggregate row (``level`` NaN,
    ``perturbation`` ``brightness`` / ``contrast`` / ``mean``) the per-image mean over the conditions it
    averages (a sweep's mean includes the clean column, as ReConWave-Net's Tables 2-3 do). ``None`` when the
    per-image results do not hold that condition."""
    key = _level_key(perturbation, level)
    if key in wide.columns:
        return wide[key]
    if key[1] is not None:
        return None
    levels = [k for k in wide.columns if k[1] is not None]
    if perturbation == "mean":
        cols = levels
    elif perturbation in ("brightness", "contrast"):
        cols = [k for k in levels if k[0] == perturbation] + [k for k in wide.columns if k[0] == "clean"]
    else:
        return None
    if not cols:
        return None
    return wide[cols].mean(axis=1, skipna=False)


def add_intervals(tidy: pd.DataFrame, results: pd.DataFrame, reference: str | None = None,
                  keys: Sequence[str] = ("method", "dataset"), columns: dict[str, str] | None = None,
                  n_resamples: int = 1000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """``tidy`` with :data:`INTERVAL_COLUMNS`: ``ci_low`` / ``ci_high``, the percentile bootstrap interval
    (``n_resamples`` resamples of the images, ``level``) of each row's mean, and ``vs_ref`` with its paired
    interval ``vs_ref_low`` / ``vs_ref_high``: the row minus the ``reference`` method's row of the same
    dataset, condition and metric, both means over one set of resampled images.

    ``results``: the per-image frame behind the table (``image``, ``perturbation``, ``level``, the ``keys``
    columns and the metric columns; ``columns`` maps a tidy metric to its per-image column). ``keys`` group
    the rows (a ``manipulation`` key with value ``all`` takes every image). Rows without per-image values (a
    mean over datasets, the paper's own rows) keep NaN."""
    out = tidy.copy()
    for c in INTERVAL_COLUMNS:
        out[c] = math.nan
    columns = dict(columns or {})
    keys = [k for k in keys if k in results.columns and k in out.columns]
    cache: dict[tuple, pd.DataFrame | None] = {}

    def wide_for(group: tuple, metric: str):
        ck = group + (metric,)
        if ck not in cache:
            sel = np.ones(len(results), dtype=bool)
            for k, v in zip(keys, group):
                if k == "manipulation" and v == "all":
                    continue
                sel &= (results[k].astype(str) == str(v)).to_numpy()
            sub = results[sel]
            try:
                cache[ck] = per_image(sub, metric, columns.get(metric)) if len(sub) else None
            except KeyError:
                cache[ck] = None
        return cache[ck]

    for i, row in out.iterrows():
        group = tuple(row[k] for k in keys)
        wide = wide_for(group, row["metric"])
        if wide is None:
            continue
        vals = condition_values(wide, row["perturbation"], row["level"])
        if vals is None:
            continue
        ci = stats.bootstrap_ci(vals.to_numpy(), n_resamples=n_resamples, level=level, seed=seed)
        out.at[i, "ci_low"], out.at[i, "ci_high"] = ci.low, ci.high
        if reference is None:
            continue
        ref_group = tuple(reference if k == "method" else row[k] for k in keys)
        ref_wide = wide_for(ref_group, row["metric"])
        ref_vals = None if ref_wide is None else condition_values(ref_wide, row["perturbation"], row["level"])
        if ref_vals is None:
            continue
        both = vals.index.intersection(ref_vals.index)
        d = stats.paired_difference(vals.loc[both].to_numpy(), ref_vals.loc[both].to_numpy(),
                                    n_resamples=n_resamples, level=level, seed=seed)
        out.at[i, "vs_ref"], out.at[i, "vs_ref_low"], out.at[i, "vs_ref_high"] = d.estimate, d.low, d.high
    return out


def paired(results_a: pd.DataFrame, results_b: pd.DataFrame, metric: str, perturbation: str, level,
           column: str | None = None, n_resamples: int = 1000, seed: int = 0, level_ci: float = 0.95
           ) -> stats.Interval:
    """Paired bootstrap difference ``a - b`` of one metric at one condition (aggregates as in
    :func:`condition_values`) between two per-image result frames scored on the same images."""
    va = condition_values(per_image(results_a, metric, column), perturbation, level)
    vb = condition_values(per_image(results_b, metric, column), perturbation, level)
    if va is None or vb is None:
        return stats.Interval(math.nan, math.nan, math.nan, 0)
    both = va.index.intersection(vb.index)
    return stats.paired_difference(va.loc[both].to_numpy(), vb.loc[both].to_numpy(), n_resamples=n_resamples,
                                   level=level_ci, seed=seed)
