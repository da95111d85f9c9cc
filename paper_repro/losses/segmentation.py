"""Pixel-wise segmentation losses on ``outputs["logits"]`` (tampered = 1).

Each loss is an ``nn.Module`` with ``forward(outputs, mask, **extra) -> (total, parts)``. Logits are
bilinearly resized to the mask size when they differ and cast to fp32 so the losses are computed in
full precision even under bf16 autocast.
"""
from __future__ import annotations

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F


def _logits_and_mask(outputs, mask: torch.Tensor, key: str = "logits"):
    """fp32 logits resized to ``mask``'s size, and the float mask; clear errors on bad input."""
    if not isinstance(outputs, dict) or key not in outputs:
        got = list(outputs) if isinstance(outputs, dict) else type(outputs).__name__
        raise KeyError(f"loss expects outputs[{key!r}] (B, 1, H, W); got {got}")
    logits = outputs[key].float()
    if mask is None:
        raise ValueError("loss needs a mask (B, 1, H, W) with 1 = tampered, got None")
    mask = mask.float()
    if mask.dim() == 3:
        mask = mask[:, None]
    if logits.dim() != 4 or mask.dim() != 4 or logits.shape[0] != mask.shape[0] or logits.shape[1] != mask.shape[1]:
        raise ValueError(f"logits {tuple(logits.shape)} and mask {tuple(mask.shape)} must both be (B, 1, H, W)")
    if logits.shape[-2:] != mask.shape[-2:]:
        logits = F.interpolate(logits, size=mask.shape[-2:], mode="bilinear", align_corners=False)
    return logits, mask


def soft_dice_loss(logits: torch.Tensor, mask: torch.Tensor, smooth: float = 1.0, per_image: bool = False):
    """``1 - (2|P.G| + s) / (|P| + |G| + s)`` on sigmoid probabilities (Milletari et al., 3DV 2016).

    ``per_image=False`` (default) pools the whole batch, which stays well-defined on authentic images
    (empty masks); ``per_image=True`` averages per-image Dice.
    """
    p = logits.sigmoid()
    dims = (1, 2, 3) if per_image else (0, 1, 2, 3)
    inter = (p * mask).sum(dims)
    denom = p.sum(dims) + mask.sum(dims)
    return (1 - (2 * inter + smooth) / (denom + smooth)).mean()


def pos_weight_tensor(pos_weight: float | None, device: torch.device):
    """BCE's ``pos_weight`` as a tensor on ``device`` (None stays None), made once per value and device: copying a
    host number to a GPU on every step would make each step wait for the device."""
    return None if pos_weight is None else _cached_scalar(float(pos_weight), torch.device(device))


@functools.lru_cache(maxsize=None)
def _cached_scalar(value: float, device: torch.device) -> torch.Tensor:
    return torch.tensor(value, device=device)


class BCELoss(nn.Module):
    """Plain binary cross-entropy with logits; ``pos_weight`` up-weights tampered pixels."""

    def __init__(self, pos_weight: float | None = None):
        super().__init__()
        self.pos_weight = pos_weight

    def forward(self, outputs, mask, **extra):
        logits, mask = _logits_and_mask(outputs, mask)
        pw = pos_weight_tensor(self.pos_weight, logits.device)
        bce = F.binary_cross_entropy_with_logits(logits, mask, pos_weight=pw)
        return bce, {"bce": bce.detach()}


#: pixel terms :class:`BCEDiceLoss` can pair with Dice
PIXEL_TERMS = ("bce", "focal")


class BCEDiceLoss(nn.Module):
    """``bce_weight * BCE + dice_weight * soft Dice`` — the usual U-Net localisation loss.

    ``pixel="focal"`` replaces BCE by the sigmoid focal loss (Lin et al., ICCV 2017) with ``alpha`` weighing
    tampered pixels and ``focal_gamma`` the focusing; ``alpha`` defaults to ``pos_weight / (1 + pos_weight)``
    (3:1 for ``pos_weight = 3``), so the class weighting is the same as BCE's. The loss parts name the pixel
    term by ``pixel`` (``bce`` or ``focal``) beside ``dice``.
    """

    def __init__(self, bce_weight: float = 1.0, dice_weight: float = 1.0, pos_weight: float | None = None,
                 smooth: float = 1.0, dice_per_image: bool = False, pixel: str = "bce", focal_gamma: float = 2.0):
        super().__init__()
        if pixel not in PIXEL_TERMS:
            raise ValueError(f"pixel term must be one of {PIXEL_TERMS}, got {pixel!r}")
        if pixel == "focal":
            alpha = 0.5 if pos_weight is None else float(pos_weight) / (1.0 + float(pos_weight))
            self.bce = SigmoidFocalLoss(alpha=alpha, gamma=focal_gamma)
        else:
            self.bce = BCELoss(pos_weight)
        self.pixel = pixel
        self.bce_weight, self.dice_weight = bce_weight, dice_weight
        self.smooth, self.dice_per_image = smooth, dice_per_image

    def forward(self, outputs, mask, **extra):
        logits, mask = _logits_and_mask(outputs, mask)
        bce, _ = self.bce({"logits": logits}, mask)
        total = self.bce_weight * bce
        parts = {self.pixel: bce.detach()}
        if self.dice_weight:
            dice = soft_dice_loss(logits, mask, self.smooth, self.dice_per_image)
            total = total + self.dice_weight * dice
            parts["dice"] = dice.detach()
        return total, parts


class SigmoidFocalLoss(nn.Module):
    """Sigmoid focal loss (Lin et al., ICCV 2017) via ``torchvision.ops.sigmoid_focal_loss``, mean-reduced.

    Used by MPC's second (fine-tuning) stage; ``alpha=0.5`` weighs both classes equally.
    """

    def __init__(self, alpha: float = 0.5, gamma: float = 2.0):
        super().__init__()
        self.alpha, self.gamma = alpha, gamma

    def forward(self, outputs, mask, **extra):
        from torchvision.ops import sigmoid_focal_loss

        logits, mask = _logits_and_mask(outputs, mask)
        focal = sigmoid_focal_loss(logits, mask, alpha=self.alpha, gamma=self.gamma, reduction="mean")
        return focal, {"focal": focal.detach()}
