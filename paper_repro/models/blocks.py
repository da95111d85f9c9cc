"""Small shared building blocks (conv-BN-activation, the U-Net double conv)."""
from __future__ import annotations

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
