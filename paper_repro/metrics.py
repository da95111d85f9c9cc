"""Tampering-localization and restoration metrics, per image, returned as pandas tables.

Localization (pixel level, computed per image then averaged over images, the protocol of IMDL-BenCo,
MPC, NCL and TruFor):

- F1 / IoU / precision / recall at a fixed ``threshold`` (a pixel is predicted tampered when
  ``prob > threshold``, as IMDL-BenCo and MPC's code do), and pixel AUC (``sklearn.metrics.roc_auc_score``).
- :func:`best_f1`: the best F1 over all thresholds for that image (TruFor's "best" protocol).
- Authentic images (empty mask) have no positive pixel, so F1/IoU/recall are undefined. Policy
  ``empty_policy``: ``"nan"`` (default) returns NaN so they drop out of nan-aware means -- pixel-level
  scores are then averaged over tampered images only (our default, and MPC's); ``"perfect"`` scores 1 when
  nothing is predicted and 0 otherwise; ``"zero"`` scores 0. AUC is NaN whenever the mask holds a single
  class, and nan-aware means leave such images out.
- :func:`benco_mean`: IMDL-BenCo's aggregation instead (authentic images score 0, mean over ALL images), so
  either can be reported. Where BenCo's own code differs from ours by mistake, ours is kept: its pixel AUC
  integrates without grouping tied scores (the value depends on pixel order; ours equals scikit-learn's), a
  whole-image mask makes its AUC NaN and poisons the mean (ours leaves that image out of the AUC mean), and
  its non-distributed test loader drops a random tail of images (``drop_last=True``; ours scores every image).

Image level: :func:`image_level_score` (mean of the top-``k`` fraction of pixel probabilities) and
:func:`detection_auc`.

Restoration (ReConWave-Net, Yu et al. 2026, Table 1 measures inside the tampered regions): :func:`psnr`
and :func:`ssim` over the whole image or over the pixels of a mask only.

Inputs may be numpy arrays or torch tensors. Masks are binarised with ``mask > 0.5``.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

EMPTY_POLICIES = ("nan", "perfect", "zero")
SCORE_KEYS = ("f1", "iou", "auc", "precision", "recall")


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def _np(x, name: str) -> np.ndarray:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().float().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    a = np.asarray(x)
    if a.dtype == bool:
        a = a.astype(np.uint8)
    if not np.issubdtype(a.dtype, np.number):
        raise TypeError(f"{name}: expected a numeric array or tensor, got dtype {a.dtype}")
    return a


def _map2d(x, name: str) -> np.ndarray:
    """(H, W) from (H, W), (1, H, W) or (1, 1, H, W)."""
    a = _np(x, name)
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"{name}: expected one (H, W) or (1, H, W) map, got shape {a.shape}")
    return a


def _pair(prob, mask):
    p, m = _map2d(prob, "prob"), _map2d(mask, "mask")
    if p.shape != m.shape:
        raise ValueError(f"prob shape {p.shape} != mask shape {m.shape}")
    if not np.isfinite(p).all():
        raise ValueError("prob contains NaN or inf")
    return p.astype(np.float64).ravel(), (m > 0.5).ravel()


def _check_policy(empty_policy):
    if empty_policy not in EMPTY_POLICIES:
        raise ValueError(f"empty_policy must be one of {EMPTY_POLICIES}, got {empty_policy!r}")


def _from_counts(tp, fp, fn, n_pos, empty_policy):
    """F1/IoU/precision/recall from confusion counts (floats), with the empty-mask policy."""
    if n_pos == 0:
        if empty_policy == "nan":
            return dict(f1=math.nan, iou=math.nan, precision=math.nan, recall=math.nan)
        v = 1.0 if (empty_policy == "perfect" and fp == 0) else 0.0
        return dict(f1=v, iou=v, precision=v, recall=v)
    return dict(f1=2 * tp / (2 * tp + fp + fn), iou=tp / (tp + fp + fn),
                precision=tp / (tp + fp) if tp + fp > 0 else 0.0, recall=tp / (tp + fn))


# ----------------------------------------------------------------------------------------------
# one image
# ----------------------------------------------------------------------------------------------
def pixel_scores(prob, mask, threshold: float = 0.5, empty_policy: str = "nan", auc: bool = True) -> dict:
    """Pixel F1, IoU, AUC, precision, recall of ONE image (``prob``, ``mask``: (H, W) or (1, H, W)).

    Equal to ``sklearn.metrics`` ``f1_score`` / ``jaccard_score`` / ``precision_score`` (zero_division=0)
    / ``recall_score`` on ``prob > threshold`` and ``roc_auc_score`` on ``prob``, all on flattened
    pixels. ``empty_policy`` decides authentic (empty-mask) images, see the module docstring.
    """
    _check_policy(empty_policy)
    p, m = _pair(prob, mask)
    pred = p > threshold
    tp = float(np.count_nonzero(pred & m))
    fp = float(np.count_nonzero(pred & ~m))
    fn = float(np.count_nonzero(~pred & m))
    out = _from_counts(tp, fp, fn, int(m.sum()), empty_policy)
    out["auc"] = _auc_np(p, m) if auc else math.nan
    return {k: out[k] for k in SCORE_KEYS}


def _auc_np(p, m) -> float:
    if m.all() or not m.any():
        return math.nan
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(m, p))


def best_f1(prob, mask, empty_policy: str = "nan") -> float:
    """Best F1 over all thresholds for one image (TruFor's protocol), via ``precision_recall_curve``."""
    _check_policy(empty_policy)
    p, m = _pair(prob, mask)
    if not m.any():  # best threshold predicts nothing: 1 under "perfect"
        return _from_counts(0.0, 0.0, 0.0, 0, empty_policy)["f1"]
    from sklearn.metrics import precision_recall_curve

    prec, rec, _ = precision_recall_curve(m, p)
    denom = prec + rec
    f1 = np.where(denom > 0, 2 * prec * rec / np.where(denom > 0, denom, 1), 0.0)
    return float(f1.max())


def image_level_score(prob, k: float = 0.01):
    """Image-level tampering score: mean of the top ``k`` fraction of pixel probabilities.

    No paper here defines one for localization-only models; the top-k mean is a smoothed version of the
    max-pooling used by MVSS-Net / IMDL-BenCo (``k=0`` gives the max). ``prob``: (H, W) -> float, or a
    batch (B, H, W) / (B, 1, H, W) (numpy or torch) -> array of B floats.
    """
    if not 0 <= k <= 1:
        raise ValueError(f"k must be a fraction in [0, 1], got {k}")
    a = _np(prob, "prob").astype(np.float64)
    single = a.ndim == 2
    if single:
        a = a[None]
    elif a.ndim == 4:
        if a.shape[1] != 1:
            raise ValueError(f"prob: expected (B, 1, H, W), got shape {a.shape}")
        a = a[:, 0]
    elif a.ndim != 3:
        raise ValueError(f"prob: expected (H, W), (B, H, W) or (B, 1, H, W), got shape {a.shape}")
    flat = a.reshape(a.shape[0], -1)
    top = max(1, int(math.ceil(k * flat.shape[1])))
    part = -np.partition(-flat, top - 1, axis=1)[:, :top]
    scores = part.mean(axis=1)
    return float(scores[0]) if single else scores


def detection_auc(scores, labels) -> float:
    """Image-level ROC AUC (``roc_auc_score``) of ``scores`` against 0/1 ``labels``; NaN with one class."""
    s = _np(scores, "scores").astype(np.float64).ravel()
    y = _np(labels, "labels").ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.size}) and labels ({y.size}) differ in length")
    y = y > 0.5
    if y.all() or not y.any():
        return math.nan
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


# ----------------------------------------------------------------------------------------------
# many images
# ----------------------------------------------------------------------------------------------
def _iter_maps(x, name):
    """Yield (H, W) maps from a list of maps or an array/tensor batch (B, H, W) / (B, 1, H, W)."""
    if isinstance(x, (list, tuple)):
        yield from x
        return
    a = x
    shape = tuple(a.shape)
    if len(shape) == 4:
        if shape[1] != 1:
            raise ValueError(f"{name}: expected (B, 1, H, W), got shape {shape}")
        for i in range(shape[0]):
            yield a[i, 0]
    elif len(shape) == 3:
        for i in range(shape[0]):
            yield a[i]
    elif len(shape) == 2:
        yield a
    else:
        raise ValueError(f"{name}: expected a batch (B, H, W) / (B, 1, H, W) or a list of maps, got {shape}")


def image_scores(probs, masks, threshold: float = 0.5, best: bool = False, auc: bool = True,
                 empty_policy: str = "nan", names=None, k: float = 0.01) -> pd.DataFrame:
    """One row per image: f1, iou, auc, precision, recall (+ ``best_f1``), ``tampered`` and ``score``.

    ``probs``/``masks``: lists of (H, W) maps or batches (B, H, W) / (B, 1, H, W). ``tampered`` is
    whether the mask has a positive pixel; ``score`` is :func:`image_level_score` (``k``).
    """
    import pandas as pd
    rows = []
    pl, ml = list(_iter_maps(probs, "probs")), list(_iter_maps(masks, "masks"))
    if len(pl) != len(ml):
        raise ValueError(f"{len(pl)} prediction maps but {len(ml)} masks")
    for p, m in zip(pl, ml):
        r = pixel_scores(p, m, threshold, empty_policy, auc=auc)
        if best:
            r["best_f1"] = best_f1(p, m, empty_policy)
        r["tampered"] = bool((_map2d(m, "mask") > 0.5).any())
        r["score"] = image_level_score(_map2d(p, "prob"), k)
        rows.append(r)
    df = pd.DataFrame(rows)
    if names is not None:
        names = list(names)
        if len(names) != len(df):
            raise ValueError(f"{len(names)} names for {len(df)} images")
        df.index = pd.Index(names, name="image")
    return df


def benco_mean(df: pd.DataFrame, metric: str = "f1") -> float:
    """IMDL-BenCo's mean of a per-image ``metric`` (``f1`` / ``iou`` / ``auc``): authentic images (``tampered``
    False, or an empty mask) count as 0 and the mean runs over every image. Our default instead averages over
    tampered images only (:func:`summarize`)."""
    import pandas as pd
    if metric not in df.columns:
        raise KeyError(f"benco_mean: no column {metric!r}")
    vals = pd.to_numeric(df[metric], errors="coerce").astype(float)
    if "tampered" in df.columns:
        vals = vals.where(df["tampered"].astype(bool), 0.0)
    return float(vals.fillna(0.0).mean()) if len(vals) else math.nan


def summarize(df: pd.DataFrame, by=None) -> pd.Series | pd.DataFrame:
    """Nan-aware mean over images of the metric columns (+ ``n_images``; ``det_auc`` from ``score``).

    ``by``: a column name (or list) to summarize per group (e.g. ``"perturbation"``) -> DataFrame.
    """
    import pandas as pd
    metric_cols = [c for c in (*SCORE_KEYS, "best_f1", "psnr", "ssim") if c in df.columns]

    def one(g: pd.DataFrame) -> pd.Series:
        s = g[metric_cols].astype(float).mean(skipna=True)
        if "score" in g.columns and "tampered" in g.columns:
            s["det_auc"] = detection_auc(g["score"].to_numpy(), g["tampered"].to_numpy())
        s["n_images"] = len(g)
        return s

    if by is None:
        return one(df)
    if not isinstance(by, str) and len(by) == 1:
        by = by[0]
    groups = list(df.groupby(by, sort=False))
    out = pd.DataFrame([one(g) for _, g in groups], index=[k for k, _ in groups])
    out.index.name = by if isinstance(by, str) else None
    if not isinstance(by, str) and len(by) > 1:
        out.index = pd.MultiIndex.from_tuples(out.index, names=list(by))
    return out


# ----------------------------------------------------------------------------------------------
# streaming accumulator (torch, vectorised)
# ----------------------------------------------------------------------------------------------
def _auc_torch(scores, labels) -> float:
    """Rank-based ROC AUC (Mann-Whitney U with average ranks for ties) of one flattened image."""
    import torch

    n_pos = int(labels.sum())
    n = labels.numel()
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    s = scores.double()
    _, inv, counts = torch.unique(s, sorted=True, return_inverse=True, return_counts=True)
    cum = torch.cumsum(counts, 0).double()
    avg_rank = cum - (counts.double() - 1) / 2  # 1-based average rank of each unique value
    rank_pos = avg_rank[inv][labels].sum().item()
    return (rank_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _best_f1_torch(scores, labels) -> float:
    """Best F1 over thresholds (``>=`` each distinct score), as sklearn's precision_recall_curve."""
    import torch

    n_pos = int(labels.sum())
    if n_pos == 0:
        return math.nan
    order = torch.argsort(scores.double(), descending=True)
    s, y = scores.double()[order], labels[order].double()
    tps, fps = torch.cumsum(y, 0), torch.cumsum(1 - y, 0)
    last = torch.ones_like(s, dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]  # last index of each run of equal scores
    tp, fp = tps[last], fps[last]
    f1 = 2 * tp / (tp + fp + n_pos)
    return float(f1.max())


def f1_column(threshold: float) -> str:
    """The column holding F1 at ``threshold`` beside the main one (``f1@0.3``)."""
    return f"f1@{float(threshold):g}"


class MetricAccumulator:
    """Streaming per-image metrics: ``add(prob, mask)`` per batch, ``result()`` / ``summary()`` at the end.

    Keeps only per-image scalars, so memory stays flat as the evaluation set grows. F1/IoU/precision/
    recall come from vectorised torch confusion counts on the batch's device (same definitions and
    ``empty_policy`` as :func:`pixel_scores`); ``auc=True`` adds a rank-based per-image AUC and
    ``best=True`` the best-threshold F1 (both exact, tie-aware, and slower). ``from_logits=True``
    applies a sigmoid first. ``f1_thresholds``: further thresholds whose F1 is kept beside the main one, in
    columns named by :func:`f1_column` (``f1@0.3``), from the same pass. Extra per-image columns (e.g.
    ``perturbation``) can be passed to ``add``.
    """

    def __init__(self, threshold: float = 0.5, auc: bool = False, best: bool = False,
                 empty_policy: str = "nan", from_logits: bool = False, k: float = 0.01,
                 f1_thresholds: Sequence[float] = ()):
        _check_policy(empty_policy)
        self.threshold, self.auc, self.best = threshold, auc, best
        self.f1_thresholds = tuple(float(t) for t in f1_thresholds)
        self.empty_policy, self.from_logits, self.k = empty_policy, from_logits, k
        self.rows: list[dict] = []

    def reset(self) -> None:
        self.rows = []

    def __len__(self) -> int:
        return len(self.rows)

    @staticmethod
    def _batch(x, name):
        import torch

        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x))
        if x.dim() == 4:
            if x.shape[1] != 1:
                raise ValueError(f"{name}: expected (B, 1, H, W), got shape {tuple(x.shape)}")
            x = x[:, 0]
        elif x.dim() == 2:
            x = x[None]
        elif x.dim() != 3:
            raise ValueError(f"{name}: expected (B, 1, H, W), (B, H, W) or (H, W), got shape {tuple(x.shape)}")
        return x

    def add(self, prob, mask, names=None, **columns) -> None:
        """Score a batch: ``prob`` and ``mask`` (B, 1, H, W) / (B, H, W) tensors (or arrays)."""
        import torch

        with torch.no_grad():
            p = self._batch(prob, "prob").float()
            m = self._batch(mask, "mask").to(p.device) > 0.5
            if p.shape != m.shape:
                raise ValueError(f"prob shape {tuple(p.shape)} != mask shape {tuple(m.shape)}")
            if self.from_logits:
                p = torch.sigmoid(p)
            b = p.shape[0]
            pf, mf = p.reshape(b, -1), m.reshape(b, -1)

            def counts(threshold):  # per-image tp, fp, fn at one threshold
                pred = pf > threshold
                return tuple((a & b).sum(1).double().cpu().tolist() for a, b in ((pred, mf), (pred, ~mf), (~pred, mf)))

            tp, fp, fn = counts(self.threshold)
            npos = mf.sum(1).cpu().tolist()
            extra = {f1_column(t): counts(t) for t in self.f1_thresholds}
            top = max(1, int(math.ceil(self.k * pf.shape[1])))
            score = pf.topk(top, dim=1).values.double().mean(1).cpu().tolist()
            names = [None] * b if names is None else list(names)
            if len(names) != b:
                raise ValueError(f"{len(names)} names for a batch of {b}")
            for key, v in columns.items():
                if not isinstance(v, (str, int, float, bool, type(None))) and len(v) != b:
                    raise ValueError(f"column {key!r}: {len(v)} values for a batch of {b}")
            for i in range(b):
                r = _from_counts(tp[i], fp[i], fn[i], npos[i], self.empty_policy)
                r["auc"] = _auc_torch(pf[i], mf[i]) if self.auc else math.nan
                if self.best:
                    r["best_f1"] = (_best_f1_torch(pf[i], mf[i]) if npos[i] else
                                    _from_counts(0.0, 0.0, 0.0, 0, self.empty_policy)["f1"])
                for col, (tp_t, fp_t, fn_t) in extra.items():
                    r[col] = _from_counts(tp_t[i], fp_t[i], fn_t[i], npos[i], self.empty_policy)["f1"]
                r["tampered"] = bool(npos[i] > 0)
                r["score"] = score[i]
                if names[i] is not None:
                    r["image"] = names[i]
                for key, v in columns.items():
                    r[key] = v if isinstance(v, (str, int, float, bool, type(None))) else _item(v[i])
                self.rows.append({k: r[k] for k in (*SCORE_KEYS, *(k for k in r if k not in SCORE_KEYS))})

    def result(self) -> pd.DataFrame:
        """One row per image seen so far."""
        import pandas as pd
        df = pd.DataFrame(self.rows)
        if "image" in df.columns:
            df = df.set_index("image")
        return df

    def summary(self, by=None):
        """:func:`summarize` of :meth:`result`."""
        return summarize(self.result(), by=by)


def _item(v):
    return v.item() if hasattr(v, "item") else v


# ----------------------------------------------------------------------------------------------
# restoration quality (ReConWave-Net Table 1)
# ----------------------------------------------------------------------------------------------
def _images(restored, target, mask):
    """To numpy (B, H, W, C) float64 pairs + mask (B, H, W) bool or None; torch is channel-first,
    numpy channel-last (H, W, C) or (H, W)."""
    import torch

    def conv(x, name):
        if isinstance(x, torch.Tensor):
            a = x.detach().double().cpu().numpy()
            if a.ndim == 3:
                a = a[None]
            if a.ndim != 4:
                raise ValueError(f"{name}: expected a (C, H, W) or (B, C, H, W) tensor, got {a.shape}")
            return np.moveaxis(a, 1, -1), True
        a = np.asarray(x, dtype=np.float64)
        if a.ndim == 2:
            a = a[..., None]
        if a.ndim != 3:
            raise ValueError(f"{name}: expected an (H, W) or (H, W, C) array, got {a.shape}")
        return a[None], False

    r, batched_r = conv(restored, "restored")
    t, _ = conv(target, "target")
    if r.shape != t.shape:
        raise ValueError(f"restored shape {r.shape} != target shape {t.shape}")
    batched = batched_r and isinstance(restored, torch.Tensor) and restored.dim() == 4
    if mask is None:
        return r, t, None, batched
    m = _np(mask, "mask") > 0.5
    b, h, w = r.shape[:3]
    if m.ndim == 4 and m.shape[1] == 1:  # (B, 1, H, W)
        m = m[:, 0]
    if m.ndim == 3 and m.shape[-1] == 1 and m.shape[:2] == (h, w):  # numpy (H, W, 1)
        m = m[..., 0]
    if m.ndim == 3 and m.shape[0] == 1:  # (1, H, W)
        m = m[0]
    if m.ndim == 2:
        m = np.broadcast_to(m, (b, *m.shape))
    if m.shape != (b, h, w):
        raise ValueError(f"mask shape {m.shape} does not match images (B={b}, H={h}, W={w})")
    return r, t, m, batched


def psnr(restored, target, mask=None, data_range: float = 1.0):
    """PSNR ``10 log10(data_range^2 / MSE)``; with ``mask``, the MSE is over the masked pixels (all
    channels) only -- ReConWave-Net reports PSNR inside tampered regions. Torch (C, H, W) / (B, C, H, W)
    or numpy (H, W, C) / (H, W); a batch gives one value per image (numpy array). Empty mask -> NaN,
    identical images -> inf."""
    r, t, m, batched = _images(restored, target, mask)
    out = []
    for i in range(r.shape[0]):
        d2 = (r[i] - t[i]) ** 2
        if m is not None:
            if not m[i].any():
                out.append(math.nan)
                continue
            d2 = d2[m[i]]
        mse = float(d2.mean())
        out.append(math.inf if mse == 0 else 10.0 * math.log10(data_range ** 2 / mse))
    return np.array(out) if batched else out[0]


def ssim(restored, target, mask=None, data_range: float = 1.0, gaussian_weights: bool = True, **kwargs):
    """SSIM via ``skimage.metrics.structural_similarity`` (``full=True``, ``channel_axis=-1``).

    Without ``mask``: skimage's mean SSIM. With ``mask``: the mean of the SSIM map over the masked pixels
    (and channels). Default window: Gaussian, sigma 1.5, population covariance -- Wang et al. (2004)'s
    settings, which ReConWave-Net does not specify; ``gaussian_weights=False`` gives skimage's 7x7
    uniform window. Inputs and batching as :func:`psnr`.
    """
    from skimage.metrics import structural_similarity

    r, t, m, batched = _images(restored, target, mask)
    if gaussian_weights:
        kwargs = {"sigma": 1.5, "use_sample_covariance": False, **kwargs}
    out = []
    for i in range(r.shape[0]):
        if m is not None and not m[i].any():
            out.append(math.nan)
            continue
        mean, smap = structural_similarity(r[i], t[i], data_range=data_range, channel_axis=-1, full=True,
                                           gaussian_weights=gaussian_weights, **kwargs)
        out.append(float(mean) if m is None else float(smap[m[i]].mean()))
    return np.array(out) if batched else out[0]
