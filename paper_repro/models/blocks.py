"""Small shared building blocks (conv-BN-activation, the U-Net double conv, CBAM attention)."""
from __future__ import annotations

import torch
import torch.nn as nn


class ConvBNAct(nn.Sequential):
    """``Conv2d -> BatchNorm2d -> activation`` with 'same' padding."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1,
                 act: type[nn.Module] | None = nn.ReLU, groups: int = 1):
        pad = dilation * (k - 1) // 2
        layers = [nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, groups=groups, bias=False),
                  nn.BatchNorm2d(cout)]
        if act is not None:
            layers.append(act(inplace=True) if act in (nn.ReLU, nn.SiLU) else act())
        super().__init__(*layers)


class DoubleConv(nn.Sequential):
    """The U-Net stage: two 3x3 ``ConvBNAct`` (Ronneberger et al., MICCAI 2015)."""

    def __init__(self, cin: int, cout: int, mid: int | None = None):
        mid = mid or cout
        super().__init__(ConvBNAct(cin, mid), ConvBNAct(mid, cout))


class ChannelAttention(nn.Module):
    """CBAM channel attention: shared MLP over global avg- and max-pooled features (Woo et al., ECCV 2018, Eq. 2)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.ReLU(inplace=True),
                                 nn.Conv2d(hidden, channels, 1, bias=False))

    def forward(self, x):
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))
        mx = self.mlp(x.amax(dim=(2, 3), keepdim=True))
        return x * (avg + mx).sigmoid()


class SpatialAttention(nn.Module):
    """CBAM spatial attention: ``k x k`` conv over channel-wise mean and max maps (Woo et al., Eq. 3)."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        s = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * self.conv(s).sigmoid()


class CBAM(nn.Module):
    """Convolutional Block Attention Module: channel then spatial attention (Woo et al., ECCV 2018).

    The hidden width of the channel MLP is ``max(C // reduction, 4)`` so tiny models keep a usable MLP.
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7):
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel_size)

    def forward(self, x):
        return self.spatial(self.channel(x))
