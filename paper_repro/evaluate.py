"""Evaluation passes and brightness / contrast robustness sweeps, streamed with flat memory.

:func:`evaluate` decodes each image ONCE (``read_pair``, prefetched by a torch ``DataLoader``, images of one
stored shape batched together) and for every ``(perturbation, level)`` perturbs the batch in memory on the
device at its STORED resolution (:func:`paper_repro.perturb.apply`; IMDL-BenCo's order: perturb the stored
image, then size it for the model), then calls :func:`paper_repro.inference.infer` (optional restorer,
detector, probability map at the image's own size: ``size=None`` fully convolutional at native resolution,
``size=(h, w)`` resized in and out), scores each image (:class:`paper_repro.metrics.MetricAccumulator`:
F1 / IoU at 0.5, AUC, image-level score) and drops the maps. Only per-image scalars are kept, so memory
stays flat as the dataset grows.

:func:`sweep` evaluates over :func:`paper_repro.perturb.sweep_grid` (ReConWave-Net's Tables 2-3);
:func:`sweep_table` pivots per-image results to the tables' layout. :func:`restoration_scores` gives
Table 1's PSNR / SSIM (whole image and inside the tampered mask) of a restorer or of the
``restore-none`` / ``restore-classical`` baselines at one fixed size; :func:`restoration_table` averages them.
"""
from __future__ import annotations

import inspect
import math
import os
import warnings
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from . import perturb as P
from .inference import autocast as _autocast, infer

Perturbation = tuple[str, float | int | None]


# ------------------------------------------------------------------------------------------- helpers
def _size(size) -> tuple[int, int] | None:
    """``None`` (native resolution) or ``(h, w)``."""
    if size is None:
        return None
    if isinstance(size, int):
        size = (size, size)
    h, w = (int(s) for s in size)
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got {size!r}")
    return h, w


def _device(device) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _as_model(model, device, channels_last: bool = False) -> nn.Module:
    """:func:`paper_repro.models.load` on the evaluation device."""
    from .models import load

    return load(model, device=device, channels_last=channels_last)


def _check_perturbations(perturbations) -> list[Perturbation]:
    out = []
    for item in perturbations:
        if isinstance(item, str):
            item = (item, None)
        name, level = item
        if name not in ("clean", "none", None) and name not in P.PERTURBATIONS:
            raise KeyError(f"unknown perturbation {name!r}; choose from clean, {', '.join(P.PERTURBATIONS)}")
        out.append(("clean" if name in ("none", None) else name, level))
    if not out:
        raise ValueError("perturbations is empty")
    return out


def _perturb(name: str, x: torch.Tensor, level, keys: Sequence[int], seed: int) -> torch.Tensor:
    """:func:`perturb.apply`; Gaussian noise is drawn per image from ``(seed, key)`` so a result does not
    depend on the batch it was in."""
    if name == "noise":
        from .train.callbacks import derive_seed

        return torch.stack([P.gaussian_noise(xi, float(level), torch.Generator().manual_seed(derive_seed(seed, int(k))))
                            for xi, k in zip(x, keys)])
    return P.apply(name, x, level)


class _EvalImages(Dataset):
    """Manifest rows -> ``(image (3, H, W) at its stored size, mask (H, W) bool tensor, row position, error)``;
    the image is resized to ``size`` only when ``resize_input`` (the perturbation then acts on the resized
    image, the old order; by default every perturbation acts on the stored image, as in IMDL-BenCo)."""

    def __init__(self, df: pd.DataFrame, size: tuple[int, int] | None, resize_input: bool = False):
        self.df, self.size, self.resize_input = df, size, resize_input

    def __len__(self):
        return len(self.df)

    def __getitem__(self, i):
        from .data import DatasetError, read_pair

        try:
            image, mask = read_pair(self.df.iloc[i])
        except DatasetError as err:
            return None, None, i, str(err)
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        if self.resize_input and self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        return x[0].clamp_(0, 1), torch.from_numpy(np.ascontiguousarray(mask)), i, None


def _same_shape_batches(df: pd.DataFrame, batch_size: int) -> list[list[int]]:
    """Row positions in batches of one stored image shape (header reads only), so images at their own
    size can be stacked; an unreadable header gets a batch of its own (the dataset reports the error)."""
    from .data import DatasetError, image_size

    shapes = {}
    for i in range(len(df)):
        try:
            shapes.setdefault(tuple(image_size(df.iloc[i]["image"])), []).append(i)
        except DatasetError:
            shapes.setdefault(("unreadable", i), []).append(i)
    return [rows[k:k + batch_size] for rows in shapes.values() for k in range(0, len(rows), batch_size)]


def _collate(items):
    ok = [it for it in items if it[3] is None]
    bad = [(it[2], it[3]) for it in items if it[3] is not None]
    x = torch.stack([it[0] for it in ok]) if ok else None
    return x, [it[1] for it in ok], [it[2] for it in ok], bad


def _loader(df, size, batch_size, num_workers, resize_input=False):
    ds = _EvalImages(df, size, resize_input)
    common = dict(num_workers=int(num_workers), collate_fn=_collate, persistent_workers=False, pin_memory=False)
    if not resize_input:  # images keep their stored sizes, which differ: batch images of one shape together
        return DataLoader(ds, batch_sampler=_same_shape_batches(df, int(batch_size)), **common)
    return DataLoader(ds, batch_size=int(batch_size), shuffle=False, **common)


def _batches(df, size, batch_size, num_workers, device, desc, progress, skipped: list, resize_input=False):
    """Readable batches of ``df`` as ``(images on device, original masks, row positions, row metadata)``;
    unreadable rows are appended to ``skipped`` as ``(row, error)``."""
    dl = _loader(df, size, batch_size, num_workers, resize_input)
    for x, masks, idx, bad in _progress(dl, len(dl), desc, progress):
        skipped += bad
        if x is not None:
            yield x.to(device), masks, idx, [_meta(df.iloc[i]) for i in idx]


def _meta(row) -> dict:
    def get(k, default=None):
        v = row.get(k, default) if hasattr(row, "get") else default
        return default if v is None or (isinstance(v, float) and math.isnan(v)) else v

    return {"image": str(get("image", "")), "dataset": get("dataset", ""), "manipulation": get("manipulation"),
            "label": int(get("label", 0) or 0)}


def _take(df: pd.DataFrame, max_images: int | None) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame) or "image" not in df.columns:
        raise ValueError("df must be a manifest DataFrame with an 'image' column (see paper_repro.data.manifest)")
    df = df.reset_index(drop=True)
    if max_images is not None:
        df = df.iloc[: int(max_images)]
    if len(df) == 0:
        raise ValueError("no images to evaluate (empty manifest)")
    return df


def _progress(it, total, desc, enabled):
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, total=total, desc=desc, unit="batch", mininterval=2.0)


# ------------------------------------------------------------------------------------------ evaluate
@torch.no_grad()
def evaluate(model, df: pd.DataFrame, size=(256, 256), perturbations: Iterable = (("clean", None),),
             restorer=None, batch_size: int = 8, device=None, precision: str = "auto",
             max_images: int | None = None, progress: bool = True, num_workers: int = 0,
             threshold: float = 0.5, auc: bool = True, seed: int = 0, tta: str = "none",
             f1_thresholds: Sequence[float] = (), channels_last: bool = False) -> pd.DataFrame:
    """Per-image localisation scores, one row per (image, perturbation, level), in manifest order.

    ``model``: a detector (``nn.Module`` or ``final.pt`` path) returning ``logits``; ``restorer``: optional
    model returning ``restored`` (and ``disturbance_logits``) applied to the perturbed batch before the
    detector. Columns: ``image, dataset, manipulation, label, perturbation, level, f1, iou, auc,
    precision, recall, image_score, tampered`` (+ ``pred_disturbance`` / ``true_disturbance`` when a
    restorer or a pipeline predicts the disturbance class). Pixel scores of authentic images are NaN
    (metrics' ``empty_policy="nan"``), so nan-aware means average over tampered images.
    Unreadable rows are skipped with a warning and listed in ``result.attrs["skipped"]``.
    ``size=None``: predict at each image's stored resolution (padded to the models' multiple); ``(h, w)``:
    resize to it and the map back. ``tta``: test-time augmentation of :func:`paper_repro.inference.infer`
    (``"none"``: one pass; ``"flips"``: the mean of the four flipped views, as ``predict`` does by default).
    ``f1_thresholds``: further pixel thresholds scored from the same pass, F1 in columns ``f1@<t>``.
    ``channels_last``: the models (converted in place) and their inputs in NHWC memory format, about twice as
    fast for the detectors on a CPU (:mod:`paper_repro.inference`); scores differ in the sixth decimal.
    """
    from .metrics import MetricAccumulator

    size = _size(size)
    dev = _device(device)
    model = _as_model(model, dev, channels_last)
    restorer = _as_model(restorer, dev, channels_last) if restorer is not None else None
    perts = _check_perturbations(perturbations)
    df = _take(df, max_images)
    acc = MetricAccumulator(threshold=threshold, auc=auc, f1_thresholds=f1_thresholds)
    skipped = []
    for x, masks, idx, metas in _batches(df, size, batch_size, num_workers, dev, "evaluate", progress, skipped):
        for k, (name, level) in enumerate(perts):
            xp = _perturb(name, x, level, idx, seed)
            out = infer(model, xp, restorer=restorer, size=size, precision=precision, tta=tta,
                        channels_last=channels_last)
            prob, pred_cls = out["prob"], out["disturbance"]
            true_cls = None
            if name in ("clean", "brightness", "contrast"):
                true_cls = P.DISTURBANCE_CLASSES[P.disturbance_label(name, level)]
            for j, (m, meta) in enumerate(zip(masks, metas)):
                pj = prob[j:j + 1]
                if tuple(pj.shape[-2:]) != tuple(m.shape):
                    pj = F.interpolate(pj, size=tuple(m.shape), mode="bilinear", align_corners=False)
                cols = dict(meta, perturbation=name, level=np.nan if level is None else float(level),
                            _order=idx[j] * len(perts) + k)
                if pred_cls is not None:
                    cols["pred_disturbance"] = P.DISTURBANCE_CLASSES[int(pred_cls[j])]
                    cols["true_disturbance"] = true_cls
                acc.add(pj, m.to(dev)[None], **cols)
            del xp, out, prob
    for i, err in skipped:
        warnings.warn(f"evaluate: skipped row {i}: {err}")
    res = acc.result().rename(columns={"score": "image_score"})
    if len(res) == 0:
        raise ValueError("evaluate: no image could be read; see the warnings")
    lead = ["image", "dataset", "manipulation", "label", "perturbation", "level", "f1", "iou", "auc",
            "precision", "recall", "image_score", "tampered"]
    res = res.reset_index() if "image" not in res.columns else res
    res = res.sort_values("_order", kind="stable").drop(columns="_order")  # image-major, as perturbations listed
    res = res[[c for c in lead if c in res.columns] + [c for c in res.columns if c not in lead]]
    res.attrs["skipped"] = skipped
    res.attrs["size"] = size
    return res.reset_index(drop=True)


def sweep(model, df: pd.DataFrame, alphas=P.BRIGHTNESS_ALPHAS, betas=P.CONTRAST_BETAS, clean: bool = True,
          **kwargs) -> pd.DataFrame:
    """:func:`evaluate` over ``perturb.sweep_grid(alphas, betas)`` (clean first), the paper's Tables 2-3."""
    return evaluate(model, df, perturbations=P.sweep_grid(alphas, betas, clean=clean), **kwargs)


def _level_order(results: pd.DataFrame) -> list[tuple[str, object]]:
    seen = []
    for p, lv in zip(results["perturbation"], results["level"]):
        key = (p, "" if (lv == "" or pd.isna(lv)) else float(lv))
        if key not in seen:
            seen.append(key)
    return seen


def sweep_table(results: pd.DataFrame, metrics: Sequence[str] = ("f1", "iou"), average: bool = True) -> pd.DataFrame:
    """Pivot per-image results: rows ``(perturbation, level)``, columns ``(metric, dataset)`` of nan-aware
    means over tampered images (authentic images carry NaN pixel scores and drop out); a ``mean`` column
    across datasets when there are several, and an ``average`` row over the perturbed (non-clean) rows.
    """
    missing = [c for c in ("perturbation", "level", *metrics) if c not in results.columns]
    if missing:
        raise KeyError(f"results lack columns {missing}; pass the frame returned by evaluate()/sweep()")
    r = results.copy()
    if "tampered" in r.columns:
        r = r[r["tampered"].astype(bool)]
    if "dataset" not in r.columns:
        r["dataset"] = "all"
    r["dataset"] = r["dataset"].fillna("").astype(str)
    r["level"] = r["level"].map(lambda v: "" if pd.isna(v) else float(v)).astype(object)
    order = _level_order(r)
    table = r.groupby(["perturbation", "level", "dataset"], sort=False)[list(metrics)].mean().unstack("dataset")
    table = table.reindex(pd.MultiIndex.from_tuples(order, names=["perturbation", "level"]))
    datasets = list(dict.fromkeys(r["dataset"]))
    table = table.reindex(columns=pd.MultiIndex.from_product([list(metrics), datasets]))
    if len(datasets) > 1:
        for m in metrics:
            table[(m, "mean")] = table[m][datasets].mean(axis=1)
        table = table.reindex(columns=pd.MultiIndex.from_product([list(metrics), datasets + ["mean"]]))
    table.columns.names = ["metric", "dataset"]
    if average:
        perturbed = [k for k in table.index if k[0] != "clean"]
        if perturbed:
            table.loc[("average", ""), :] = table.loc[perturbed].mean(axis=0).values
    return table


# ------------------------------------------------------------------------------------- restoration
#: what :func:`restoration_scores` may hand a trained restorer instead of its own estimate
TEACHERS = (None, "class", "class+strength")


@torch.no_grad()
def restoration_scores(restorer, df: pd.DataFrame, perturbations: Iterable | None = None, size=(256, 256),
                       batch_size: int = 8, device=None, precision: str = "fp32", max_images: int | None = None,
                       progress: bool = True, num_workers: int = 0, seed: int = 0,
                       with_ssim: bool = True, round8: bool = True, teacher: str | None = None) -> pd.DataFrame:
    """Per-image restoration quality (ReConWave-Net Table 1), one row per (image, perturbation, level).

    ``restorer``: a model returning ``restored`` (``nn.Module``, ``final.pt`` path, or a registered name
    such as ``"restore-none"`` / ``"restore-classical"``). Each image, resized to ``size`` (mask: nearest),
    is perturbed, restored and compared with the clean image: ``psnr`` / ``ssim`` over the whole image
    and ``psnr_tampered`` / ``ssim_tampered`` inside the tampered mask (NaN for authentic images);
    ``psnr_input`` is the unrestored perturbed image's PSNR for reference. ``perturbations`` defaults to
    the paper's brightness/contrast grid without the clean level. ``round8`` (default) stores the resized
    clean image and the disturbed one at 8 bits as photos are stored (:func:`paper_repro.perturb.store8`):
    without it a contrast of 0.7 loses nothing and its exact inverse scores infinite PSNR, and a resized photo
    off the 8-bit grid hides the gap comb that a gain (contrast > 1) leaves in a stored photo's histogram.
    ``restorer="restore-oracle"``: the oracle inverse that knows the disturbance
    (:func:`paper_repro.perturb.invert` with the clean image), Table 1's physical ceiling;
    ``restorer="restore-known"``: the same inverse without the clean image (clipped pixels get the middle of
    their interval, as the trained restorer's analytic step fills them).

    ``teacher`` (trained restorers only) hands the restorer the truth it otherwise estimates, to take its gap
    to the oracle apart: ``"class"`` the true disturbance class (its own strength estimate), ``"class+strength"``
    the true class and the true signed strength (``alpha``, or ``beta - 1``).
    """
    from .metrics import psnr, ssim

    size = _size(size)
    dev = _device(device)
    name = restorer if isinstance(restorer, str) and not os.path.isfile(restorer) else getattr(restorer, "model_name", None)
    restorer = _as_model(restorer, dev)
    told = getattr(restorer, "disturbance_inputs", None)  # an inverse told the disturbance (the oracles)
    if teacher not in TEACHERS:
        raise ValueError(f"restoration_scores: teacher must be one of {TEACHERS}, got {teacher!r}")
    if teacher is not None and (told or "disturbance" not in inspect.signature(restorer.forward).parameters):
        raise ValueError("restoration_scores: teacher needs a trained restorer whose forward takes the disturbance")
    method = name or getattr(restorer, "model_name", type(restorer).__name__)
    perts = _check_perturbations(perturbations if perturbations is not None else P.sweep_grid(clean=False))
    df = _take(df, max_images)
    rows, skipped = [], []
    if size is None:
        raise ValueError("restoration_scores needs a fixed size=(h, w): restorers are compared at one size")
    for x, masks, idx, metas in _batches(df, size, batch_size, num_workers, dev, "restoration", progress, skipped,
                                         resize_input=True):
        m_small = torch.stack([F.interpolate(m[None, None].float(), size=size, mode="nearest")[0, 0] > 0.5
                               for m in masks])
        if round8:
            x = P.store8(x)
        for pname, level in perts:
            xp = _perturb(pname, x, level, idx, seed)
            if round8:
                xp = P.store8(xp)
            if told:
                restored = restorer(xp, perturbation=pname, level=level, clean=x)["restored"]
            else:
                given = {}
                if teacher is not None:
                    n = xp.shape[0]
                    given["disturbance"] = torch.full((n,), P.disturbance_label(pname, level), dtype=torch.long,
                                                      device=xp.device)
                    if teacher == "class+strength":
                        given["strength"] = torch.full((n,), P.signed_strength(pname, level), device=xp.device)
                with _autocast(precision, dev):
                    restored = restorer(xp, **given)["restored"]
            restored = restored.float().clamp(0, 1).cpu()
            clean, xin = x.float().cpu(), xp.float().cpu()
            for j, meta in enumerate(metas):
                mj = m_small[j].cpu()
                row = dict(meta, method=method, perturbation=pname, level=np.nan if level is None else float(level))
                row["psnr"] = float(psnr(restored[j], clean[j]))
                row["psnr_tampered"] = float(psnr(restored[j], clean[j], mask=mj)) if mj.any() else math.nan
                row["psnr_input"] = float(psnr(xin[j], clean[j]))
                if with_ssim:
                    row["ssim"] = float(ssim(restored[j], clean[j]))
                    row["ssim_tampered"] = float(ssim(restored[j], clean[j], mask=mj)) if mj.any() else math.nan
                rows.append(row)
    for i, err in skipped:
        warnings.warn(f"restoration_scores: skipped row {i}: {err}")
    out = pd.DataFrame(rows)
    out.attrs["skipped"] = skipped
    return out


def restoration_table(scores: pd.DataFrame, by: Sequence[str] = ("method", "manipulation", "perturbation"),
                      metrics: Sequence[str] = ("psnr", "ssim", "psnr_tampered", "ssim_tampered")) -> pd.DataFrame:
    """Nan-aware means of :func:`restoration_scores` rows grouped by ``by`` (Table 1's layout);
    ``manipulation`` is ``authentic`` for label-0 rows and ``tampered`` where a dataset does not say;
    infinite PSNR (a perfect restoration) is averaged as 100 dB."""
    cols = [m for m in metrics if m in scores.columns]
    s = scores.copy()
    for c in cols:
        if c.startswith("psnr"):
            s[c] = s[c].clip(upper=100.0)
    manip = s["manipulation"] if "manipulation" in s.columns else pd.Series(None, index=s.index, dtype=object)
    label = s["label"] if "label" in s.columns else pd.Series(1, index=s.index)
    s["manipulation"] = np.where(label.astype(int) == 0, "authentic", manip.fillna("tampered").astype(str))
    g = s.groupby(list(by), dropna=False, sort=False)[cols].mean()
    g["n_images"] = s.groupby(list(by), dropna=False, sort=False).size()
    return g
