"""Trivial reference detectors: what a table's F1 means when a model has learned nothing.

- ``all-tampered``: every pixel tampered (probability ``value``, default 1). Its per-image F1 is
  ``2p / (1 + p)`` for a tampered fraction ``p`` and its AUC is 0.5 (at the mask's own size; an
  upsampled constant map carries float rounding that breaks the ties a little), so a detector whose F1 sits at this
  baseline with an AUC near 0.5 only marks everything; the notebooks print it beside ReConWave-Net.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from .registry import register


class ConstantDetector(nn.Module):
    """Returns the same tampering probability ``value`` at every pixel (``logits`` = logit(value))."""

    def __init__(self, value: float = 1.0):
        super().__init__()
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"constant detector: value must be a probability in [0, 1], got {value}")
        self.value = float(value)
        p = min(max(self.value, 1e-6), 1 - 1e-6)
        self.logit = math.log(p / (1 - p))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4:
            raise ValueError(f"expected a (B, 3, H, W) batch, got shape {tuple(x.shape)}")
        return {"logits": torch.full((x.shape[0], 1, *x.shape[-2:]), self.logit, device=x.device, dtype=torch.float32)}


@register("all-tampered")
def all_tampered(**cfg) -> ConstantDetector:
    """Every pixel tampered: the trivial F1 baseline (``cfg``: ``value``)."""
    return ConstantDetector(**{"value": 1.0, **cfg})
