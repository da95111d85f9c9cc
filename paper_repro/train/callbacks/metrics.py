"""Validation metrics: :class:`PixelMetric` (F1 / IoU at a threshold) and :class:`PSNRMetric`."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from fastai.learner import Metric



# ------------------------------------------------------------------------------------------- metrics
def _logits(pred):
    if isinstance(pred, dict):
        if "logits" not in pred:
            raise KeyError(f"pixel metrics need pred['logits']; model returned {sorted(pred)}")
        return pred["logits"]
    return pred


class _PerImageMean(Metric):
    """A fastai metric averaging finite per-image values over an epoch (subclasses implement ``accumulate``
    and call :meth:`_add`)."""

    def reset(self):
        self.total, self.count = 0.0, 0

    def _add(self, v: float):
        self.total += v
        self.count += 1

    @property
    def value(self):
        return self.total / self.count if self.count else float("nan")


class PixelMetric(_PerImageMean):
    """Mean per-image pixel F1 or IoU at ``threshold`` over the validation set.

    Per-image scores come from :class:`paper_repro.metrics.MetricAccumulator` (vectorised confusion
    counts); authentic images (empty masks) are NaN under its default ``empty_policy="nan"`` and are left
    out of the mean, as IMDL-BenCo / MPC report pixel scores. An epoch of only authentic images gives NaN.
    Predictions are resized bilinearly to the mask if their sizes differ.
    """

    def __init__(self, kind: str = "f1", threshold: float = 0.5):
        if kind not in ("f1", "iou", "precision", "recall"):
            raise ValueError(f"PixelMetric kind must be 'f1', 'iou', 'precision' or 'recall', got {kind!r}")
        self.kind, self.threshold = kind, threshold

    def accumulate(self, learn):
        from ...metrics import MetricAccumulator

        logits = _logits(learn.pred).detach().float()
        mask = learn.yb[0].detach()
        if logits.shape[-2:] != mask.shape[-2:]:
            logits = F.interpolate(logits, size=mask.shape[-2:], mode="bilinear", align_corners=False)
        acc = MetricAccumulator(threshold=self.threshold)
        acc.add(torch.sigmoid(logits), mask.reshape(mask.shape[0], 1, *mask.shape[-2:]))
        for row in acc.rows:
            v = float(row[self.kind])
            if math.isfinite(v):
                self._add(v)

    @property
    def name(self):
        return self.kind


class PSNRMetric(_PerImageMean):
    """Mean per-image PSNR (dB) of ``pred['restored']`` (clamped to [0, 1]) against the clean image ``yb[1]``
    (:func:`paper_repro.metrics.psnr`); a perfect restoration (infinite PSNR) counts as ``cap`` dB."""

    def __init__(self, cap: float = 100.0):
        self.cap = cap

    def accumulate(self, learn):
        from ...metrics import psnr

        restored = learn.pred["restored"].detach().float().clamp(0, 1).cpu()
        clean = learn.yb[1].detach().float().cpu()
        for v in np.atleast_1d(psnr(restored, clean)):
            self._add(min(float(v), self.cap))

    @property
    def name(self):
        return "psnr"


