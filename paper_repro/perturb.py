"""Photometric and robustness perturbations on batched torch tensors in ``[0, 1]``.

All functions take ``x`` of shape ``(B, C, H, W)`` or ``(C, H, W)`` on any device and return a
tensor of the same shape, dtype and device, so robustness sweeps perturb batches on the fly.

Brightness and contrast follow kornia's convention, our choice (ReConWave-Net's public abstract and tables
give the levels, alpha = +-0.5 and beta = 0.7 / 2.0, not the formulas):

- brightness  ``I' = clip(I + alpha, 0, 1)``          (``kornia.enhance.adjust_brightness``)
- contrast    ``I' = clip(beta * I, 0, 1)``           (``kornia.enhance.adjust_contrast``)

Our check of the "unrestored" PSNR of Table 1 on CASIA v1 tampered regions (see notebook
``03_restoration``) agrees for brightness but not for contrast (the paper does not say which images
Table 1 uses), so treat the convention as a plausible reading, not a confirmed one. ``contrast(..., centered=True)`` gives the mean-centred
variant ``I' = clip(mean + beta * (I - mean), 0, 1)`` (per image, per channel-averaged luminance
mean), which some papers mean by "contrast".

Two of the paper's levels carry the same information under this convention: for every ``I`` in ``[0, 1]``,
``clip(I + 0.5) = 0.5 * clip(2 I) + 0.5`` exactly, so the beta = 2.0 image is the alpha = +0.5 image through an
invertible affine map (and in 8 bits the same up to rounding). A method can still score the two differently (a
detector is not affine-invariant), but a claim confirmed at both is one confirmation, not two
(:mod:`paper_repro.experiments.claims` marks the pair).

JPEG / Gaussian blur / Gaussian noise use IMDL-BenCo's robustness levels (``BENCO_LEVELS``) so results
line up with that benchmark.
"""
from __future__ import annotations

import io

import numpy as np
import torch

from .registry import Registry

# The levels the paper reports (Table 1 header: alpha = +-0.5, beta = 0.7 and 2.0).
PAPER_ALPHAS = (0.5, -0.5)
PAPER_BETAS = (0.7, 2.0)
# Our default sweep grids for Tables 2 and 3: the paper's levels plus milder ones in between. The
# paper's full Table 2/3 grids could not be retrieved, so this denser grid is our choice (a parameter
# of every sweep). Brightness alpha is additive, contrast beta multiplicative.
BRIGHTNESS_ALPHAS = (-0.5, -0.3, -0.1, 0.1, 0.3, 0.5)
CONTRAST_BETAS = (0.5, 0.7, 0.9, 1.5, 2.0)

# IMDL-BenCo robustness protocol (Ma et al., NeurIPS 2024 D&B): JPEG quality, blur kernel size, noise std (0-255).
BENCO_LEVELS = {
    "jpeg": (100, 90, 80, 70, 60, 50),
    "blur": (3, 7, 11, 15, 19, 23),
    "noise": (3, 7, 11, 15, 19, 23),
}

# Disturbance classes predicted by the ReConWave-Net restorer's classifier.
DISTURBANCE_CLASSES = ("none", "brighter", "darker", "lower_contrast", "higher_contrast")


def _check(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor in [0, 1], got {type(x).__name__}")
    if x.dim() not in (3, 4):
        raise ValueError(f"expected (B, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        raise TypeError(f"expected a floating tensor in [0, 1], got dtype {x.dtype}")
    return x


def _per_image(value, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a scalar or per-image sequence/tensor of parameters against ``x``."""
    v = torch.as_tensor(value, dtype=x.dtype, device=x.device)
    if v.dim() == 0:
        return v
    n = x.shape[0] if x.dim() == 4 else 1
    if v.numel() == 1:
        return v.reshape(())
    if v.numel() != n:
        raise ValueError(f"expected a scalar or one value per image ({n}), got {v.numel()} values")
    return v.reshape(-1, 1, 1, 1)


def brightness(x: torch.Tensor, alpha) -> torch.Tensor:
    """Additive brightness ``clip(x + alpha, 0, 1)``; ``alpha`` scalar or one per image."""
    x = _check(x)
    return (x + _per_image(alpha, x)).clamp(0.0, 1.0)


def contrast(x: torch.Tensor, beta, centered: bool = False) -> torch.Tensor:
    """Multiplicative contrast ``clip(beta * x, 0, 1)``; ``centered=True`` scales about the image mean."""
    x = _check(x)
    b = _per_image(beta, x)
    if b.min() < 0:
        raise ValueError(f"contrast factor beta must be >= 0, got {beta}")
    if not centered:
        return (x * b).clamp(0.0, 1.0)
    mean = x.mean(dim=(-3, -2, -1), keepdim=True)
    return (mean + b * (x - mean)).clamp(0.0, 1.0)


def gaussian_noise(x: torch.Tensor, variance: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Additive Gaussian noise of ``variance`` in 8-bit units, as IMDL-BenCo's levels mean it: BenCo passes its
    level ``v`` (3, 7, ..., 23) to albumentations 1.3's ``GaussNoise(var_limit=(v, v))``, a variance on the
    0-255 scale, so the standard deviation on [0, 1] images is ``sqrt(v) / 255`` (1.7-4.8 grey levels)."""
    x = _check(x)
    if variance < 0:
        raise ValueError(f"noise variance must be >= 0, got {variance}")
    noise = torch.randn(x.shape, generator=generator, device=x.device if generator is None else "cpu")
    return (x + noise.to(x.device, x.dtype) * (float(variance) ** 0.5 / 255.0)).clamp(0.0, 1.0)


def gaussian_blur(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Gaussian blur with an odd ``kernel_size``; sigma from OpenCV's rule ``0.3*((k-1)*0.5-1)+0.8``."""
    import kornia

    x = _check(x)
    k = int(kernel_size)
    if k < 1 or k % 2 == 0:
        raise ValueError(f"blur kernel size must be odd and positive, got {kernel_size}")
    if k == 1:
        return x
    sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8
    batched = x if x.dim() == 4 else x[None]
    out = kornia.filters.gaussian_blur2d(batched, (k, k), (sigma, sigma), border_type="reflect")
    return out if x.dim() == 4 else out[0]


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG re-compression at ``quality`` (PIL, 4:2:0), image by image; returns to ``x``'s device."""
    from PIL import Image

    x = _check(x)
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    batched = x if x.dim() == 4 else x[None]
    out = []
    for img in batched:
        arr = (img.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=int(quality))
        buf.seek(0)
        dec = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
        out.append(torch.from_numpy(dec).permute(2, 0, 1))
    res = torch.stack(out).to(device=x.device, dtype=x.dtype)
    return res if x.dim() == 4 else res[0]


def invert(y: torch.Tensor, name: str, level, clean: torch.Tensor | None = None) -> torch.Tensor:
    """The oracle restoration of a brightness / contrast disturbance whose kind and level are KNOWN (the
    physical limit of any restorer, ReConWave-Net Table 1's ceiling; our construction).

    Where the disturbance kept the information (pixels not clipped to 0 or 1, within half an 8-bit step) the
    inverse is exact: ``y - alpha`` (brightness), ``y / beta`` (contrast). A clipped pixel only says that its
    clean value lay in an interval (``[1 - alpha, 1]`` for ``alpha > 0``, ``[0, -alpha]`` for ``alpha < 0``,
    ``[1 / beta, 1]`` for ``beta > 1``); it is filled with the best constant for that interval: the mean of
    the clean values of that image's clipped pixels (per channel) when ``clean`` is given (the oracle knows
    the image, so no constant fill does better in MSE), else the interval's midpoint. A method that recovers
    texture inside clipped areas from their surroundings could beat the fill there; no per-pixel inverse can.
    ``name``: ``brightness`` / ``contrast`` / ``clean``; ``y``, ``clean``: (B, C, H, W) or (C, H, W) in [0, 1].
    """
    y = _check(y)
    if name in ("clean", "none", None):
        return y.clone()
    level = float(level)
    tol = 0.5 / 255
    if name == "brightness":
        inv = (y - level).clamp(0.0, 1.0)
        if level > 0:
            clipped, lo, hi = y >= 1 - tol, 1.0 - level, 1.0
        elif level < 0:
            clipped, lo, hi = y <= tol, 0.0, -level
        else:
            return y.clone()
    elif name == "contrast":
        if level <= 0:
            raise ValueError(f"contrast factor beta must be > 0 to invert, got {level}")
        inv = (y / level).clamp(0.0, 1.0)
        if level > 1:
            clipped, lo, hi = y >= 1 - tol, 1.0 / level, 1.0
        else:
            clipped, lo, hi = torch.zeros_like(y, dtype=torch.bool), 0.0, 1.0
    else:
        raise ValueError(f"invert: only brightness / contrast are invertible, got {name!r}")
    if clean is None:
        fill = torch.full_like(y, 0.5 * (lo + hi))
    else:
        c = _check(clean).to(y.dtype)
        if c.shape != y.shape:
            raise ValueError(f"invert: clean {tuple(c.shape)} and disturbed {tuple(y.shape)} differ in shape")
        m = clipped.to(y.dtype)
        dims = (-2, -1)
        mean = (c * m).sum(dims, keepdim=True) / m.sum(dims, keepdim=True).clamp_min(1.0)
        fill = mean.expand_as(y)
    return torch.where(clipped, fill, inv)


def _on_hsv_value(x, fn):
    import kornia

    hsv = kornia.color.rgb_to_hsv(x)
    v = fn(hsv[:, 2:3]).clamp(0.0, 1.0)
    return kornia.color.hsv_to_rgb(torch.cat([hsv[:, :2], v], 1)).clamp(0.0, 1.0)


def _on_lab_lightness(x, fn):
    import kornia

    lab = kornia.color.rgb_to_lab(x)
    light = (fn(lab[:, :1] / 100.0).clamp(0.0, 1.0)) * 100.0
    return kornia.color.lab_to_rgb(torch.cat([light, lab[:, 1:]], 1), clip=True)


def _batched(fn):
    def wrapped(x, level):
        x = _check(x)
        single = x.dim() == 3
        out = fn(x[None] if single else x, float(level))
        return out[0] if single else out
    return wrapped


#: Plausible readings of "brightness alpha" and "contrast beta" (which one did ReConWave-Net use? Its
#: public text gives only the levels). Each is ``(brightness(x, alpha), contrast(x, beta))`` on RGB in [0, 1];
#: ``ours`` is the package's convention (kornia's). Tabulated against the paper's unrestored Table 1 rows by
#: :func:`paper_repro.experiments.convention_table`.
CONVENTIONS = {
    "ours: I + alpha / beta I (kornia)": (brightness, contrast),
    "(1 + alpha) I / beta I (torchvision brightness)": (
        _batched(lambda x, a: (x * (1.0 + a)).clamp(0.0, 1.0)), contrast),
    "I + alpha / mean + beta (I - mean) (torchvision, PIL contrast)": (
        brightness, _batched(lambda x, b: contrast(x, b, centered=True))),
    "I + alpha / 0.5 + beta (I - 0.5)": (
        brightness, _batched(lambda x, b: (0.5 + b * (x - 0.5)).clamp(0.0, 1.0))),
    "HSV V + alpha / beta V": (
        _batched(lambda x, a: _on_hsv_value(x, lambda v: v + a)),
        _batched(lambda x, b: _on_hsv_value(x, lambda v: b * v))),
    "Lab L + 100 alpha / beta L": (
        _batched(lambda x, a: _on_lab_lightness(x, lambda l: l + a)),
        _batched(lambda x, b: _on_lab_lightness(x, lambda l: b * l))),
    "Lab L + 100 alpha / mean + beta (L - mean)": (
        _batched(lambda x, a: _on_lab_lightness(x, lambda l: l + a)),
        _batched(lambda x, b: _on_lab_lightness(x, lambda l: l.mean((-2, -1), keepdim=True)
                                                + b * (l - l.mean((-2, -1), keepdim=True))))),
}


def store8(x: torch.Tensor) -> torch.Tensor:
    """``x`` stored at 8 bits as image software stores it: each value to its nearest level, halves rounded up
    (``floor(255 x + 0.5)``, with a margin of 1e-3 level so float error does not split a half). Rounding halves
    to even (``torch.round``) would send a brightness shift by half a level (``alpha = 0.1`` is 25.5 levels)
    alternately up and down and leave every other level empty, the comb of a contrast gain."""
    return (torch.floor(x.clamp(0.0, 1.0) * 255.0 + 0.5 + 1e-3).clamp(0.0, 255.0) / 255.0).to(x.dtype)


def apply_convention(convention: str, name: str, x: torch.Tensor, level, round8: bool = False) -> torch.Tensor:
    """Brightness / contrast of :data:`CONVENTIONS` ``[convention]``; ``round8`` stores the result at 8 bits
    (:func:`store8`, as saving the disturbed photo would)."""
    try:
        fns = CONVENTIONS[convention]
    except KeyError:
        raise KeyError(f"unknown convention {convention!r}; choose from {list(CONVENTIONS)}") from None
    fn = {"brightness": fns[0], "contrast": fns[1]}.get(name)
    if fn is None:
        raise ValueError(f"apply_convention: brightness or contrast, got {name!r}")
    out = fn(x, level)
    return store8(out) if round8 else out


#: name -> ``fn(x, level)``: the disturbances :func:`apply` and the evaluation sweeps know (``clean`` is none)
PERTURBATIONS = Registry("perturbation")
for _name, _fn in (("brightness", brightness), ("contrast", contrast), ("jpeg", jpeg), ("blur", gaussian_blur),
                   ("noise", gaussian_noise)):
    PERTURBATIONS.register(_name, _fn)
del _name, _fn


def apply(name: str, x: torch.Tensor, level) -> torch.Tensor:
    """Apply perturbation ``name`` (``brightness``, ``contrast``, ``jpeg``, ``blur``, ``noise``, ``clean``)."""
    if name in ("clean", "none", None):
        return x
    if name not in PERTURBATIONS:
        raise KeyError(f"unknown perturbation {name!r}; choose from clean, {', '.join(PERTURBATIONS)}")
    return PERTURBATIONS[name](x, level)


def sweep_grid(alphas=BRIGHTNESS_ALPHAS, betas=CONTRAST_BETAS, clean: bool = True) -> list[tuple[str, float | None]]:
    """The list of ``(perturbation, level)`` pairs of the paper's robustness tables (clean first)."""
    grid: list[tuple[str, float | None]] = [("clean", None)] if clean else []
    grid += [("brightness", float(a)) for a in alphas]
    grid += [("contrast", float(b)) for b in betas]
    return grid


def disturbance_label(name: str, level) -> int:
    """Class index in :data:`DISTURBANCE_CLASSES` for a brightness/contrast perturbation."""
    if name in ("clean", "none", None) or (name == "brightness" and level == 0) or (name == "contrast" and level == 1):
        return 0
    if name == "brightness":
        return 1 if level > 0 else 2
    if name == "contrast":
        return 3 if level < 1 else 4
    raise ValueError(f"no disturbance class for perturbation {name!r}")


def signed_strength(name: str, level) -> float:
    """The signed strength of a brightness/contrast perturbation as the restorer estimates it (``alpha`` for
    brightness, ``beta - 1`` for contrast, 0 for a clean image; see :func:`random_disturbance`)."""
    if name in ("clean", "none", None):
        return 0.0
    if name == "brightness":
        return float(level)
    if name == "contrast":
        return float(level) - 1.0
    raise ValueError(f"no signed strength for perturbation {name!r}")


def random_disturbance(x: torch.Tensor, generator: torch.Generator | None = None,
                       alpha_range=(0.1, 0.5), beta_low=(0.5, 0.9), beta_high=(1.2, 2.0),
                       p_clean: float = 0.2):
    """Sample one brightness/contrast disturbance per image (for restorer training).

    Returns ``(perturbed, labels, strength)`` where ``labels`` index :data:`DISTURBANCE_CLASSES` and
    ``strength`` is the signed amount (``alpha`` for brightness, ``beta - 1`` for contrast, 0 clean);
    ``perturbed`` has ``x``'s shape, ``labels`` and ``strength`` one entry per image (shape ``(B,)``).
    """
    x = _check(x)
    single = x.dim() == 3
    if single:
        x = x[None]
    b = x.shape[0]
    g = generator
    u = torch.rand(b, generator=g)
    cls = torch.randint(1, 5, (b,), generator=g)
    cls = torch.where(u < p_clean, torch.zeros_like(cls), cls)
    r = torch.rand(b, generator=g)
    strength = torch.zeros(b)
    alpha = alpha_range[0] + r * (alpha_range[1] - alpha_range[0])
    lo = beta_low[0] + r * (beta_low[1] - beta_low[0])
    hi = beta_high[0] + r * (beta_high[1] - beta_high[0])
    strength = torch.where(cls == 1, alpha, strength)
    strength = torch.where(cls == 2, -alpha, strength)
    strength = torch.where(cls == 3, lo - 1, strength)
    strength = torch.where(cls == 4, hi - 1, strength)
    is_b = (cls == 1) | (cls == 2)
    add = torch.where(is_b, strength, torch.zeros(b)).to(x.device, x.dtype)
    mul = torch.where(is_b | (cls == 0), torch.ones(b), strength + 1).to(x.device, x.dtype)
    out = (x * mul.view(-1, 1, 1, 1) + add.view(-1, 1, 1, 1)).clamp(0.0, 1.0)
    return (out[0] if single else out), cls.to(x.device), strength.to(x.device, x.dtype)


def level_label(perturbation: str, level) -> str:
    """Human label for a sweep column: ``clean``, ``alpha=+0.5``, ``beta=0.7``."""
    if perturbation in ("clean", "none") or level is None or (isinstance(level, float) and np.isnan(level)):
        return "clean"
    if perturbation == "brightness":
        return f"alpha={float(level):+g}"
    if perturbation == "contrast":
        return f"beta={float(level):g}"
    return f"{perturbation}={level}"
