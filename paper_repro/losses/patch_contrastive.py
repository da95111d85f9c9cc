"""Contour-patch taxonomy and the class-relation InfoNCE shared by LPCLNet and NCL.

- :func:`patch_labels` splits a mask into non-overlapping patches labelled ``AUTHENTIC`` (0, no
  tampered pixel), ``TAMPERED`` (1, every pixel tampered) or ``CONTOUR`` (2, mixed) — the taxonomy
  of NCL (Zhou et al., ICCV 2023) reused by LPCLNet (Sang et al., Information Sciences 2026).
- :func:`pool_patches` turns pixel embeddings into patch embeddings (average pool + L2 norm).
- :func:`relation_infonce` is a supervised InfoNCE (SupCon "L_out", Khosla et al., NeurIPS 2020)
  whose positives / negatives come from a class *relation table*; the same function expresses the
  mutually exclusive 3-class contrast of LPCLNet and the non-mutually exclusive branches of NCL.
- :class:`LPCLLoss` (registered for ``"lpclnet"``) and :class:`NCLLoss` (registered for ``"ncl"``).

All losses are computed in float32 (inputs cast with ``.float()``, autocast disabled inside by
:func:`fp32`), so they are safe under bf16 autocast, and they are finite when a batch holds only one class (the contrastive terms are then 0).
"""
from __future__ import annotations

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import register_loss
from .segmentation import pos_weight_tensor

AUTHENTIC, TAMPERED, CONTOUR = 0, 1, 2
IGNORE = -1

#: SupCon relation of LPCLNet: three mutually exclusive classes (same class = positive, else negative).
REL_EXCLUSIVE = ((1, -1, -1), (-1, 1, -1), (-1, -1, 1))
#: NCL branch A: contour patches are tampered (positives of tampered, negatives of authentic).
REL_CONTOUR_AS_TAMPERED = ((1, -1, -1), (-1, 1, 1), (-1, 1, 1))
#: NCL branch B: contour patches are authentic (positives of authentic, negatives of tampered).
REL_CONTOUR_AS_AUTHENTIC = ((1, -1, 1), (-1, 1, -1), (1, -1, 1))
#: Two classes only (contour / mixed entries are ignored).
REL_BINARY = ((1, -1, 0), (-1, 1, 0), (0, 0, 0))


def fp32(fn):
    """Run ``fn`` with autocast disabled (on CPU and CUDA), so that its matmuls stay float32 even when
    the caller is inside ``torch.autocast``; tensor arguments are still cast with ``.float()`` inside."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.autocast("cpu", enabled=False):
            if torch.cuda.is_available():
                with torch.autocast("cuda", enabled=False):
                    return fn(*args, **kwargs)
            return fn(*args, **kwargs)

    return wrapper


def _as_mask(mask: torch.Tensor, name: str = "mask") -> torch.Tensor:
    if not torch.is_tensor(mask):
        raise TypeError(f"{name}: expected a tensor, got {type(mask).__name__}")
    if mask.dim() == 3:
        mask = mask.unsqueeze(1)
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise ValueError(f"{name}: expected shape (B,1,H,W) or (B,H,W), got {tuple(mask.shape)}")
    return (mask.float() > 0.5).float()


def patch_labels(mask: torch.Tensor, patch_size: int, grid: tuple[int, int] | None = None) -> torch.Tensor:
    """Label non-overlapping patches of ``mask`` as 0 authentic / 1 tampered / 2 contour (mixed).

    ``mask``: ``(B,1,H,W)`` or ``(B,H,W)``, binarised at 0.5. Without ``grid`` the patches are
    ``patch_size`` mask pixels wide (H, W must be multiples of it). With ``grid=(h, w)`` (an embedding
    map's size, H/h = W/w integer) the patches are ``patch_size`` *embedding* pixels wide and their
    labels are computed exactly from the full-resolution mask (a patch is contour as soon as one of
    its full-resolution pixels differs from the others). ``patch_size=1`` with ``grid`` gives
    per-embedding-pixel labels (2 = the pixel straddles the tampering boundary). Returns a
    ``LongTensor (B, gh, gw)``.
    """
    if int(patch_size) < 1:
        raise ValueError(f"patch_size must be >= 1, got {patch_size}")
    m = _as_mask(mask)
    H, W = m.shape[-2:]
    if grid is None:
        gh, gw = H, W
    else:
        gh, gw = int(grid[0]), int(grid[1])
        if gh <= 0 or gw <= 0 or H % gh or W % gw:
            raise ValueError(f"grid {tuple(grid)} must divide the mask size {(H, W)}")
    if gh % patch_size or gw % patch_size:
        raise ValueError(f"patch_size {patch_size} must divide the label grid {(gh, gw)}")
    frac = F.adaptive_avg_pool2d(m, (gh // patch_size, gw // patch_size))[:, 0]
    lab = torch.full_like(frac, CONTOUR, dtype=torch.long)
    lab[frac <= 1e-6] = AUTHENTIC
    lab[frac >= 1 - 1e-6] = TAMPERED
    return lab


def pool_patches(embeddings: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Patch embeddings ``(B, D, h/p, w/p)``: average pool over ``patch_size`` x ``patch_size`` + L2 norm."""
    if embeddings.dim() != 4:
        raise ValueError(f"embeddings: expected (B,D,h,w), got {tuple(embeddings.shape)}")
    h, w = embeddings.shape[-2:]
    if h % patch_size or w % patch_size:
        raise ValueError(f"patch_size {patch_size} must divide the embedding size {(h, w)}")
    return F.normalize(F.avg_pool2d(embeddings, patch_size), dim=1)


def sample_by_class(feats: torch.Tensor, labels: torch.Tensor,
                    max_samples: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-balanced random subset of ``feats (N,D)`` / ``labels (N,)``: drops ``labels < 0`` and keeps
    at most ``max_samples // (number of classes present)`` samples per class (our choice: balanced
    sampling keeps small tampered regions from being drowned by authentic pixels)."""
    keep = labels >= 0
    feats, labels = feats[keep], labels[keep]
    if max_samples is None or labels.numel() <= max_samples:
        return feats, labels
    classes = torch.unique(labels)
    per = max(1, int(max_samples) // len(classes))
    idx = []
    for c in classes:
        ic = torch.nonzero(labels == c).flatten()
        if ic.numel() > per:
            ic = ic[torch.randperm(ic.numel(), device=ic.device)[:per]]
        idx.append(ic)
    idx = torch.cat(idx)
    return feats[idx], labels[idx]


@fp32
def relation_infonce(feats: torch.Tensor, labels: torch.Tensor, relation, temperature: float = 0.1) -> torch.Tensor:
    """Supervised InfoNCE with a class relation table (SupCon "L_out", Khosla et al., NeurIPS 2020).

    ``feats (N,D)`` (re-normalised here), ``labels (N,)`` in ``0..K-1``, ``relation`` a KxK table with
    +1 (positive pair), -1 (negative pair), 0 (ignored pair). For anchor i with positives P(i) and
    contrast set A(i) = P(i) + N(i) (self excluded):
    ``l_i = -1/|P(i)| sum_p log( exp(s_ip/t) / sum_{a in A(i)} exp(s_ia/t) )``. Anchors without a
    positive or a negative do not count; with no valid anchor the loss is ``0`` (still attached to the
    graph), so it is finite for one-class batches. As in SupCon, the optimum is about ``log |P(i)|``,
    not 0.
    """
    feats = F.normalize(feats.float(), dim=1)
    rel = torch.as_tensor(relation, device=feats.device)
    zero = feats.sum() * 0.0
    if feats.shape[0] < 2:
        return zero
    r = rel[labels][:, labels]
    eye = torch.eye(len(labels), dtype=torch.bool, device=feats.device)
    pos = (r > 0) & ~eye
    neg = (r < 0) & ~eye
    valid = pos.any(1) & neg.any(1)
    if not valid.any():
        return zero
    logits = feats @ feats.t() / temperature
    logits = logits.masked_fill(~(pos | neg), float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    log_prob = torch.where(pos, log_prob, torch.zeros_like(log_prob))
    per_anchor = -log_prob.sum(1) / pos.sum(1).clamp_min(1)
    return per_anchor[valid].mean()


def _flatten(emb: torch.Tensor, lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return emb.permute(0, 2, 3, 1).reshape(-1, emb.shape[1]), lab.reshape(-1)


def patch_infonce(embeddings: torch.Tensor, mask: torch.Tensor, patch_size: int, relation=REL_EXCLUSIVE,
                  temperature: float = 0.1, max_samples: int | None = 512) -> torch.Tensor:
    """Patch-level InfoNCE: pool ``embeddings`` into patches, label them with :func:`patch_labels`,
    contrast with ``relation`` over patches pooled from the whole batch."""
    emb = embeddings.float()
    pe = pool_patches(emb, patch_size)
    lab = patch_labels(mask, patch_size, grid=emb.shape[-2:])
    f, y = sample_by_class(*_flatten(pe, lab), max_samples)
    return relation_infonce(f, y, relation, temperature)


def pixel_labels(mask: torch.Tensor, grid: tuple[int, int], contour_patch_size: int | None = None) -> torch.Tensor:
    """Per-embedding-pixel labels for pixel-level contrast.

    Pure authentic / tampered embedding pixels get 0 / 1; pixels whose footprint straddles the
    boundary are ``IGNORE``. With ``contour_patch_size`` every pixel inside a contour patch of that
    size (and every straddling pixel) becomes class 2 instead (LPCLNet's optional third pixel class).
    """
    lab = patch_labels(mask, 1, grid=grid)
    if contour_patch_size is None:
        return lab.masked_fill(lab == CONTOUR, IGNORE)
    p = int(contour_patch_size)
    pl = patch_labels(mask, p, grid=grid)
    up = pl.repeat_interleave(p, dim=1).repeat_interleave(p, dim=2)
    return lab.masked_fill(up == CONTOUR, CONTOUR)


def _bce(logits: torch.Tensor, mask: torch.Tensor, pos_weight: float | None = None) -> torch.Tensor:
    """BCE with logits (resized to the mask); ``pos_weight`` up-weights tampered pixels (class weighting)."""
    logits = logits.float()
    m = mask.float()
    if logits.shape[-2:] != m.shape[-2:]:
        logits = F.interpolate(logits, size=m.shape[-2:], mode="bilinear", align_corners=False)
    return F.binary_cross_entropy_with_logits(logits, m, pos_weight=pos_weight_tensor(pos_weight, logits.device))


def _check(outputs: dict, keys, who: str):
    missing = [k for k in keys if k not in outputs]
    if missing:
        raise KeyError(f"{who}: model outputs lack {missing}; got {sorted(outputs)}")


class LPCLLoss(nn.Module):
    """LPCLNet training loss (Sang et al., Information Sciences 2026):
    ``BCE(logits) + pixel_weight * L_pixel + patch_weight * L_patch``.

    - ``L_patch``: InfoNCE over patch embeddings (:func:`pool_patches`, ``patch_size`` embedding
      pixels) with three mutually exclusive classes authentic / tampered / contour (positives = same
      class, negatives = the two other classes).
    - ``L_pixel``: InfoNCE over embedding pixels. Open in the paper; we default to two classes
      (tampered vs authentic, boundary-straddling pixels ignored). ``pixel_contour_class=True`` makes
      pixels inside contour patches a third class instead.
    - Samples are pooled over the batch (cross-image negatives) and class-balanced up to
      ``max_samples`` (pixel) / ``max_patch_samples`` (patch), both our choices for memory.
    - Open in the paper, chosen here: the weights (0.1 each), ``patch_size`` in embedding pixels
      (4 = 16 image pixels at 1/4 resolution, for 512-pixel inputs; use 2 for 64-pixel inputs, else
      tiny images have no pure tampered patch); ``pos_weight`` (class weighting of the BCE, default none)
      so that a comparison can weigh tampered pixels alike for every method.
    """

    def __init__(self, pixel_weight: float = 0.1, patch_weight: float = 0.1, temperature: float = 0.1,
                 patch_size: int = 4, max_samples: int = 1024, max_patch_samples: int = 512,
                 pixel_contour_class: bool = False, bce_weight: float = 1.0, pos_weight: float | None = None):
        super().__init__()
        self.pixel_weight, self.patch_weight, self.bce_weight = pixel_weight, patch_weight, bce_weight
        self.pos_weight = pos_weight
        self.temperature, self.patch_size = temperature, int(patch_size)
        self.max_samples, self.max_patch_samples = max_samples, max_patch_samples
        self.pixel_contour_class = pixel_contour_class

    @fp32
    def forward(self, outputs: dict, mask: torch.Tensor, **extra):
        _check(outputs, ("logits", "embeddings"), "LPCLLoss")
        emb = outputs["embeddings"].float()
        bce = _bce(outputs["logits"], mask, self.pos_weight)
        lab = pixel_labels(mask, emb.shape[-2:], self.patch_size if self.pixel_contour_class else None)
        rel = REL_EXCLUSIVE if self.pixel_contour_class else REL_BINARY
        f, y = sample_by_class(*_flatten(emb, lab), self.max_samples)
        pix = relation_infonce(f, y, rel, self.temperature)
        pat = patch_infonce(emb, mask, self.patch_size, REL_EXCLUSIVE, self.temperature, self.max_patch_samples)
        total = self.bce_weight * bce + self.pixel_weight * pix + self.patch_weight * pat
        return total, {"bce": bce.detach(), "pixel_nce": pix.detach(), "patch_nce": pat.detach()}


class NCLLoss(nn.Module):
    """NCL training loss (Zhou et al., ICCV 2023, "Pre-training-free image manipulation localization
    through non-mutually exclusive contrastive learning").

    ``BCE(main) + contrast_weight * (L_A + L_B) + branch_weight * (BCE(a) + BCE(b)) / 2
    + pivot_weight * L_pc``.

    - ``L_A`` (``embeddings_a``): patch InfoNCE in which contour patches are *tampered*: positives of
      tampered and of each other, negatives of authentic (:data:`REL_CONTOUR_AS_TAMPERED`).
    - ``L_B`` (``embeddings_b``): the roles switched: contour patches are *authentic*
      (:data:`REL_CONTOUR_AS_AUTHENTIC`). Together the two branches make contour patches
      non-mutually exclusive members of both classes while the shared backbone sees both roles.
    - ``L_pc`` (pivot-consistent loss; its exact form is open in our reading): mean squared error
      between each branch's sigmoid map and the pivot (main head) sigmoid map,
      ``(mean (s(a) - s(m))^2 + mean (s(b) - s(m))^2) / 2``, gradients into all three heads.
    - Branch heads are also supervised by BCE (our choice, ``branch_weight``), so the consistency
      term never pulls the pivot towards an untrained branch.
    - Patches: ``patch_size`` embedding pixels (as in :class:`LPCLLoss`); a branch whose batch has
      no negative for any anchor (e.g. branch B when no patch is purely tampered) contributes 0.
    - Weights (contrast 0.1, branch 0.5, pivot 1.0) are ours; the paper's values are not restated here.
    - ``pos_weight`` (ours, default none) weighs tampered pixels in every BCE term (class weighting).
    """

    def __init__(self, contrast_weight: float = 0.1, branch_weight: float = 0.5, pivot_weight: float = 1.0,
                 temperature: float = 0.1, patch_size: int = 4, max_samples: int = 512,
                 pos_weight: float | None = None):
        super().__init__()
        self.contrast_weight, self.branch_weight, self.pivot_weight = contrast_weight, branch_weight, pivot_weight
        self.pos_weight = pos_weight
        self.temperature, self.patch_size, self.max_samples = temperature, int(patch_size), max_samples

    @fp32
    def forward(self, outputs: dict, mask: torch.Tensor, **extra):
        _check(outputs, ("logits", "logits_a", "logits_b", "embeddings_a", "embeddings_b"), "NCLLoss")
        bce = _bce(outputs["logits"], mask, self.pos_weight)
        la = patch_infonce(outputs["embeddings_a"], mask, self.patch_size, REL_CONTOUR_AS_TAMPERED,
                           self.temperature, self.max_samples)
        lb = patch_infonce(outputs["embeddings_b"], mask, self.patch_size, REL_CONTOUR_AS_AUTHENTIC,
                           self.temperature, self.max_samples)
        ba, bb = _bce(outputs["logits_a"], mask, self.pos_weight), _bce(outputs["logits_b"], mask, self.pos_weight)
        pm = torch.sigmoid(outputs["logits"].float())
        pa, pb = torch.sigmoid(outputs["logits_a"].float()), torch.sigmoid(outputs["logits_b"].float())
        pa = pa if pa.shape == pm.shape else F.interpolate(pa, size=pm.shape[-2:], mode="bilinear")
        pb = pb if pb.shape == pm.shape else F.interpolate(pb, size=pm.shape[-2:], mode="bilinear")
        pc = 0.5 * (F.mse_loss(pa, pm) + F.mse_loss(pb, pm))
        total = (bce + self.contrast_weight * (la + lb) + self.branch_weight * 0.5 * (ba + bb)
                 + self.pivot_weight * pc)
        parts = {"bce": bce, "contrast_a": la, "contrast_b": lb, "branch_bce": 0.5 * (ba + bb), "pivot": pc}
        return total, {k: v.detach() for k, v in parts.items()}


@register_loss("lpclnet")
def _lpcl_loss(**cfg) -> nn.Module:
    return LPCLLoss(**cfg)


@register_loss("ncl")
def _ncl_loss(**cfg) -> nn.Module:
    return NCLLoss(**cfg)
