"""ReConWave-Net detector: a U-Net whose encoder stages carry DWFEL, plus a pixel projection head.

Yu et al., "Image tampering localization and detection network under brightness-contrast
disturbances", J. Computer Applications 46(6), 2026 (Sec. 3.2-3.3, Fig. 2; ablation in Table 4).

- DWFEL (discrete-wavelet feature enhancement layer): the one-level DWT of a stage's features, its four
  sub-bands concatenated and fused by a 1x1 conv, is ADDED to the max-pooled down-sampling path and the
  sum passes through CBAM (Woo et al., ECCV 2018).
- A projection head (1x1 conv -> ReLU -> 1x1 conv) on a decoder feature map gives L2-normalised pixel
  embeddings for the supervised pixel contrastive loss (:mod:`paper_repro.losses.contrastive`).

Details the paper leaves open, and what is chosen here (all parameters):

- encoder depth 4, channels ``width * 2**i`` (``width=64`` is the paper-sized classic U-Net; the default
  ``width=16`` is the tiny CPU setting); up-sampling by 2x2 transposed conv, skip concatenation;
- the fused wavelet branch is ``1x1 conv -> BN`` (no activation) so it can add signed detail to the
  pooled features; CBAM reduction 16 (hidden width at least 4);
- embeddings come from the decoder output at 1/4 resolution (``embed_level=2``): fine enough for
  region boundaries, coarse enough that the pixel-pair similarity matrix stays small;
  ``embed_dim=64`` by default (128 for the paper-sized model is a common choice);
- ``dwfel=False`` gives plain max-pool down-sampling and ``contrastive=False`` drops the projection
  head, so ``(False, False)``, ``(True, False)``, ``(False, True)``, ``(True, True)`` are Table 4's rows.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import CBAM, DoubleConv
from .dwt import WAVELETS, DWT2d
from .registry import register


class DWFEL(nn.Module):
    """Wavelet-enhanced down-sampling: ``CBAM(maxpool(x) + Conv1x1(cat(DWT(x))))`` (Yu et al. 2026, Sec. 3.2)."""

    def __init__(self, channels: int, wavelet: str = "haar", cbam: bool = True):
        super().__init__()
        self.dwt = DWT2d(wavelet)
        self.fuse = nn.Sequential(nn.Conv2d(4 * channels, channels, 1, bias=False), nn.BatchNorm2d(channels))
        self.pool = nn.MaxPool2d(2)
        self.attn = CBAM(channels) if cbam else nn.Identity()

    def forward(self, x):
        bands = torch.cat(self.dwt(x), dim=1)
        return self.attn(self.pool(x) + self.fuse(bands))


class ProjectionHead(nn.Module):
    """``1x1 conv -> ReLU -> 1x1 conv`` then L2 normalisation over channels (Wang et al., ICCV 2021)."""

    def __init__(self, cin: int, embed_dim: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or cin
        self.net = nn.Sequential(nn.Conv2d(cin, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, embed_dim, 1))

    def forward(self, x):
        return F.normalize(self.net(x), dim=1)


class ReConWaveNet(nn.Module):
    """The ReConWave-Net localisation network (see module docstring for the open details chosen)."""

    def __init__(self, width: int = 16, depth: int = 4, dwfel: bool = True, contrastive: bool = True,
                 wavelet: str = "haar", embed_dim: int = 64, embed_level: int = 2, cbam: bool = True,
                 in_channels: int = 3, return_features: bool = False):
        super().__init__()
        if wavelet not in WAVELETS:
            raise ValueError(f"reconwave: wavelet must be one of {WAVELETS}, got {wavelet!r}")
        if depth < 1 or width < 1:
            raise ValueError(f"reconwave: depth and width must be >= 1, got depth={depth}, width={width}")
        if contrastive and not 0 <= embed_level <= depth:
            raise ValueError(f"reconwave: embed_level must be in 0..{depth}, got {embed_level}")
        self.depth, self.dwfel, self.contrastive = depth, dwfel, contrastive
        self.embed_level, self.return_features = embed_level, return_features
        ch = [width * 2 ** i for i in range(depth + 1)]
        self.stem = DoubleConv(in_channels, ch[0])
        self.down = nn.ModuleList(DWFEL(ch[i], wavelet, cbam) if dwfel else nn.MaxPool2d(2) for i in range(depth))
        self.enc = nn.ModuleList(DoubleConv(ch[i], ch[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in range(depth))
        self.dec = nn.ModuleList(DoubleConv(2 * ch[i], ch[i]) for i in range(depth))
        self.head = nn.Conv2d(ch[0], 1, 1)
        self.proj = ProjectionHead(ch[embed_level], embed_dim) if contrastive else None

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4:
            raise ValueError(f"reconwave: expected input (B, C, H, W), got shape {tuple(x.shape)}")
        m = 2 ** self.depth
        if x.shape[-2] % m or x.shape[-1] % m:
            raise ValueError(f"reconwave: H and W must be multiples of {m}, got {tuple(x.shape[-2:])}")
        skips = [self.stem(x)]
        for down, enc in zip(self.down, self.enc):
            skips.append(enc(down(skips[-1])))
        y = skips[-1]
        feats = {self.depth: y}
        for i in reversed(range(self.depth)):
            y = self.dec[i](torch.cat([self.up[i](y), skips[i]], dim=1))
            feats[i] = y
        out = {"logits": self.head(y)}
        if self.proj is not None:
            out["embeddings"] = self.proj(feats[self.embed_level])
        if self.return_features:
            out["features"] = feats[self.embed_level]
        return out


@register("reconwave")
def reconwave(**cfg) -> ReConWaveNet:
    """ReConWave-Net detector (Yu et al. 2026); ``cfg`` as :class:`ReConWaveNet`."""
    return ReConWaveNet(**cfg)
