"""Small shared building blocks (conv-BN-activation, the U-Net double conv, CBAM attention) and
:func:`depthwise_in_fp32`, which keeps depthwise convolutions in float32 under CPU bf16 autocast."""
from __future__ import annotations

import sys

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


# ------------------------------------------------------------------- depthwise convolutions under CPU autocast
try:  # whether CPU autocast is on, the call chosen once (it runs in every depthwise convolution's forward)
    torch.is_autocast_enabled("cpu")

    def _cpu_autocast_on() -> bool:
        return torch.is_autocast_enabled("cpu")
except TypeError:  # torch < 2.4: no device argument
    _cpu_autocast_on = torch.is_autocast_cpu_enabled


class _DepthwiseFP32:
    """Mixin of :func:`depthwise_in_fp32`: under CPU autocast the convolution runs in float32 (input cast up,
    output float32); everywhere else (no autocast, CUDA) it is the convolution it wraps, unchanged."""

    def forward(self, x):
        if x.device.type == "cpu" and _cpu_autocast_on():
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        return super().forward(x)


def _fp32_variant(cls: type) -> type:
    """The float32-under-CPU-autocast subclass of a convolution class, made once and kept in this module's
    namespace under a name unique to ``cls`` (so models holding it pickle and deep-copy like any other)."""
    if issubclass(cls, _DepthwiseFP32):
        return cls
    name = f"{cls.__module__}.{cls.__qualname__}".replace(".", "_") + "_DepthwiseFP32"
    module = sys.modules[__name__]
    if not hasattr(module, name):
        setattr(module, name, type(name, (_DepthwiseFP32, cls), {"__module__": __name__, "__qualname__": name}))
    return getattr(module, name)


def is_depthwise(m: nn.Module) -> bool:
    """A depthwise convolution: ``Conv2d`` with ``groups == in_channels > 1`` (timm's ``Conv2dSame`` included)."""
    return isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels


def depthwise_in_fp32(model: nn.Module, only=None) -> int:
    """Make the depthwise convolutions of ``model`` (:func:`is_depthwise`; with ``only``, those of the module
    names it holds) compute in float32 when they run under CPU bf16 autocast; returns how many were changed.
    Parameters, state-dict keys and results without autocast stay the same.

    Why (measured with ``torch.profiler`` on a 2-core AMD EPYC with AVX512-BF16, torch 2.14): oneDNN's bf16
    depthwise backward is 2-5x slower than its float32 channels-last one (``(8, 1152, 8, 8)``, 5x5: 28.9 ms
    against 6.3 ms per forward + backward), and the EfficientNet-Lite encoder's depthwise backward passes took
    39-57 % of a bf16 training step of the ``cpu`` detector; the pointwise and full convolutions keep bf16.
    """
    n = 0
    for name, m in model.named_modules():
        if is_depthwise(m) and (only is None or name in only):
            m.__class__ = _fp32_variant(type(m))
            n += 1
    return n
