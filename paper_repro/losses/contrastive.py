"""Supervised pixel contrastive loss and the ReConWave-Net training loss.

The pixel loss follows Wang et al., "Exploring cross-image pixel contrast for semantic segmentation"
(ICCV 2021) and Zhao et al., "Contrastive learning for label efficient semantic segmentation"
(ICCV 2021): anchors are pixel embeddings, positives are all other sampled pixels of the same class
(tampered vs authentic), negatives those of the other class, and the loss is the supervised InfoNCE
(SupCon, Khosla et al., NeurIPS 2020, Eq. 2) averaged over anchors, reported with its floor ``log(P)``
subtracted (see :func:`supcon`). ReConWave-Net (Yu et al., J. Computer Applications 46(6), 2026) names
pixel contrastive learning in its abstract and ablates it in Table 4; how it is combined with the
segmentation loss is not public, so ``BCE + Dice + weight * contrastive`` is our design.

Open details chosen here (all parameters):

- the mask is brought to the embedding size by area averaging and thresholded at 0.5
  (``mask_mode="area"``; ``"nearest"`` is the alternative);
- sampling pools pixels across the batch (cross-image contrast, Wang et al.): at most ``max_views``
  random pixels per image and class, then at most ``max_anchors // 2`` per class, so the two classes
  are as balanced as the batch allows; the sample has a fixed shape with a validity mask, so no step
  waits on the device for a pixel count;
- with a single class in the batch (all-tampered or all-authentic) there are no negatives: the loss
  is a zero that still carries a graph (``0 * embeddings.sum()``) so DDP / autocast code paths stay uniform.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import register_loss
from .segmentation import BCEDiceLoss


def _embeddings(outputs) -> torch.Tensor:
    if isinstance(outputs, dict):
        if "embeddings" not in outputs:
            raise KeyError(f"pixel contrastive loss needs outputs['embeddings'] (B, D, h, w); got {list(outputs)}")
        outputs = outputs["embeddings"]
    if not isinstance(outputs, torch.Tensor) or outputs.dim() != 4:
        raise ValueError(f"embeddings must be a (B, D, h, w) tensor, got {getattr(outputs, 'shape', type(outputs))}")
    return outputs


def downsample_mask(mask: torch.Tensor, size, mode: str = "area") -> torch.Tensor:
    """Binary ``(B, h, w)`` labels at ``size``: area average > 0.5 (``"area"``) or nearest (``"nearest"``)."""
    mask = mask.float()
    if mask.dim() == 3:
        mask = mask[:, None]
    if mode == "area":
        m = F.interpolate(mask, size=size, mode="area") if mask.shape[-2:] != tuple(size) else mask
        return (m[:, 0] > 0.5).long()
    if mode == "nearest":
        return (F.interpolate(mask, size=size, mode="nearest")[:, 0] > 0.5).long()
    raise ValueError(f"mask_mode must be 'area' or 'nearest', got {mode!r}")


def supcon(z: torch.Tensor, labels: torch.Tensor, temperature: float, offset: bool = True,
           valid: torch.Tensor | None = None) -> torch.Tensor:
    """Supervised InfoNCE over rows of ``z`` (N, D), L2-normalised; all same-label rows are positives.

    SupCon's per-anchor loss ``-mean_p log softmax`` can never fall below ``log(P)`` (``P`` positives: at best
    the probability mass is shared equally among them), and equals ``log(N - 1)`` when all similarities are
    equal. With ~1000 sampled pixels in two balanced classes it can therefore only move from 6.93 to 6.24, which
    reads as "not learning" in a loss curve. ``offset=True`` (default) subtracts the constant ``log(P)`` per
    anchor: the gradient is unchanged, and the value runs from ``log((N - 1) / P)`` (about ln 2 = 0.69 for
    balanced classes, embeddings that do not separate) down to 0 (classes perfectly separated).

    ``valid`` (N,) bool: rows that take part (the others are neither anchors nor in any denominator), so a
    sample of varying size can live in a tensor of fixed shape. Anchors without a positive are left out; with
    none left the loss is a graph-carrying 0. No value is read back to the host (no device synchronisation)."""
    n = z.shape[0]
    sim = z @ z.t() / temperature
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    keep_col = ~eye if valid is None else ~eye & valid[None, :]
    sim = sim.masked_fill(~keep_col, -1e9)  # finite: a row with no column left gives 0, not NaN, in backward
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & keep_col
    npos = pos.sum(1)
    keep = npos > 0
    if valid is not None:
        keep = keep & valid
    npos = npos.clamp_min(1)  # anchors without a positive are masked out below
    per_anchor = -(log_prob.masked_fill(~pos, 0.0)).sum(1) / npos
    if offset:
        per_anchor = per_anchor - npos.float().log()
    per_anchor = per_anchor.masked_fill(~keep, 0.0)
    return per_anchor.sum() / keep.sum().clamp_min(1)


def _random_subset(valid: torch.Tensor, k: int):
    """A uniformly random subset of at most ``k`` of the ``True`` entries of each row of ``valid`` (R, M), in a
    fixed shape: ``(index (R, k), picked (R, k))``, ``picked`` False where a row had fewer than ``k``. Drawn from
    the global random stream (``torch.rand``), with no host synchronisation (``topk`` of random keys, invalid
    entries keyed -1)."""
    k = min(int(k), valid.shape[1])
    keys = torch.rand(valid.shape, device=valid.device).masked_fill(~valid, -1.0)
    top, index = keys.topk(k, dim=1)
    return index, top >= 0


class SupervisedPixelContrastive(nn.Module):
    """Supervised pixel contrastive loss; ``forward(outputs_or_embeddings, mask) -> (loss, parts)``.

    The pixel sample has a fixed shape (``2 * (max_anchors // 2)`` rows with a validity mask), so a training step
    never waits for the device to report how many pixels of each class an image has."""

    def __init__(self, temperature: float = 0.07, max_anchors: int = 1024, max_views: int = 256,
                 mask_mode: str = "area"):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if max_anchors < 2 or max_views < 1:
            raise ValueError(f"need max_anchors >= 2 and max_views >= 1, got {max_anchors}, {max_views}")
        self.temperature, self.max_anchors, self.max_views, self.mask_mode = temperature, max_anchors, max_views, mask_mode

    def sample(self, emb: torch.Tensor, labels: torch.Tensor):
        """Pick anchor embeddings: per image and class at most ``max_views`` random pixels, then per class at
        most ``max_anchors // 2`` of those. Returns ``(z (N, D), y (N,), valid (N,), counts (2,))`` with ``N =
        2 * (max_anchors // 2)``; ``valid`` marks the rows drawn and ``counts`` (a tensor) how many per class."""
        b, d = emb.shape[:2]
        flat = emb.permute(0, 2, 3, 1).reshape(b, -1, d)
        lab = labels.reshape(b, -1)
        cap = self.max_anchors // 2
        zs, ys, oks = [], [], []
        for c in (0, 1):
            idx, ok = _random_subset(lab == c, self.max_views)                 # (b, k) per image
            cand = flat.gather(1, idx[..., None].expand(-1, -1, d)).reshape(-1, d)
            pooled, ok2 = _random_subset(ok.reshape(1, -1), cap)              # (1, <= cap) over the batch
            pooled, ok2 = pooled[0], ok2[0]
            zc = cand[pooled]
            if zc.shape[0] < cap:  # fewer candidates than the cap: pad to the fixed shape, marked invalid
                pad = cap - zc.shape[0]
                zc = torch.cat([zc, zc.new_zeros(pad, d)])
                ok2 = torch.cat([ok2, ok2.new_zeros(pad)])
            zs.append(zc)
            oks.append(ok2)
            ys.append(torch.full((cap,), c, device=emb.device, dtype=torch.long))
        valid = torch.cat(oks)
        return torch.cat(zs), torch.cat(ys), valid, torch.stack([o.sum() for o in oks])

    def forward(self, outputs, mask, **extra):
        emb = _embeddings(outputs)
        if mask is None:
            raise ValueError("pixel contrastive loss needs a mask (B, 1, H, W), got None")
        labels = downsample_mask(mask, emb.shape[-2:], self.mask_mode)
        z, y, valid, counts = self.sample(emb.float(), labels)
        loss = supcon(F.normalize(z, dim=1), y, self.temperature, valid=valid)
        # one class absent (an all-authentic or all-tampered batch): no negatives, a zero that keeps the graph
        loss = torch.where(counts.min() > 0, loss, emb.float().sum() * 0.0)
        return loss, {"contrastive": loss.detach()}


class ReConWaveLoss(nn.Module):
    """ReConWave-Net loss (our design): ``BCE + Dice + contrastive_weight * pixel contrastive``.

    ``segmentation="focal"`` takes the sigmoid focal loss in BCE's place (class weight from ``pos_weight``, see
    :class:`~paper_repro.losses.segmentation.BCEDiceLoss`); ``dice_weight=0`` leaves Dice out.

    The contrastive term is added only when ``outputs`` has ``embeddings`` (Table 4 rows without the
    projection head train with BCE + Dice alone). ``contrastive_weight=0.1`` is our choice (the weight
    is a free hyper-parameter in the paper's description).
    """

    def __init__(self, contrastive_weight: float = 0.1, bce_weight: float = 1.0, dice_weight: float = 1.0,
                 pos_weight: float | None = None, temperature: float = 0.07, max_anchors: int = 1024,
                 max_views: int = 256, mask_mode: str = "area", segmentation: str = "bce",
                 focal_gamma: float = 2.0):
        super().__init__()
        self.seg = BCEDiceLoss(bce_weight, dice_weight, pos_weight, pixel=segmentation, focal_gamma=focal_gamma)
        self.con = SupervisedPixelContrastive(temperature, max_anchors, max_views, mask_mode)
        self.contrastive_weight = contrastive_weight

    def forward(self, outputs, mask, **extra):
        total, parts = self.seg(outputs, mask)
        if "embeddings" in outputs and self.contrastive_weight:
            con, cparts = self.con(outputs, mask)
            total = total + self.contrastive_weight * con
            parts.update(cparts)
        return total, parts


@register_loss("reconwave", "reconwave-pipeline")
def reconwave_loss(**cfg) -> ReConWaveLoss:
    """Training loss of ``reconwave`` and ``reconwave-pipeline`` (the pipeline's restorer is trained apart)."""
    return ReConWaveLoss(**cfg)
