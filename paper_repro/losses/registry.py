"""Loss registry: each method's training loss by model name, so training code needs no branches.

Every loss is an ``nn.Module`` whose ``forward(outputs: dict, mask: Tensor, **extra)`` returns
``(total, parts)``: a scalar tensor and a ``dict[str, Tensor]`` of its named (detached or not) parts.
``mask`` is a float tensor ``(B, 1, H, W)`` with 1 = tampered.
"""
from __future__ import annotations

from typing import Callable

import torch.nn as nn

_LOSSES: dict[str, Callable[..., nn.Module]] = {}


def register_loss(*model_names: str):
    """Decorator: ``fn(**cfg) -> nn.Module`` is the training loss of the models ``model_names``."""

    def deco(fn):
        for name in model_names:
            if name in _LOSSES:
                raise ValueError(f"a loss for model {name!r} is registered twice")
            _LOSSES[name] = fn
        return fn

    return deco


def loss_for(model_name: str, **cfg) -> nn.Module:
    """The training loss module of the model registered as ``model_name``."""
    try:
        return _LOSSES[model_name](**cfg)
    except KeyError:
        raise KeyError(f"no loss registered for model {model_name!r}; known: {', '.join(sorted(_LOSSES))}") from None


def losses_available() -> list[str]:
    return sorted(_LOSSES)
