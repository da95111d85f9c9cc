"""Loss registry: each method's training loss by model name, so training code needs no branches.

Every loss is an ``nn.Module`` whose ``forward(outputs: dict, mask: Tensor, **extra)`` returns
``(total, parts)``: a scalar tensor and a ``dict[str, Tensor]`` of its named (detached or not) parts.
``mask`` is a float tensor ``(B, 1, H, W)`` with 1 = tampered. :data:`LOSSES` (a
:class:`~paper_repro.registry.Registry`) maps a model name to its loss factory.
"""
from __future__ import annotations

import torch.nn as nn

from ..registry import Registry

LOSSES = Registry("loss (by model name)")


def register_loss(*model_names: str):
    """Decorator: ``fn(**cfg) -> nn.Module`` is the training loss of the models ``model_names``."""

    def deco(fn):
        for name in model_names:
            LOSSES.register(name, fn)
        return fn

    return deco


def loss_for(model_name: str, **cfg) -> nn.Module:
    """The training loss module of the model registered as ``model_name``."""
    return LOSSES[model_name](**cfg)


def losses_available() -> list[str]:
    return sorted(LOSSES)
