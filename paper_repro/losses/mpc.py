"""MPC losses (Lou et al., "Exploring multi-view pixel contrast for general and robust image forgery
localization", IEEE TIFS 2025).

Stage 1, :class:`MPCPretrainLoss` (registered for ``"mpc"``): supervised pixel contrast with
authentic pixels as anchors and positives and tampered pixels as negatives, summed over three views:

- intra-scale: within the fused full-resolution (1/4) embedding;
- cross-scale: the 1/4 embedding against the coarser branches (their pixels pooled together), both
  ways: anchors from one side, positives and negatives from the other;
- cross-view: the two forward passes of the same image (``outputs["view2"]``, differing by dropout /
  stochastic depth), both ways. Without ``view2`` (eval mode) this term is 0.

InfoNCE form as in the official code: the positive logit of an anchor is its *mean* cosine similarity
to the positives (itself excluded when anchors and positives are the same set), each negative has
its own logit, temperature 0.1. The official code draws positives and negatives of the cross terms
from different sides; we follow the stated "anchors from one view, positives/negatives from the
other". Per image (as in the official code), averaged over the batch; sampling caps
``max_anchors`` / ``max_negatives`` per image and set (the official "dictionary size" 5000).
Embedding-pixel labels come from the full-resolution mask: pure authentic / pure tampered, pixels
straddling the boundary are ignored (the official code uses nearest downsampling; ours avoids
mislabelled boundary pixels). Images without authentic or tampered pixels contribute 0, and so does an
image whose tampered pixels fill no whole embedding pixel (every 1/4-resolution cell straddles the boundary).
A mask of per-pixel noise, as random benchmark data has, therefore gives a loss of exactly 0: benchmark MPC
on tampered photos, such as the built-in synthetic set.

Stage 2, :class:`MPCFinetuneLoss` (registered for ``"mpc-finetune"``): sigmoid focal loss
(Lin et al., ICCV 2017), alpha 0.5, gamma 2, mean over pixels (torchvision implementation).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from .patch_contrastive import AUTHENTIC, TAMPERED, fp32, patch_labels
from .registry import register_loss


@fp32
def mpc_infonce(anchors: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor,
                temperature: float = 0.1, same_set: bool = False) -> torch.Tensor:
    """``-mean_i log( e^{p_i/t} / (e^{p_i/t} + sum_n e^{a_i.n/t}) )`` with ``p_i`` = mean similarity of
    anchor i to ``positives`` (self excluded when ``same_set``). 0 (attached) when a set is empty."""
    zero = (anchors.sum() + positives.sum() + negatives.sum()) * 0.0
    if len(anchors) == 0 or len(negatives) == 0 or len(positives) < (2 if same_set else 1):
        return zero
    a, p, n = (F.normalize(t.float(), dim=1) for t in (anchors, positives, negatives))
    sp = a @ p.t()
    if same_set:
        pos = (sp.sum(1) - sp.diagonal()) / (len(p) - 1)
    else:
        pos = sp.mean(1)
    logits = torch.cat([pos[:, None], a @ n.t()], 1) / temperature
    return -F.log_softmax(logits, dim=1)[:, 0].mean()


def _pixels(emb: torch.Tensor, lab: torch.Tensor, cls: int, cap: int | None) -> torch.Tensor:
    """Embedding vectors ``(N, D)`` of one image ``emb (D,h,w)`` whose label is ``cls``, sampled to ``cap``."""
    f = emb.permute(1, 2, 0)[lab == cls]
    if cap is not None and len(f) > cap:
        f = f[torch.randperm(len(f), device=f.device)[:cap]]
    return f


class MPCPretrainLoss(nn.Module):
    """Stage-1 multi-view pixel contrastive loss; see the module docstring.
    ``total = intra * L_intra + cross_scale * L_cross_scale + cross_view * L_cross_view``."""

    def __init__(self, temperature: float = 0.1, max_negatives: int = 1024, max_anchors: int = 1024,
                 intra: float = 1.0, cross_scale: float = 1.0, cross_view: float = 1.0):
        super().__init__()
        self.t, self.max_neg, self.max_anc = temperature, max_negatives, max_anchors
        self.w_intra, self.w_scale, self.w_view = intra, cross_scale, cross_view

    def _sets(self, emb: torch.Tensor, mask_b: torch.Tensor):
        lab = patch_labels(mask_b, 1, grid=emb.shape[-2:])[0]
        return _pixels(emb, lab, AUTHENTIC, self.max_anc), _pixels(emb, lab, TAMPERED, self.max_neg)

    def _cross(self, x, y) -> torch.Tensor:
        (ax, nx), (ay, ny) = x, y
        return mpc_infonce(ax, ay, ny, self.t) + mpc_infonce(ay, ax, nx, self.t)

    @fp32
    def forward(self, outputs: dict, mask: torch.Tensor, **extra):
        missing = [k for k in ("embeddings", "branch_embeddings") if k not in outputs]
        if missing:
            raise KeyError(f"MPCPretrainLoss: model outputs lack {missing}; got {sorted(outputs)}")
        if mask.dim() == 3:
            mask = mask.unsqueeze(1)
        emb = outputs["embeddings"].float()
        branches = [b.float() for b in outputs["branch_embeddings"]]
        view2 = outputs.get("view2")
        emb2 = view2["embeddings"].float() if view2 is not None else None
        intra, scale, view = [], [], []
        for b in range(emb.shape[0]):
            mb = mask[b:b + 1]
            full = self._sets(emb[b], mb)
            intra.append(mpc_infonce(full[0], full[0], full[1], self.t, same_set=True))
            if branches:
                coarse = [self._sets(e[b], mb) for e in branches]
                coarse = (torch.cat([c[0] for c in coarse]), torch.cat([c[1] for c in coarse]))
                scale.append(self._cross(full, coarse))
            if emb2 is not None:
                view.append(self._cross(full, self._sets(emb2[b], mb)))
        zero = emb.sum() * 0.0
        l_intra = torch.stack(intra).mean()
        l_scale = torch.stack(scale).mean() if scale else zero
        l_view = torch.stack(view).mean() if view else zero
        total = self.w_intra * l_intra + self.w_scale * l_scale + self.w_view * l_view
        return total, {"intra": l_intra.detach(), "cross_scale": l_scale.detach(), "cross_view": l_view.detach()}


class MPCFinetuneLoss(nn.Module):
    """Stage-2 loss: sigmoid focal loss (alpha 0.5, gamma 2, mean) on ``logits``, computed in fp32;
    logits are bilinearly resized to the mask if their sizes differ."""

    def __init__(self, alpha: float = 0.5, gamma: float = 2.0):
        super().__init__()
        self.alpha, self.gamma = alpha, gamma

    @fp32
    def forward(self, outputs: dict, mask: torch.Tensor, **extra):
        if "logits" not in outputs:
            raise KeyError(f"MPCFinetuneLoss: model outputs lack 'logits'; got {sorted(outputs)}")
        logits, m = outputs["logits"].float(), mask.float()
        if m.dim() == 3:
            m = m.unsqueeze(1)
        if logits.shape[-2:] != m.shape[-2:]:
            logits = F.interpolate(logits, size=m.shape[-2:], mode="bilinear", align_corners=False)
        focal = sigmoid_focal_loss(logits, m, alpha=self.alpha, gamma=self.gamma, reduction="mean")
        return focal, {"focal": focal.detach()}


@register_loss("mpc")
def _mpc_loss(**cfg) -> nn.Module:
    return MPCPretrainLoss(**cfg)


@register_loss("mpc-finetune")
def _mpc_finetune_loss(**cfg) -> nn.Module:
    return MPCFinetuneLoss(**cfg)
