"""The model registry, in the manner of timm: ``@register("name")`` on a factory, ``create(name, **cfg)``.

Every factory takes keyword configuration only and returns an ``nn.Module`` whose ``forward`` returns
a ``dict`` of named outputs (see :mod:`paper_repro.models`).
"""
from __future__ import annotations

from typing import Callable

import torch.nn as nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    """Decorator: register ``fn(**cfg) -> nn.Module`` under ``name``."""

    def deco(fn):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = fn
        fn.model_name = name
        return fn

    return deco


def available() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def create(name: str, **cfg) -> nn.Module:
    """Build the model registered as ``name`` with configuration ``cfg``."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(available())}") from None
    model = factory(**cfg)
    model.model_name = name
    model.model_cfg = dict(cfg)
    return model
