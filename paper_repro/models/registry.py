"""The model registry, in the manner of timm: ``@register("name")`` on a factory, ``create(name, **cfg)``.

Every factory takes keyword configuration only and returns an ``nn.Module`` whose ``forward`` returns
a ``dict`` of named outputs (see :mod:`paper_repro.models`). :data:`MODELS` is the
:class:`~paper_repro.registry.Registry` behind both.
"""
from __future__ import annotations

import torch.nn as nn

from ..registry import Registry

MODELS = Registry("model")


def register(name: str, **meta):
    """Decorator: register ``fn(**cfg) -> nn.Module`` under ``name`` (a name registered twice is an error).
    ``stage="..."``: the training stage the model trains in (:func:`stage_of`; default ``"detector"``)."""

    def deco(fn):
        MODELS.register(name, fn, **meta)
        fn.model_name = name
        return fn

    return deco


def available() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(MODELS)


def stage_of(name: str) -> str:
    """The training stage model ``name`` trains in: ``restorer``, ``pretrain`` (MPC stage 1), ``finetune``
    (MPC stage 2) or ``detector`` (every other), as its registration says."""
    return MODELS.meta(name).get("stage", "detector")


def create(name: str, **cfg) -> nn.Module:
    """Build the model registered as ``name`` with configuration ``cfg``."""
    factory = MODELS[name]
    model = factory(**cfg)
    model.model_name = name
    model.model_cfg = dict(cfg)
    return model
