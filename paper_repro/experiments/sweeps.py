"""Evaluation sweeps and their cache: per-image scores over the brightness / contrast grid, and their tidy means.

:func:`sweep_results` scores a detector (behind an optional restorer) on every evaluation set and level and
caches the per-image frame under ``checkpoints_dir/_evals`` keyed by the checkpoints' specs, so a model
evaluated in one notebook is not evaluated again in the next; :func:`tidy_sweep` turns it into tidy rows
(see :mod:`paper_repro.experiments`). The restorer's own scores (PSNR / SSIM inside tampered regions) are
computed and cached the same way.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import pandas as pd

from .. import paper as _paper
from .. import perturb as P
from .. import profiles as _profiles
from .. import cache
from .identity import frame_fingerprint
from .runs import model_ref
from .splits import datasets_for


def cache_path(profile, what: dict) -> Path:
    """Where the evaluation ``what`` (a spec with its ``kind``) is kept: ``checkpoints/<profile>/_evals/``."""
    spec = {k: v for k, v in what.items() if k != "kind"}
    return cache.entry(Path(profile.checkpoints_dir) / "_evals", what["kind"], spec)


def cached_frame(profile, what: dict, compute) -> pd.DataFrame:
    """The evaluation ``what`` from :func:`cache_path`, or ``compute()`` stored there
    (:func:`paper_repro.cache.get_or_compute`)."""
    return cache.get_or_compute(cache_path(profile, what), compute, pd.read_pickle, lambda df, tmp: df.to_pickle(tmp))


def evaluation_key(profile) -> dict:
    """What every cached evaluation's key records of the profile's evaluation settings: the size, the precision
    and the memory format."""
    return {"size": None if profile.eval_size is None else list(profile.eval_size), "precision": profile.precision,
            "channels_last": bool(profile.channels_last)}


def evaluation_settings(profile) -> dict:
    """The profile's evaluation settings handed to :func:`paper_repro.evaluate.evaluate` by every cached
    evaluation (what :func:`evaluation_key` records of them, plus the batch and the loader's workers)."""
    return {"size": profile.eval_size, "batch_size": profile.eval_batch_size, "precision": profile.precision,
            "num_workers": profile.num_workers, "channels_last": profile.channels_last}


def evaluation_grid(profile) -> list[tuple[str, float | None]]:
    return P.sweep_grid(profile.alphas, profile.betas, clean=True)


def ablation_grid(profile) -> list[tuple[str, float | None]]:
    """The clean image and the profile's ``ablation_levels`` (the paper's Tables 4-8: alpha = 0.5, beta = 2.0)."""
    profile = _profiles.get(profile)
    return [("clean", None)] + [(str(p), float(lv)) for p, lv in profile.ablation_levels]


def paper_grid() -> list[tuple[str, float]]:
    lv = _paper.PAPER_LEVELS["table1"]
    return [("brightness", float(a)) for a in lv["brightness"]] + [("contrast", float(b)) for b in lv["contrast"]]


def sweep_results(profile, detector: str = "reconwave", restorer: str | None = None,
                  datasets: Sequence[str] | None = None, method: str | None = None,
                  grid: Sequence[tuple[str, float | None]] | None = None, threshold: float = 0.5) -> pd.DataFrame:
    """Per-image scores of ``detector`` (a run key) behind ``restorer`` (run key, ``restore-classical``,
    ``restore-none`` or ``None``) over ``grid`` (default: the profile's full brightness/contrast grid, clean
    first; :func:`ablation_grid` for Tables 4-8) on every evaluation set (or ``datasets``), F1 / IoU /
    precision / recall at the pixel ``threshold``; :func:`paper_repro.evaluate.evaluate`'s columns plus
    ``method`` and ``threshold``. Cached per (checkpoints, data, grid, threshold); a smaller grid is read from
    the full grid's cached results when those exist."""
    from ..evaluate import evaluate

    profile = _profiles.get(profile)
    _, _, evals = datasets_for(profile)
    names = list(evals) if datasets is None else list(datasets)
    det_path, det_id = model_ref(profile, detector)
    res_path, res_id = model_ref(profile, restorer)
    method = method or (detector if restorer is None else f"{detector}+{restorer}")
    full = evaluation_grid(profile)
    grid = full if grid is None else [(p, None if lv is None else float(lv)) for p, lv in grid]
    out = []
    for name in names:
        df = evals[name]
        what = {"kind": "sweep", "det": det_id, "res": res_id, "data": frame_fingerprint(df), "grid": grid,
                **evaluation_key(profile), "order": "perturb-first", "threshold": float(threshold)}
        whole_path = cache_path(profile, dict(what, grid=full))
        if grid != full and set(grid) <= set(full) and whole_path.is_file():
            r = pd.read_pickle(whole_path)
            wanted = set(grid)
            r = r[[(p, None if pd.isna(lv) else float(lv)) in wanted
                   for p, lv in zip(r["perturbation"], r["level"])]].copy()
            r["dataset"], r["method"], r["threshold"] = name, method, float(threshold)
            out.append(r)
            continue

        def compute(df=df):
            return evaluate(det_path, df, perturbations=grid, restorer=res_path, progress=False, seed=profile.seed,
                            threshold=threshold, **evaluation_settings(profile))

        r = cached_frame(profile, what, compute).copy()
        r["dataset"] = name
        r["method"] = method
        r["threshold"] = float(threshold)
        out.append(r)
    return pd.concat(out, ignore_index=True)


def choose_threshold(results: pd.DataFrame, candidates: Sequence[float]) -> float:
    """The candidate pixel threshold with the highest mean F1 over the tampered images of ``results`` (per-image
    rows with columns ``f1@<t>``, :func:`paper_repro.metrics.f1_column`); a tie goes to the candidate nearest
    0.5, the threshold every other table uses."""
    from ..metrics import f1_column

    if not len(candidates):
        raise ValueError("choose_threshold: no candidate thresholds")
    tampered = results["tampered"].astype(bool) if "tampered" in results.columns else slice(None)
    means = {float(t): _nan_mean(results.loc[tampered, f1_column(t)]) for t in candidates}
    if all(math.isnan(v) for v in means.values()):
        raise ValueError("choose_threshold: no tampered image to choose on")
    return max(means, key=lambda t: (-math.inf if math.isnan(means[t]) else round(means[t], 12), -abs(t - 0.5)))


def decision_threshold(profile, detector: str) -> tuple[float, pd.DataFrame]:
    """The pixel threshold of ``detector`` (a run key), chosen among the profile's ``decision_thresholds`` on the
    tampered images of the training side's *validation* part (clean, no restorer, the evaluation size, one
    pass scoring every candidate), never on an evaluation set: :func:`choose_threshold`. Returns the threshold
    and the per-candidate validation F1 (columns ``threshold, f1``). Cached like the sweeps. In ``smoke`` the
    validation part is also the evaluation set (:func:`~paper_repro.experiments.splits.datasets_for`), so
    there the choice is not held out; ``smoke`` checks the plumbing, not the numbers."""
    from ..evaluate import evaluate
    from ..metrics import f1_column

    profile = _profiles.get(profile)
    candidates = [float(t) for t in profile.decision_thresholds]
    _, valid, _ = datasets_for(profile)
    valid = valid[valid["label"].astype(int) == 1]
    det_path, det_id = model_ref(profile, detector)
    what = {"kind": "threshold", "det": det_id, "data": frame_fingerprint(valid), "candidates": candidates,
            **evaluation_key(profile)}
    r = cached_frame(profile, what, lambda: evaluate(det_path, valid, progress=False, seed=profile.seed, auc=False,
                                                f1_thresholds=candidates, **evaluation_settings(profile)))
    scores = pd.DataFrame({"threshold": candidates,
                           "f1": [_nan_mean(r[f1_column(t)]) for t in candidates]})
    return choose_threshold(r, candidates), scores


def _nan_mean(s: pd.Series) -> float:
    s = pd.to_numeric(s, errors="coerce")
    return float(s.mean()) if s.notna().any() else math.nan


#: IMDL-BenCo's aggregation beside ours in every sweep table: ``<metric>_benco`` is the mean over EVERY image
#: with an authentic image scored 0 (:func:`paper_repro.metrics.benco_mean`); ``f1`` / ``iou`` / ``auc`` are
#: means over the tampered images only (authentic images have no tampered pixel to find).
BENCO_METRICS = ("f1_benco", "iou_benco")


def tidy_sweep(results: pd.DataFrame, metrics: Sequence[str] = ("f1", "iou", "auc") + BENCO_METRICS,
               by: Sequence[str] = ("method",)) -> pd.DataFrame:
    """Per-image sweep results -> tidy rows (see the module docstring): per level, per-sweep means
    (``level`` NaN), the overall perturbed ``mean``, and a ``dataset="mean"`` block when there are
    several datasets. Means are over tampered images (nan-aware), except ``f1_benco`` / ``iou_benco``
    (:data:`BENCO_METRICS`): IMDL-BenCo's mean over every image, authentic ones counted as 0."""
    from ..metrics import benco_mean

    results = results.reset_index(drop=True)
    tampered = results["tampered"].astype(bool) if "tampered" in results.columns else pd.Series(True, index=results.index)
    metrics = [m for m in metrics if m in results.columns or (m.endswith("_benco") and m[:-6] in results.columns)]
    by = list(by)
    rows = []
    for keys, g_all in results.groupby(by + ["dataset"], sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        base = dict(zip(by + ["dataset"], keys))
        g = g_all[tampered.loc[g_all.index]]
        if g.empty:
            continue
        per_level = []
        for (pert, lv), gg_all in g_all.groupby(["perturbation", "level"], sort=False, dropna=False):
            gg = gg_all[tampered.loc[gg_all.index]]
            for m in metrics:
                if m.endswith("_benco"):
                    value, n = benco_mean(gg_all, m[:-6]), len(gg_all)
                else:
                    value, n = _nan_mean(gg[m]), int(gg[m].notna().sum())
                per_level.append(dict(base, perturbation=pert, level=lv, metric=m, value=value, n_images=n))
        rows += per_level
        pl = pd.DataFrame(per_level)
        n_img = int(g["image"].nunique()) if "image" in g.columns else len(g)
        for m in metrics:
            pm = pl[(pl["metric"] == m) & (pl["perturbation"] != "clean")]
            clean = pl[(pl["metric"] == m) & (pl["perturbation"] == "clean")]
            for pert in ("brightness", "contrast"):
                sub = pm[pm["perturbation"] == pert]
                if len(sub):  # as the paper's Tables 2-3 "mean": the clean column and the sweep's levels
                    vals = pd.concat([clean["value"], sub["value"]])
                    rows.append(dict(base, perturbation=pert, level=math.nan, metric=m, value=_nan_mean(vals),
                                     n_images=n_img))
            if len(pm):
                rows.append(dict(base, perturbation="mean", level=math.nan, metric=m, value=_nan_mean(pm["value"]),
                                 n_images=n_img))
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    if out["dataset"].nunique() > 1:
        keys = by + ["perturbation", "level", "metric"]
        mean = (out.assign(_lv=out["level"].fillna(-999.0))
                .groupby(by + ["perturbation", "_lv", "metric"], sort=False, dropna=False)
                .agg(value=("value", "mean"), n_images=("n_images", "sum"), level=("level", "first"))
                .reset_index().drop(columns="_lv"))
        mean["dataset"] = "mean"
        out = pd.concat([out, mean[keys + ["dataset", "value", "n_images"]]], ignore_index=True)
    out["level"] = out["level"].astype(float)
    return out


def cached_restoration_scores(profile, restorer: str, grid, teacher: str | None = None) -> pd.DataFrame:
    from ..evaluate import restoration_scores

    profile = _profiles.get(profile)
    _, _, evals = datasets_for(profile)
    path, rid = model_ref(profile, restorer)
    out = []
    for name, df in evals.items():
        what = {"kind": "restoration", "res": rid, "data": frame_fingerprint(df), "grid": grid,
                "size": list(profile.size), "round8": True, "clean8": True, "teacher": teacher}

        def compute(df=df):
            return restoration_scores(path, df, perturbations=grid, size=profile.size,
                                      batch_size=profile.eval_batch_size, progress=False,
                                      num_workers=profile.num_workers, seed=profile.seed, teacher=teacher)

        r = cached_frame(profile, what, compute).copy()
        r["dataset"], r["method"] = name, restorer
        out.append(r)
    return pd.concat(out, ignore_index=True)


def restoration_per_image(scores: pd.DataFrame) -> pd.DataFrame:
    """The tampered images' restoration scores as the tables average them: PSNR capped at 100 dB (an exact
    restoration is infinite), ``manipulation`` ``tampered`` where a dataset does not name it."""
    s = scores[scores["label"].astype(int) == 1].copy()
    s["psnr_tampered"] = s["psnr_tampered"].clip(upper=100.0)
    s["manipulation"] = [m if isinstance(m, str) and m else "tampered" for m in s["manipulation"]]
    return s


def tidy_restoration(scores: pd.DataFrame, by_manipulation: bool = True) -> pd.DataFrame:
    """Restoration scores of tampered images -> tidy rows of metric ``psnr`` / ``ssim`` inside the tampered
    region (per level, plus ``mean`` over the levels), per manipulation (and ``all``)."""
    s = restoration_per_image(scores)
    groups = [s.assign(manipulation="all")]
    if by_manipulation:
        groups.insert(0, s)
    rows = []
    for g in groups:
        for (method, ds, manip), gg in g.groupby(["method", "dataset", "manipulation"], sort=False):
            per = []
            for (pert, lv), x in gg.groupby(["perturbation", "level"], sort=False):
                for m, col in (("psnr", "psnr_tampered"), ("ssim", "ssim_tampered")):
                    per.append(dict(method=method, dataset=ds, manipulation=manip, perturbation=pert, level=lv,
                                    metric=m, value=_nan_mean(x[col]), n_images=int(x[col].notna().sum())))
            rows += per
            pl = pd.DataFrame(per)
            for m in ("psnr", "ssim"):
                rows.append(dict(method=method, dataset=ds, manipulation=manip, perturbation="mean", level=math.nan,
                                 metric=m, value=_nan_mean(pl.loc[pl["metric"] == m, "value"]),
                                 n_images=int(gg["image"].nunique())))
    out = pd.DataFrame(rows)
    out["level"] = out["level"].astype(float)
    return out
