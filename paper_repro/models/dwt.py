"""One-level 2-D discrete wavelet transform of feature maps as strided depthwise convolutions.

Used by our DWFEL block of ReConWave-Net (Yu et al., J. Computer Applications 46(6), 2026, whose abstract
and Table 5 name a "discrete-wavelet feature enhancement layer" with Haar / Symlet4 / Biorthogonal4.4). Filters come from PyWavelets (``pywt.Wavelet(name)``);
boundary handling is periodic ("periodization"), so every sub-band is exactly ``(H/2, W/2)`` and the
transform is perfectly invertible by :class:`IDWT2d`.

Band order and sign follow ``pywt.dwt2(x, wavelet, mode="periodization")``: ``(LL, LH, HL, HH)`` =
``(cA, cH, cV, cD)``, where ``LH`` (``cH``) is high-pass along the height axis and low-pass along the width.
"""
from __future__ import annotations

import pywt
import torch
import torch.nn as nn
import torch.nn.functional as F

WAVELETS = ("haar", "sym4", "bior4.4")


def _filters(wavelet: str, rec: bool) -> tuple[torch.Tensor, int]:
    """The four 2-D kernels ``(4, L, L)`` (LL, LH, HL, HH) and the left periodic pad.

    Analysis is a cross-correlation with the reversed decomposition filters (``conv2d``); synthesis is
    the adjoint (``conv_transpose2d``) with the reconstruction filters. The circular pad
    ``p = L/2 - 1`` on the leading side reproduces pywt's periodization alignment exactly.
    """
    if not isinstance(wavelet, str) or wavelet not in pywt.wavelist(kind="discrete"):
        raise ValueError(f"wavelet must be a discrete PyWavelets name such as {WAVELETS}, got {wavelet!r}")
    w = pywt.Wavelet(wavelet)
    if rec:
        lo, hi = torch.tensor(w.rec_lo), torch.tensor(w.rec_hi)
    else:
        lo, hi = torch.tensor(w.dec_lo).flip(0), torch.tensor(w.dec_hi).flip(0)
    lo, hi = lo.double(), hi.double()
    # kernel[i, j]: i runs over height, j over width; LH = high along height, low along width (pywt cH).
    k = torch.stack([torch.outer(lo, lo), torch.outer(hi, lo), torch.outer(lo, hi), torch.outer(hi, hi)])
    L = k.shape[-1]
    if L % 2:
        raise ValueError(f"wavelet {wavelet!r} has odd filter length {L}; periodization needs even lengths")
    return k.float(), L // 2 - 1


class DWT2d(nn.Module):
    """``(B, C, H, W) -> (LL, LH, HL, HH)``, each ``(B, C, H/2, W/2)``; H and W must be even."""

    def __init__(self, wavelet: str = "haar"):
        super().__init__()
        k, self.pad = _filters(wavelet, rec=False)
        self.wavelet = wavelet
        self.register_buffer("kernel", k[:, None], persistent=False)  # (4, 1, L, L)
        self.L = k.shape[-1]

    def forward(self, x: torch.Tensor):
        if x.dim() != 4:
            raise ValueError(f"DWT2d expects (B, C, H, W), got shape {tuple(x.shape)}")
        b, c, h, w = x.shape
        if h % 2 or w % 2:
            raise ValueError(f"DWT2d needs even H and W, got {h}x{w}")
        p, q = self.pad, self.L - 1 - self.pad
        xp = x.reshape(b * c, 1, h, w)
        if h < self.L or w < self.L:  # circular pad needs pad <= size: wrap by tiling
            reps_h, reps_w = -(-(self.L + h) // h), -(-(self.L + w) // w)
            xp = xp.repeat(1, 1, reps_h + 1, reps_w + 1)
            xp = torch.roll(xp, shifts=(p, p), dims=(2, 3))[..., : h + p + q, : w + p + q]
        else:
            xp = F.pad(xp, (p, q, p, q), mode="circular")
        y = F.conv2d(xp, self.kernel.to(x.dtype), stride=2)  # (B*C, 4, H/2, W/2)
        y = y.reshape(b, c, 4, h // 2, w // 2)
        return y[:, :, 0], y[:, :, 1], y[:, :, 2], y[:, :, 3]


class IDWT2d(nn.Module):
    """Inverse of :class:`DWT2d`: ``(LL, LH, HL, HH) -> (B, C, 2h, 2w)`` (conv-transpose + periodic wrap)."""

    def __init__(self, wavelet: str = "haar"):
        super().__init__()
        k, self.pad = _filters(wavelet, rec=True)
        self.wavelet = wavelet
        self.register_buffer("kernel", k[:, None], persistent=False)
        self.L = k.shape[-1]

    def forward(self, ll, lh, hl, hh):
        b, c, h, w = ll.shape
        y = torch.stack([ll, lh, hl, hh], dim=2).reshape(b * c, 4, h, w)
        out = F.conv_transpose2d(y, self.kernel.to(ll.dtype), stride=2)  # (B*C, 1, 2h+L-2, 2w+L-2)
        H, W = 2 * h, 2 * w
        out = _fold(out, H, dim=2)
        out = _fold(out, W, dim=3)
        # padded index j corresponds to the signal index (j - pad) mod N
        out = torch.roll(out, shifts=(-self.pad, -self.pad), dims=(2, 3))
        return out.reshape(b, c, H, W)


def _fold(t: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """Periodic wrap: sum the entries of ``t`` along ``dim`` whose indices agree modulo ``n``."""
    size = t.shape[dim]
    reps = -(-size // n)
    t = F.pad(t, [0, 0] * (t.dim() - 1 - dim) + [0, reps * n - size])
    shape = list(t.shape)
    shape[dim: dim + 1] = [reps, n]
    return t.reshape(shape).sum(dim)
