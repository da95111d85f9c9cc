"""The training stages as registered objects: what a stage adds to a fastai ``Learner`` beside the model and
its loss (:data:`STAGES`, a :class:`~paper_repro.registry.Registry` of :class:`Stage`).

A stage says which batch items its loss gets beside the mask (``loss_extras``), its default metrics, whether it
trains on masks (``masks``: the profile's ``authentic_fraction`` and the optional disturbance augmentation
apply) and whether an exponential moving average of the weights may apply (``ema``), and builds its own
callbacks from a :class:`StageContext`. :func:`paper_repro.train.make_learner` looks the stage up and adds what
it says; a new stage is one :func:`register_stage` call.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..registry import Registry
from .callbacks import (ClassifierPretrainCallback, DisturbanceCallback, KeepBestCallback, PixelMetric, PSNRMetric,
                        ValuePriorCallback)


@dataclass(frozen=True)
class StageContext:
    """What a stage's callbacks are built from: the training ``seed``, the profile (or ``None``), the
    ``disturbance_cfg`` and ``patience`` given to ``make_learner``, its ``ckpt_dir`` and ``quiet``."""

    seed: int
    profile: Any = None
    disturbance_cfg: dict | None = None
    patience: int | None = None
    ckpt_dir: Path | None = None
    quiet: bool = False


def _load_weights(model, state_dict) -> None:
    if state_dict is not None:
        model.load_state_dict(state_dict)


def _load_backbone_and_freeze(model, state_dict) -> None:
    """MPC stage 2: the backbone of a stage-1 checkpoint, frozen; only the head trains."""
    if state_dict is not None:
        (model.load_backbone if hasattr(model, "load_backbone") else model.load_state_dict)(state_dict)
    if hasattr(model, "freeze_backbone") and not getattr(model, "backbone_frozen", False):
        model.freeze_backbone()


@dataclass(frozen=True)
class Stage:
    """One training stage (see the module docstring). ``prepare(model, state_dict or None)`` puts the
    ``init_from`` weights into a freshly built model (default: all of them)."""

    name: str
    metrics: Callable[[], list]
    callbacks: Callable[[StageContext], list] = field(default=lambda ctx: [])
    loss_extras: tuple[str, ...] = ()
    masks: bool = False
    ema: bool = True
    prepare: Callable[[Any, dict | None], None] = _load_weights


STAGES = Registry("training stage")


def register_stage(stage: Stage) -> Stage:
    return STAGES.register(stage.name, stage)


def _restorer_callbacks(ctx: StageContext) -> list:
    cbs = [DisturbanceCallback(ctx.seed, **(ctx.disturbance_cfg or {}))]
    if ctx.patience is not None:
        cbs.append(KeepBestCallback("psnr", patience=int(ctx.patience)))
    cbs.append(ValuePriorCallback(ctx.seed))  # a no-op unless the restorer fills clipped pixels from a prior
    prof = ctx.profile
    if prof is not None and prof.classifier_pretrain:
        # restorers trained beside each other share a pretrained classifier (same inputs, same weights)
        shared = Path(ctx.ckpt_dir).parent / "_classifiers" if ctx.ckpt_dir is not None else None
        cbs.append(ClassifierPretrainCallback(ctx.seed, **prof.classifier_pretrain, progress=not ctx.quiet,
                                              disturbance_kwargs=ctx.disturbance_cfg, cache_dir=shared))
    return cbs


def _mask_callbacks(ctx: StageContext) -> list:
    """Given a ``disturbance_cfg`` (even ``{}``), the training images are disturbed as an augmentation."""
    if ctx.disturbance_cfg is None:
        return []
    return [DisturbanceCallback(ctx.seed, augment_only=True, **ctx.disturbance_cfg)]


def _pixel_metrics() -> list:
    return [PixelMetric("f1"), PixelMetric("iou")]


register_stage(Stage("restorer", metrics=lambda: [PSNRMetric()], callbacks=_restorer_callbacks,
                     loss_extras=("clean", "disturbance", "strength"), ema=False))
register_stage(Stage("detector", metrics=_pixel_metrics, callbacks=_mask_callbacks, masks=True))
register_stage(Stage("pretrain", metrics=lambda: []))
register_stage(Stage("finetune", metrics=_pixel_metrics, callbacks=_mask_callbacks, masks=True,
                     prepare=_load_backbone_and_freeze))

#: stages trained on masks: they take ``authentic_fraction`` and the optional disturbance augmentation
MASK_STAGES = tuple(n for n in STAGES if STAGES[n].masks)
