"""ReConWave-Net's classification-guided restorer (Yu et al., J. Computer Applications 46(6), 2026).

What the paper's public abstract and tables state: the restorer classifies the disturbance and restores
according to the predicted category (abstract); its attention is ablated as Swin / ViT / deformable DETR
attention (Table 7) and its forensics-oriented loss on / off (Table 8); Table 1 scores it by PSNR / SSIM
inside the tampered regions. Everything else below is **our design**, including the number of classes.

A small CNN classifies the brightness/contrast disturbance of the input into
:data:`paper_repro.perturb.DISTURBANCE_CLASSES` (none, brighter, darker, lower contrast, higher
contrast) and regresses its signed strength (``alpha`` for brightness, ``beta - 1`` for contrast, see
:func:`paper_repro.perturb.random_disturbance`). A U-Net with a transformer bottleneck, conditioned on
that prediction, restores the image. Table 7 compares the bottleneck attention: ``"swin"``, ``"vit"``
or ``"deformable"``.

Our choices (all parameters):

- classifier: four stride-2 ``ConvBNAct`` on the image resized to at most ``cls_size`` (128) pixels,
  global average pooling, concatenated with hand-crafted global statistics (per-channel mean and std,
  luminance 5/50/95 % quantiles, fractions of clipped pixels) -> MLP -> 5 logits + 1 strength;
- conditioning: FiLM (Perez et al., AAAI 2018). The condition vector is the class probabilities
  (softmax) and the predicted strength; an MLP maps it to a per-channel scale/shift
  ``h * (1 + gamma) + beta`` at every encoder/decoder stage and at the bottleneck (zero-initialised, so
  training starts from an unconditioned U-Net). By default the condition is *detached*
  (``detach_condition=True``): the classifier is trained by its own cross-entropy / strength terms and
  the restoration loss does not pull its decision. ``forward(x, disturbance=..., strength=...)`` may
  pass ground truth instead (teacher forcing);
- U-Net: ``levels=3`` stride-2 stages, channels ``width * 2**i`` (default tiny ``width=16``; 32-64 for
  the paper-sized model), bottleneck at 1/8 resolution with ``n_blocks=2`` transformer blocks;
- output: a per-pixel gain and bias, ``restored = clamp(x * exp(2 tanh(g)) + b, 0, 1)`` (zero-init head,
  so the untrained restorer is the identity) — gain undoes contrast, bias undoes brightness;
- classifier evidence (``histogram=True``): :func:`histogram_features` of the full-resolution input, the 8-bit
  histogram's shape, clipped ends and peak / gap comb, beside the CNN features and global statistics. The
  profiles train the classifier on its own first and freeze it for the restorer's fit
  (:class:`paper_repro.train.ClassifierPretrainCallback`, :meth:`Restorer.freeze_classifier`);
- decision (``clean_threshold``): the restorer acts on the most probable class only when its probability
  reaches ``clean_threshold``; below it the photo counts as clean (:func:`decide_disturbance`). With
  ``skip_clean=True`` a photo decided clean is returned unchanged at inference (a front end must not alter the
  photos it has no reason to touch); in training the U-Net still learns on clean photos;
- ``inverse=True`` (classify, estimate the strength, invert, then refine): the classifier predicts one strength
  per class as :func:`anchor_strengths` (the image's extremes, on the assumption that the clean photo spans
  black to white) plus a learned correction, the input is first inverted analytically for the predicted class
  (:func:`invert_disturbance`: ``x - alpha`` or ``x / beta``, clipped pixels filled with the middle of their
  interval, or with ``prior_fill=True`` the mean clean value inside it under the histogram of the training
  photos' codes, :meth:`Restorer.set_value_prior`), and the U-Net's gain / bias refines that inverse instead of
  the raw input. Our answer to "predict the disturbance class and its strength and then invert"; the oracle of
  Table 1 (:func:`paper_repro.perturb.invert`) is this inverse with the true class and strength and the clean
  photo's own mean in its clipped pixels;
- Swin: ``timm``'s ``SwinTransformerBlock`` (alternating shift 0 / ``window // 2``) with
  ``always_partition=True, dynamic_mask=True``; feature maps are replicate-padded to a multiple of
  ``window_size`` and cropped back, so any bottleneck size works;
- ViT: ``timm``'s ``vision_transformer.Block`` with a learnable absolute position embedding on a
  ``pos_grid x pos_grid`` grid, resampled (bicubic, ``timm.layers.resample_abs_pos_embed``) to the
  bottleneck size;
- deformable: single-scale Deformable-DETR attention (Zhu et al., ICLR 2021, Eq. 2): per query and head,
  ``points`` sampling offsets and softmax attention weights predicted from the query, values
  bilinearly sampled with ``F.grid_sample``; queries carry the same resampled position embedding.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..perturb import DISTURBANCE_CLASSES
from .blocks import ConvBNAct, DoubleConv
from .registry import register

ATTENTIONS = ("swin", "vit", "deformable")
N_CLASSES = len(DISTURBANCE_CLASSES)


def image_statistics(x: torch.Tensor) -> torch.Tensor:
    """Global photometric statistics ``(B, 11)``: channel means, stds, luminance quantiles, clip fractions."""
    b = x.shape[0]
    mean = x.mean(dim=(2, 3))
    std = x.std(dim=(2, 3))
    lum = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).reshape(b, -1) if x.shape[1] == 3 else x.mean(1).reshape(b, -1)
    q = torch.quantile(lum.float(), torch.tensor([0.05, 0.5, 0.95], device=x.device), dim=1).t().to(x.dtype)
    lo = (lum <= 1.0 / 255).float().mean(1, keepdim=True).to(x.dtype)
    hi = (lum >= 254.0 / 255).float().mean(1, keepdim=True).to(x.dtype)
    return torch.cat([mean, std, q, lo, hi], dim=1)


#: The share of empty levels in a histogram's bulk from which :func:`anchor_strengths` reads a higher contrast's
#: gain off the gap comb rather than off the clipped share: a gain of 1.11 empties a tenth of the levels, and the
#: bulk of a photo's histogram at 8 bits has (almost) none empty. Our choice.
COMB_MIN_EMPTY = 0.1


def _level_histograms(x: torch.Tensor) -> torch.Tensor:
    """Each channel's 256-level histogram ``(B * C, 256)``, normalised, after the quantiser of
    :func:`histogram_features` (``floor(255 x + 0.25)``)."""
    b, c = x.shape[:2]
    q = torch.floor(x.detach().float().clamp(0.0, 1.0) * 255.0 + 0.25).long().reshape(b * c, -1)
    hist = torch.zeros(b * c, 256, device=x.device).scatter_add_(1, q, torch.ones_like(q, dtype=torch.float32))
    return hist / hist.sum(1, keepdim=True)


def comb_gain(x: torch.Tensor, hist: torch.Tensor | None = None) -> torch.Tensor:
    """``beta - 1`` of a gain read off the gap comb ``(B,)`` (our design, after Stamm and Liu, IEEE TIFS 2010):
    a gain ``beta > 1`` of a photo stored at 8 bits reaches only every ``beta``-th level, so a share
    ``e = 1 - 1 / beta`` of the levels in the histogram's bulk stays empty and ``beta - 1 = e / (1 - e)``. The
    bulk is the levels between the 1st and the 99th percentile of each channel's pixels (sparse tails leave
    levels empty without any gain) without the clipped ends 0 and 255; ``e`` is averaged over the channels and
    capped at 0.8. A photo off the 8-bit grid (resized after the gain) shows no comb: 0. ``hist``: ``x``'s
    :func:`_level_histograms` when the caller has them."""
    b, c = x.shape[:2]
    hist = _level_histograms(x) if hist is None else hist
    cdf = hist.cumsum(1)
    bulk = (cdf >= 0.01) & (cdf - hist <= 0.99)
    bulk[:, 0] = False
    bulk[:, 255] = False
    empty = ((hist == 0) & bulk).sum(1) / bulk.sum(1).clamp_min(1)
    e = empty.reshape(b, c).mean(1).clamp(max=0.8)
    return e / (1 - e)


def anchor_strengths(x: torch.Tensor, hist: torch.Tensor | None = None) -> torch.Tensor:
    """Per-class first guesses of the signed strength ``(B, 5)`` (our design): brighter ``alpha = min``; darker
    ``alpha = max - 1``; lower contrast ``beta - 1 = max - 1`` (the image's extremes, on the assumption that the
    clean photo spans black to white); higher contrast: the gap comb's :func:`comb_gain` where the comb is clear
    (at least :data:`COMB_MIN_EMPTY` of the bulk's levels empty), else ``f / (1 - f)`` with ``f`` the share of
    luminance clipped at white (exact for a uniform histogram); none ``0``. The classifier adds a learned
    correction to each. ``hist``: ``x``'s :func:`_level_histograms` when the caller has them."""
    lo = x.amin(dim=(1, 2, 3)).float()
    hi = x.amax(dim=(1, 2, 3)).float()
    lum = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2] if x.shape[1] == 3 else x.mean(1)
    f = (lum.float() >= 1 - 0.5 / 255).float().mean(dim=(1, 2)).clamp(max=0.8)
    comb = comb_gain(x, hist)
    higher = torch.where(comb >= COMB_MIN_EMPTY / (1 - COMB_MIN_EMPTY), comb, f / (1 - f))
    return torch.stack([torch.zeros_like(lo), lo, hi - 1, hi - 1, higher], dim=1)


#: Length of :func:`histogram_features`' vector.
N_HISTOGRAM_FEATURES = 39


def histogram_features(x: torch.Tensor, bins: int = 32, hist: torch.Tensor | None = None) -> torch.Tensor:
    """Content-invariant evidence of a brightness / contrast change from the 8-bit histogram ``(B, 39)``.

    Each channel is quantised to 8 bits (what a saved photo holds; the features never see sub-level values) by
    ``floor(255 x + 0.25)``, which maps every 8-bit level to itself and a shift by half a level (``alpha = 0.1``
    is 25.5 levels) to one consistent level rather than alternately up and down as rounding would, and
    histogrammed in 256 bins; per channel, then averaged over the channels:

    - the shape: ``bins`` coarse bins of the histogram, as ``log10(p + 1e-4) / 4 + 1`` (in ``[0, 1]``);
    - the clipped ends: the share of pixels at 0 (darkening piles pixels there) and at 255 (brightening,
      higher contrast);
    - the comb: the summed absolute second and first differences of the interior histogram (bins 1-254),
      each divided by its mass, and the share of empty bins between the darkest and brightest occupied
      bins. A contrast change ``beta * I`` maps 256 levels onto more (``beta > 1``: periodic empty bins) or
      fewer (``beta < 1``: periodic doubled bins) levels, the peak / gap trace of contrast enhancement
      (Stamm and Liu, IEEE TIFS 2010); a natural photo's histogram is smooth;
    - the occupied range: the darkest and brightest occupied level, divided by 255.

    Our design, computed at the input's full resolution (resizing would blur the comb away). ``hist``: ``x``'s
    :func:`_level_histograms` when the caller has them."""
    if x.dim() != 4:
        raise ValueError(f"histogram_features: expected (B, C, H, W), got shape {tuple(x.shape)}")
    if 256 % bins:
        raise ValueError(f"histogram_features: bins must divide 256, got {bins}")
    b, c = x.shape[:2]
    hist = _level_histograms(x) if hist is None else hist
    coarse = torch.log10(hist.reshape(b * c, bins, 256 // bins).sum(-1) + 1e-4) / 4 + 1
    inner = hist[:, 1:255]
    mass = inner.sum(1).clamp_min(1e-8)
    second = (inner[:, 2:] - 2 * inner[:, 1:-1] + inner[:, :-2]).abs().sum(1) / mass
    first = (inner[:, 1:] - inner[:, :-1]).abs().sum(1) / mass
    levels = torch.arange(256, device=x.device, dtype=torch.float32)
    occupied = hist > 0
    darkest = torch.where(occupied, levels, torch.full_like(levels, 255.0)).amin(1)
    brightest = torch.where(occupied, levels, torch.zeros_like(levels)).amax(1)
    in_range = (levels >= darkest[:, None]) & (levels <= brightest[:, None])
    empty = (in_range & ~occupied).sum(1) / in_range.sum(1).clamp_min(1)
    per = torch.cat([coarse, torch.stack([hist[:, 0], hist[:, 255], second, first, empty,
                                          darkest / 255, brightest / 255], 1)], 1)
    return per.reshape(b, c, -1).mean(1).to(x.dtype)


class DisturbanceClassifier(nn.Module):
    """CNN + global statistics (+ :func:`histogram_features` with ``histogram=True``) -> ``(logits (B, 5),
    strength (B, 1))``; with ``per_class=True`` the strength is ``(B, 5)``: :func:`anchor_strengths` plus a
    learned correction per class (zero-initialised)."""

    def __init__(self, width: int = 16, cls_size: int = 128, n_classes: int = N_CLASSES, per_class: bool = False,
                 histogram: bool = False):
        super().__init__()
        self.cls_size, self.per_class, self.histogram = cls_size, per_class, histogram
        c = [3, width, 2 * width, 4 * width, 4 * width]
        self.features = nn.Sequential(*[ConvBNAct(c[i], c[i + 1], 3, stride=2) for i in range(4)])
        n_stats = 11 + (n_classes if per_class else 0) + (N_HISTOGRAM_FEATURES if histogram else 0)
        self.mlp = nn.Sequential(nn.Linear(c[-1] + n_stats, 4 * width), nn.ReLU(inplace=True),
                                 nn.Linear(4 * width, n_classes + (n_classes if per_class else 1)))
        self.n_classes = n_classes
        if per_class:
            with torch.no_grad():
                self.mlp[-1].weight[n_classes:].zero_()
                self.mlp[-1].bias[n_classes:].zero_()

    def forward(self, x):
        # at full resolution: the extremes and the histogram's comb are exact there
        levels = _level_histograms(x) if self.per_class or self.histogram else None  # computed once for both
        anchors = anchor_strengths(x, levels) if self.per_class else None
        hist = histogram_features(x, hist=levels) if self.histogram else None
        h, w = x.shape[-2:]
        s = self.cls_size / max(h, w)
        if s < 1:
            x = F.interpolate(x, scale_factor=s, mode="bilinear", antialias=True, align_corners=False)
        f = self.features(x - 0.5).mean(dim=(2, 3))
        stats = [image_statistics(x)]
        if anchors is not None:
            stats.append(anchors.to(stats[0].dtype))
        if hist is not None:
            stats.append(hist.to(stats[0].dtype))
        out = self.mlp(torch.cat([f, *stats], dim=1))
        logits = out[:, :self.n_classes]
        if anchors is None:
            return logits, out[:, -1:]
        return logits, anchors.to(out.dtype) + out[:, self.n_classes:]


def decide_disturbance(probs: torch.Tensor, clean_threshold: float = 0.0) -> torch.Tensor:
    """The class the restorer acts on ``(B,)``: the most probable one, except that a disturbance whose
    probability is below ``clean_threshold`` is not acted on ("none", class 0): a photo is left alone unless the
    evidence for a disturbance is strong (our rule; 0 gives the plain argmax)."""
    pick = probs.argmax(1)
    if clean_threshold > 0:
        weak = probs.gather(1, pick.view(-1, 1)).reshape(-1) < clean_threshold
        pick = torch.where(weak, torch.zeros_like(pick), pick)
    return pick


def interval_mean(prior: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """The mean value of a clean pixel known to lie in ``[lo, hi]`` (tensors of one shape), under ``prior``: a
    histogram (256,) of the 8-bit codes of clean photos. An empty interval gets its midpoint."""
    p = prior.float().clamp_min(0)
    codes = torch.arange(256, dtype=torch.float32, device=p.device) / 255.0
    zero = p.new_zeros(1)
    c0, c1 = torch.cat([zero, p.cumsum(0)]), torch.cat([zero, (p * codes).cumsum(0)])
    i_lo = torch.ceil(lo.float() * 255 - 1e-4).clamp(0, 256).long()
    i_hi = (torch.floor(hi.float() * 255 + 1e-4).clamp(-1, 255) + 1).long()
    i_hi = torch.maximum(i_hi, i_lo)
    mass = c0[i_hi] - c0[i_lo]
    mean = (c1[i_hi] - c1[i_lo]) / mass.clamp_min(1e-12)
    return torch.where(mass > 0, mean, 0.5 * (lo.float() + hi.float()))


def invert_disturbance(x: torch.Tensor, probs: torch.Tensor, strengths: torch.Tensor,
                       prior: torch.Tensor | None = None) -> torch.Tensor:
    """The analytic inverse of each class's disturbance at its strength, weighted by ``probs`` (B, 5) (one-hot:
    one inverse): none ``x``; brightness ``x - alpha``; contrast ``x / beta``. A clipped pixel only says that its
    clean value lay in an interval (``[1 - alpha, 1]``, ``[0, -alpha]``, ``[1 / beta, 1]``); it gets the interval's
    midpoint (:func:`paper_repro.perturb.invert` without the clean image), or with ``prior`` (a histogram of clean
    photos' 8-bit codes, :func:`interval_mean`) the mean clean value inside the interval, the best constant in
    squared error when photos are drawn like those of the histogram."""
    s = strengths.float()
    xf = x.float()
    tol = 0.5 / 255
    out = probs[:, 0, None, None, None].float() * xf
    for k in (1, 2, 3, 4):
        sk = s[:, k].view(-1, 1, 1, 1)
        if k in (1, 2):
            inv = xf - sk
            a = sk.abs()
            lo, hi = (1 - a, torch.ones_like(a)) if k == 1 else (torch.zeros_like(a), a)
            # a stored 8-bit value clips from half a step before the end: the prior's interval starts there
            fill = 0.5 * (lo + hi) if prior is None else interval_mean(prior, (lo - tol).clamp(0, 1),
                                                                        (hi + tol).clamp(0, 1))
            clipped = xf >= 1 - tol if k == 1 else xf <= tol
        else:
            beta = (1 + sk).clamp_min(0.05)
            inv = xf / beta
            if k == 4:
                lo, hi = (1 / beta).clamp(0, 1), torch.ones_like(beta)
                fill = (0.5 * (1 + 1 / beta) if prior is None
                        else interval_mean(prior, (lo - tol / beta).clamp(0, 1), hi))
            else:
                fill = torch.zeros_like(beta)
            clipped = (xf >= 1 - tol) if k == 4 else torch.zeros_like(xf, dtype=torch.bool)
        inv = torch.where(clipped, fill.expand_as(xf), inv).clamp(0.0, 1.0)
        out = out + probs[:, k, None, None, None].float() * inv
    return out.to(x.dtype)


# ---------------------------------------------------------------------------------------- attention
class SwinStage(nn.Module):
    """timm ``SwinTransformerBlock`` s on a ``(B, C, H, W)`` map, replicate-padded to the window grid."""

    def __init__(self, dim: int, n_blocks: int, heads: int, window_size: int = 8, mlp_ratio: float = 4.0):
        super().__init__()
        from timm.models.swin_transformer import SwinTransformerBlock

        self.window_size = window_size
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(dim, input_resolution=(window_size, window_size), num_heads=heads,
                                 window_size=window_size, shift_size=0 if i % 2 == 0 else window_size // 2,
                                 always_partition=True, dynamic_mask=True, mlp_ratio=mlp_ratio)
            for i in range(n_blocks))

    def forward(self, x):
        h, w = x.shape[-2:]
        ws = self.window_size
        ph, pw = (-h) % ws, (-w) % ws
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        t = x.permute(0, 2, 3, 1)
        for blk in self.blocks:
            t = blk(t)
        return t.permute(0, 3, 1, 2)[..., :h, :w].contiguous()


class _PosEmbed(nn.Module):
    """Learnable absolute position embedding on a ``grid x grid`` grid, resampled to any ``(h, w)``."""

    def __init__(self, dim: int, grid: int = 16):
        super().__init__()
        self.grid = grid
        self.pos = nn.Parameter(torch.zeros(1, grid * grid, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)

    def forward(self, h: int, w: int):
        from timm.layers import resample_abs_pos_embed

        if (h, w) == (self.grid, self.grid):
            return self.pos
        return resample_abs_pos_embed(self.pos, new_size=[h, w], old_size=[self.grid, self.grid], num_prefix_tokens=0)


class ViTStage(nn.Module):
    """timm ``vision_transformer.Block`` s over all bottleneck tokens (global attention)."""

    def __init__(self, dim: int, n_blocks: int, heads: int, pos_grid: int = 16, mlp_ratio: float = 4.0):
        super().__init__()
        from timm.models.vision_transformer import Block

        self.pos = _PosEmbed(dim, pos_grid)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio=mlp_ratio, qkv_bias=True) for _ in range(n_blocks))

    def forward(self, x):
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2) + self.pos(h, w).to(x.dtype)
        for blk in self.blocks:
            t = blk(t)
        return t.transpose(1, 2).reshape(b, c, h, w)


class DeformableAttention(nn.Module):
    """Single-scale deformable attention (Zhu et al., "Deformable DETR", ICLR 2021, Eq. 2).

    For each query ``q`` at reference point ``p``: ``sum_h W_h sum_k A_hk(q) V_h(p + dp_hk(q))`` with
    ``dp`` (pixels) and ``A`` (softmax over the ``points`` samples) linear in ``q``; bilinear sampling
    by ``F.grid_sample`` (zeros outside). Offsets are initialised on a ring of directions per head as
    in the official implementation.
    """

    def __init__(self, dim: int, heads: int = 4, points: int = 4):
        super().__init__()
        if dim % heads:
            raise ValueError(f"deformable attention: dim {dim} not divisible by heads {heads}")
        self.dim, self.heads, self.points = dim, heads, points
        self.offsets = nn.Linear(dim, heads * points * 2)
        self.weights = nn.Linear(dim, heads * points)
        self.value = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        nn.init.zeros_(self.offsets.weight)
        theta = torch.arange(heads, dtype=torch.float32) * (2 * math.pi / heads)
        grid = torch.stack([theta.cos(), theta.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True).values
        grid = grid[:, None, :].repeat(1, points, 1) * torch.arange(1, points + 1, dtype=torch.float32)[None, :, None]
        with torch.no_grad():
            self.offsets.bias.copy_(grid.reshape(-1))
        nn.init.zeros_(self.weights.weight)
        nn.init.zeros_(self.weights.bias)

    def forward(self, query: torch.Tensor, value_map: torch.Tensor) -> torch.Tensor:
        """``query`` (B, N=h*w, C) tokens, ``value_map`` (B, C, h, w) -> (B, N, C)."""
        b, c, h, w = value_map.shape
        n, H, P = h * w, self.heads, self.points
        v = self.value(value_map.flatten(2).transpose(1, 2))  # (B, N, C)
        v = v.transpose(1, 2).reshape(b * H, c // H, h, w)
        off = self.offsets(query).reshape(b, n, H, P, 2)
        attn = self.weights(query).reshape(b, n, H, P).softmax(-1)
        ys, xs = torch.meshgrid(torch.arange(h, device=query.device, dtype=query.dtype),
                                torch.arange(w, device=query.device, dtype=query.dtype), indexing="ij")
        ref = torch.stack([(xs + 0.5) / w, (ys + 0.5) / h], -1).reshape(1, n, 1, 1, 2) * 2 - 1
        scale = torch.tensor([2.0 / w, 2.0 / h], device=query.device, dtype=query.dtype)
        loc = ref + off * scale  # normalised (x, y) in [-1, 1]
        loc = loc.permute(0, 2, 1, 3, 4).reshape(b * H, n, P, 2)
        sampled = F.grid_sample(v, loc.to(v.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)
        attn = attn.permute(0, 2, 1, 3).reshape(b * H, 1, n, P).to(sampled.dtype)
        out = (sampled * attn).sum(-1)  # (B*H, C/H, N)
        out = out.reshape(b, c, n).transpose(1, 2)
        return self.proj(out)


class DeformableBlock(nn.Module):
    """Pre-norm transformer block with :class:`DeformableAttention` and an MLP."""

    def __init__(self, dim: int, heads: int, points: int = 4, mlp_ratio: float = 4.0):
        super().__init__()
        from timm.layers import Mlp

        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = DeformableAttention(dim, heads, points)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, t, pos, h, w):
        b, n, c = t.shape
        y = self.norm1(t)
        t = t + self.attn(y + pos, y.transpose(1, 2).reshape(b, c, h, w))
        return t + self.mlp(self.norm2(t))


class DeformableStage(nn.Module):
    def __init__(self, dim: int, n_blocks: int, heads: int, points: int = 4, pos_grid: int = 16, mlp_ratio: float = 4.0):
        super().__init__()
        self.pos = _PosEmbed(dim, pos_grid)
        self.blocks = nn.ModuleList(DeformableBlock(dim, heads, points, mlp_ratio) for _ in range(n_blocks))

    def forward(self, x):
        b, c, h, w = x.shape
        pos = self.pos(h, w).to(x.dtype)
        t = x.flatten(2).transpose(1, 2)
        for blk in self.blocks:
            t = blk(t, pos, h, w)
        return t.transpose(1, 2).reshape(b, c, h, w)


# ---------------------------------------------------------------------------------------- restorer
class Restorer(nn.Module):
    """Classification-guided U-Net restorer with a transformer bottleneck (see module docstring)."""

    def __init__(self, width: int = 16, levels: int = 3, attention: str = "swin", n_blocks: int = 2,
                 heads: int = 4, window_size: int = 8, points: int = 4, pos_grid: int = 16,
                 mlp_ratio: float = 4.0, cls_width: int | None = None, cls_size: int = 128,
                 detach_condition: bool = True, cond_hidden: int = 64, inverse: bool = False,
                 histogram: bool = False, clean_threshold: float = 0.0, skip_clean: bool = False,
                 prior_fill: bool = False):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"restorer: attention must be one of {ATTENTIONS}, got {attention!r}")
        if levels < 1 or width < 1:
            raise ValueError(f"restorer: levels and width must be >= 1, got levels={levels}, width={width}")
        ch = [width * 2 ** i for i in range(levels + 1)]
        if ch[-1] % heads:
            raise ValueError(f"restorer: bottleneck width {ch[-1]} not divisible by heads={heads}")
        self.levels, self.attention, self.detach_condition = levels, attention, detach_condition
        if not 0.0 <= clean_threshold < 1.0:
            raise ValueError(f"restorer: clean_threshold must be in [0, 1), got {clean_threshold}")
        self.inverse, self.clean_threshold, self.skip_clean = inverse, float(clean_threshold), skip_clean
        self.classifier = DisturbanceClassifier(cls_width or width, cls_size, per_class=inverse, histogram=histogram)
        self.stem = DoubleConv(3, ch[0])
        self.down = nn.ModuleList(nn.Sequential(ConvBNAct(ch[i], ch[i + 1], 3, stride=2), ConvBNAct(ch[i + 1], ch[i + 1]))
                                  for i in range(levels))
        if attention == "swin":
            self.bottleneck = SwinStage(ch[-1], n_blocks, heads, window_size, mlp_ratio)
        elif attention == "vit":
            self.bottleneck = ViTStage(ch[-1], n_blocks, heads, pos_grid, mlp_ratio)
        else:
            self.bottleneck = DeformableStage(ch[-1], n_blocks, heads, points, pos_grid, mlp_ratio)
        self.up = nn.ModuleList(nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in range(levels))
        self.dec = nn.ModuleList(DoubleConv(2 * ch[i], ch[i]) for i in range(levels))
        # FiLM channels: stem, each encoder stage, bottleneck output, each decoder stage
        self.film_ch = [ch[0]] + ch[1:] + [ch[-1]] + ch[:levels][::-1]
        self.film = nn.Sequential(nn.Linear(N_CLASSES + 1, cond_hidden), nn.ReLU(inplace=True),
                                  nn.Linear(cond_hidden, 2 * sum(self.film_ch)))
        nn.init.zeros_(self.film[-1].weight)
        nn.init.zeros_(self.film[-1].bias)
        self.head = nn.Conv2d(ch[0], 6, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.prior_fill = bool(prior_fill)
        if self.prior_fill:  # uniform until set from the training photos (set_value_prior)
            self.register_buffer("value_prior", torch.ones(256))

    def set_value_prior(self, counts) -> Restorer:
        """The histogram (256,) of clean photos' 8-bit codes that fills clipped pixels (``prior_fill=True``)."""
        if not self.prior_fill:
            raise ValueError("restorer: set_value_prior needs prior_fill=True")
        counts = torch.as_tensor(counts, dtype=torch.float32).reshape(-1)
        if counts.numel() != 256 or bool((counts < 0).any()) or float(counts.sum()) <= 0:
            raise ValueError("restorer: the value prior is a histogram of 256 non-negative counts, not all zero")
        self.value_prior.copy_(counts.to(self.value_prior.device))
        return self

    classifier_frozen = False

    def freeze_classifier(self) -> Restorer:
        """Freeze the disturbance classifier (no gradients, batch norm in eval mode, also under ``train()``):
        classify, then restore, as two trained stages."""
        self.classifier_frozen = True
        self.classifier.requires_grad_(False)
        self.classifier.eval()
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        if self.classifier_frozen:
            self.classifier.eval()
        return self

    def _films(self, cond):
        gb = self.film(cond)
        out, i = [], 0
        for c in self.film_ch:
            g, b = gb[:, i:i + c], gb[:, i + c:i + 2 * c]
            out.append((g[:, :, None, None], b[:, :, None, None]))
            i += 2 * c
        return out

    def forward(self, x: torch.Tensor, disturbance: torch.Tensor | None = None,
                strength: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"restorer: expected input (B, 3, H, W), got shape {tuple(x.shape)}")
        m = 2 ** self.levels
        if x.shape[-2] % m or x.shape[-1] % m:
            raise ValueError(f"restorer: H and W must be multiples of {m}, got {tuple(x.shape[-2:])}")
        logits, s_pred = self.classifier(x)
        probs = logits.softmax(-1) if disturbance is None else F.one_hot(disturbance.long(), N_CLASSES).to(logits.dtype)
        per_class = None
        pick = decide_disturbance(probs, self.clean_threshold) if disturbance is None else disturbance.long()
        if self.inverse:
            per_class = s_pred
            if strength is not None:  # teacher forcing: the given strength for every class
                per_class = strength.reshape(-1, 1).to(s_pred.dtype).expand_as(s_pred)
            s_pred = s_pred.gather(1, pick.view(-1, 1))
            hard = F.one_hot(pick, N_CLASSES).to(probs.dtype)
            # the inverse uses the decided class (hard) once trained; while training it is the soft mixture
            base = invert_disturbance(x, probs if self.training and disturbance is None else hard,
                                      per_class.detach() if self.detach_condition else per_class,
                                      prior=self.value_prior if self.prior_fill else None)
        s_cond = s_pred if strength is None else strength.reshape(-1, 1).to(s_pred.dtype)
        cond = torch.cat([probs, s_cond], dim=1)
        if self.detach_condition:
            cond = cond.detach()
        films = iter(self._films(cond))

        def film(h):
            g, b = next(films)
            return h * (1 + g.to(h.dtype)) + b.to(h.dtype)

        skips = [film(self.stem(x - 0.5))]
        for down in self.down:
            skips.append(film(down(skips[-1])))
        y = film(self.bottleneck(skips[-1]))
        for i in reversed(range(self.levels)):
            y = film(self.dec[i](torch.cat([self.up[i](y), skips[i]], dim=1)))
        gb = self.head(y)
        gain = torch.exp(2 * torch.tanh(gb[:, :3]))
        src = base.to(x.dtype) if self.inverse else x
        restored = (src * gain + gb[:, 3:]).clamp(0.0, 1.0)
        if self.skip_clean and not self.training:  # a photo decided clean passes through unchanged
            restored = torch.where((pick == 0).view(-1, 1, 1, 1), x, restored)
        out = {"restored": restored, "disturbance_logits": logits, "disturbance": pick, "strength": s_pred}
        if per_class is not None:
            out["strength_per_class"] = per_class
            out["inverse"] = base
        return out


@register("restorer", stage="restorer")
def restorer(**cfg) -> Restorer:
    """ReConWave-Net classification-guided restorer (Yu et al. 2026); ``cfg`` as :class:`Restorer`."""
    return Restorer(**cfg)
