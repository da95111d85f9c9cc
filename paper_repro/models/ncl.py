"""NCL (Zhou et al., ICCV 2023, "Pre-training-free image manipulation localization through
non-mutually exclusive contrastive learning"): a pivot structure with two role-switching branches.

The loss lives in :class:`paper_repro.losses.patch_contrastive.NCLLoss` (``loss_for("ncl")``).

- shared backbone: the DeepLabv3+-style :class:`~paper_repro.models.lpclnet.MultiScaleEncoder`
  (the official NCL code builds on DeepLabv3+ with a ResNet backbone; here a residual encoder with a
  ``width`` / ``depth`` knob, trained from scratch — NCL's point is that no pretraining is needed).
- pivot (main) head: :class:`SegHead` on the shared features -> ``logits``.
- two branches A and B, each: a branch-specific 1x1 ConvBNAct, a projection (1x1 conv, L2 norm) ->
  ``embeddings_a`` / ``embeddings_b`` and a light 1x1 prediction head -> ``logits_a`` / ``logits_b``.
  The loss contrasts contour patches as tampered in branch A and as authentic in branch B
  (role switching); the pivot-consistent term ties both branch predictions to the pivot's.
- ``embeddings`` (contract output): the concatenation of both branch embeddings divided by sqrt(2)
  (*ours*; it is L2-normalised and carries both roles).

Open in our reading of the paper and chosen here: the branch layout above (one 1x1 layer per branch),
the embedding size, and the form of the pivot-consistent loss (see ``NCLLoss``).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import ConvBNAct
from .lpclnet import MultiScaleEncoder, SegHead, apply_preset, check_input, upsample_to
from .registry import register

PRESETS = {
    "tiny": dict(width=8, depth=1, embed_dim=32, aspp_dilations=(1, 2, 3)),
    "paper": dict(width=64, depth=2, embed_dim=128, aspp_dilations=(1, 6, 12, 18)),
}


class NCLBranch(nn.Module):
    """One NCL branch: ``ConvBNAct 1x1`` -> (projection to ``dim``, L2 norm) and (1x1 conv -> logit)."""

    def __init__(self, cin: int, dim: int):
        super().__init__()
        self.body = ConvBNAct(cin, cin, 1)
        self.proj = nn.Conv2d(cin, dim, 1)
        self.pred = nn.Conv2d(cin, 1, 1)

    def forward(self, f):
        h = self.body(f)
        return F.normalize(self.proj(h), dim=1), self.pred(h)


class NCLNet(nn.Module):
    """NCL detector; returns ``logits`` (pivot), ``logits_a``, ``logits_b`` (B,1,H,W), ``embeddings_a``,
    ``embeddings_b`` (B,D,H/4,W/4) and ``embeddings`` (B,2D,H/4,W/4), all embeddings L2-normalised."""

    def __init__(self, width: int = 64, depth: int = 2, embed_dim: int = 128, aspp_dilations=(1, 6, 12, 18),
                 fuse_channels: int | None = None, drop_path: float = 0.0, encoder: str = "scratch",
                 pretrained: bool = True):
        super().__init__()
        # encoder="efficientnet-lite0" ...: the same pretrained pyramid option as LPCLNet's (ours)
        self.encoder = MultiScaleEncoder(width, depth, aspp_dilations, fuse_channels, drop_path, encoder, pretrained)
        c = self.encoder.out_channels
        self.pivot_head = SegHead(c)
        self.branch_a = NCLBranch(c, embed_dim)
        self.branch_b = NCLBranch(c, embed_dim)

    def forward(self, x):
        check_input(x, "NCLNet")
        f = self.encoder(x)
        ea, la = self.branch_a(f)
        eb, lb = self.branch_b(f)
        return {"logits": upsample_to(self.pivot_head(f), x),
                "logits_a": upsample_to(la, x), "logits_b": upsample_to(lb, x),
                "embeddings_a": ea, "embeddings_b": eb,
                "embeddings": torch.cat([ea, eb], 1) / math.sqrt(2.0)}


@register("ncl")
def ncl(preset: str | None = None, **cfg) -> NCLNet:
    """``create("ncl", preset="tiny"|"paper", **overrides)``; without preset the "paper" defaults."""
    return NCLNet(**apply_preset("ncl", PRESETS, preset, cfg))
