"""ReConWave-Net end to end: restorer then detector (Yu et al., J. Computer Applications 46(6), 2026: the
abstract's classification-guided restoration feeding the localization network), and our two restoration
references for Table 1 (the paper's own Table 1 baselines, Retinexformer and MSEC-Net, are shown with its
numbers only).

- ``reconwave-pipeline``: :class:`ReConWavePipeline`; ``restore=False`` feeds the raw image to the
  detector (Table 6, "without restoration").
- ``restore-none``: the identity (Table 1, "unrestored").
- ``restore-classical``: per-image moment matching, ours (a global gain/bias that moves the image mean and
  std to reference values), a classical reference the paper does not have.

Open details chosen here: the restorer is trained first with
:class:`paper_repro.losses.restoration.ForensicRestorationLoss` and frozen while the detector trains
(``freeze_restorer=True``: no gradients, kept in eval mode); ``freeze_restorer=False`` trains both
end to end with the detector's loss.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..perturb import DISTURBANCE_CLASSES
from .registry import create, register

N_CLASSES = len(DISTURBANCE_CLASSES)


def _build(part, cfg: dict | None, default: str, what: str) -> nn.Module:
    if isinstance(part, nn.Module):
        return part
    if part is None:
        part = default
    if not isinstance(part, str):
        raise TypeError(f"reconwave-pipeline: {what} must be an nn.Module, a registered model name or None, got {type(part).__name__}")
    return create(part, **(cfg or {}))


class ReConWavePipeline(nn.Module):
    """``detector(restorer(x).restored)``; returns the detector's dict plus ``restored``,
    ``disturbance_logits`` and ``strength`` (the latter two only when ``restore=True``).

    ``restorer`` / ``detector``: a module, a registered model name, or ``None`` for ``"restorer"`` /
    ``"reconwave"``, built with ``restorer_cfg`` / ``detector_cfg``.
    """

    def __init__(self, restorer=None, detector=None, restore: bool = True, freeze_restorer: bool = True,
                 restorer_cfg: dict | None = None, detector_cfg: dict | None = None, **cfg):
        super().__init__()
        if cfg:
            raise TypeError(f"reconwave-pipeline: unknown options {sorted(cfg)}; use restorer_cfg= / detector_cfg=")
        self.restore, self.freeze_restorer = restore, freeze_restorer
        self.restorer = _build(restorer, restorer_cfg, "restorer", "restorer") if restore else None
        self.detector = _build(detector, detector_cfg, "reconwave", "detector")
        if self.restorer is not None and freeze_restorer:
            for p in self.restorer.parameters():
                p.requires_grad_(False)
            self.restorer.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.restorer is not None and self.freeze_restorer:
            self.restorer.eval()
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.restorer is None:
            out = dict(self.detector(x))
            out["restored"] = x
            return out
        if self.freeze_restorer:
            with torch.no_grad():
                r = self.restorer(x)
        else:
            r = self.restorer(x)
        out = dict(self.detector(r["restored"]))
        out.update(restored=r["restored"], disturbance_logits=r["disturbance_logits"], strength=r["strength"])
        return out


@register("reconwave-pipeline")
def reconwave_pipeline(**cfg) -> ReConWavePipeline:
    """ReConWave-Net restorer + detector; ``cfg`` as :class:`ReConWavePipeline`."""
    return ReConWavePipeline(**cfg)


class IdentityRestorer(nn.Module):
    """Table 1 "unrestored": returns the input; ``disturbance_logits`` favour "none", strength 0."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = torch.zeros(x.shape[0], N_CLASSES, device=x.device, dtype=x.dtype)
        logits[:, 0] = 1.0
        return {"restored": x, "disturbance_logits": logits, "strength": torch.zeros(x.shape[0], 1, device=x.device, dtype=x.dtype)}


class ClassicalRestorer(nn.Module):
    """Classical exposure/contrast correction by moment matching (Table 1 baseline; our choice of method).

    Per image: ``m, s`` = mean and std over all pixels and channels; gain ``g = clamp(target_std / s,
    *gain_range)``, bias ``b = target_mean - g m``; ``restored = clamp(g x + b, 0, 1)``. The defaults
    ``target_mean=0.45, target_std=0.25`` are typical natural-image statistics (roughly those of
    ImageNet). ``disturbance_logits`` are a heuristic read-out of the deviation from the targets:
    brighter/darker from ``m - target_mean``, lower/higher contrast from ``log(s / target_std)``,
    "none" when both are within ``tolerance``; ``strength`` is ``m - target_mean`` for brightness
    classes and ``s / target_std - 1`` for contrast classes.
    """

    def __init__(self, target_mean: float = 0.45, target_std: float = 0.25, gain_range=(0.25, 4.0),
                 tolerance: float = 0.05, temperature: float = 0.05):
        super().__init__()
        if not 0 < target_mean < 1 or target_std <= 0:
            raise ValueError(f"restore-classical: need 0 < target_mean < 1 and target_std > 0, got {target_mean}, {target_std}")
        self.target_mean, self.target_std = target_mean, target_std
        self.gain_range, self.tolerance, self.temperature = tuple(gain_range), tolerance, temperature

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        xf = x.float()
        m = xf.mean(dim=(1, 2, 3), keepdim=True)
        s = xf.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-4)
        g = (self.target_std / s).clamp(*self.gain_range)
        b = self.target_mean - g * m
        restored = (g * xf + b).clamp(0.0, 1.0).to(x.dtype)
        dm = (m - self.target_mean).flatten()
        dc = torch.log(s / self.target_std).flatten()
        none = self.tolerance - torch.maximum(dm.abs(), dc.abs())
        logits = torch.stack([none, dm, -dm, -dc, dc], dim=1) / self.temperature
        brightness = logits[:, 1:3].amax(1) >= logits[:, 3:5].amax(1)
        strength = torch.where(brightness, dm, (s / self.target_std).flatten() - 1)
        return {"restored": restored, "disturbance_logits": logits.to(x.dtype), "strength": strength[:, None].to(x.dtype)}


class KnownDisturbanceInverse(nn.Module):
    """Not a learned model: the inverse of a brightness / contrast disturbance whose kind and level it is given
    (:func:`paper_repro.perturb.invert`), Table 1's physical limit. ``use_clean``: fill clipped pixels with the
    clean image's mean there (``restore-oracle``, the ceiling), else with the middle of their interval
    (``restore-known``, as the trained restorer's analytic step fills them)."""

    #: what :func:`paper_repro.evaluate.restoration_scores` hands it beside the disturbed image
    disturbance_inputs = ("perturbation", "level", "clean")

    def __init__(self, use_clean: bool):
        super().__init__()
        self.use_clean = bool(use_clean)

    def forward(self, x: torch.Tensor, perturbation: str, level, clean: torch.Tensor | None = None) -> dict:
        from ..perturb import invert

        fill = clean.float() if self.use_clean and clean is not None else None
        if self.use_clean and fill is None:
            raise ValueError("restore-oracle needs the clean image (clean=...)")
        return {"restored": invert(x.float(), perturbation, level, clean=fill)}


@register("restore-oracle")
def restore_oracle(**cfg) -> KnownDisturbanceInverse:
    """The known-disturbance inverse with the clean image's mean in clipped pixels (Table 1's ceiling)."""
    if cfg:
        raise TypeError(f"restore-oracle takes no options, got {sorted(cfg)}")
    return KnownDisturbanceInverse(use_clean=True)


@register("restore-known")
def restore_known(**cfg) -> KnownDisturbanceInverse:
    """The known-disturbance inverse with clipped pixels at the middle of their interval."""
    if cfg:
        raise TypeError(f"restore-known takes no options, got {sorted(cfg)}")
    return KnownDisturbanceInverse(use_clean=False)


@register("restore-none")
def restore_none(**cfg) -> IdentityRestorer:
    """Identity restorer (Table 1 "unrestored")."""
    if cfg:
        raise TypeError(f"restore-none takes no options, got {sorted(cfg)}")
    return IdentityRestorer()


@register("restore-classical")
def restore_classical(**cfg) -> ClassicalRestorer:
    """Classical moment-matching restorer (Table 1 baseline); ``cfg`` as :class:`ClassicalRestorer`."""
    return ClassicalRestorer(**cfg)
