"""Precision and memory layout: bf16 autocast with outputs back in fp32 (:class:`AutocastCallback`), NHWC
(:class:`ChannelsLastCallback`)."""
from __future__ import annotations


import torch
from fastai.callback.core import Callback
from fastai.torch_core import get_model

from ..precision import cpu_supports_bf16, resolve_precision  # noqa: F401 - re-exported


# ------------------------------------------------------------------------------------ precision / layout


def to_fp32(x):
    """Cast floating tensors inside nested dicts / lists / tuples to float32."""
    if isinstance(x, torch.Tensor):
        return x.float() if x.is_floating_point() and x.dtype != torch.float32 else x
    if isinstance(x, dict):
        return {k: to_fp32(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(to_fp32(v) for v in x)
    return x


class AutocastCallback(Callback):
    """``torch.autocast`` around the forward pass (bf16 by default); outputs cast to fp32 before the loss.

    ``precision``: ``"auto"``, ``"bf16"`` or ``"fp32"`` (see :func:`resolve_precision`); the device type
    comes from the model's parameters at fit start. fp16 (which needs a ``GradScaler``) is fastai's
    ``MixedPrecision``'s job.
    """

    order = 10

    def __init__(self, precision: str = "auto"):
        self.precision = precision
        self._ctx = None

    def before_fit(self):
        device = next(get_model(self.learn.model).parameters()).device
        self.resolved = resolve_precision(self.precision, device)
        if self.resolved == "fp16":
            raise ValueError("AutocastCallback does not scale gradients; use fastai's MixedPrecision for fp16")
        self.device_type = device.type

    def before_batch(self):
        if self.resolved == "bf16":
            self._ctx = torch.autocast(self.device_type, dtype=torch.bfloat16)
            self._ctx.__enter__()

    def _exit(self):
        if self._ctx is not None:
            self._ctx.__exit__(None, None, None)
            self._ctx = None

    def after_pred(self):
        self._exit()
        self.learn.pred = to_fp32(self.pred)

    def after_cancel_batch(self):
        self._exit()

    def after_batch(self):
        self._exit()

    def after_fit(self):
        self._exit()

    def on_interrupt(self):
        self._exit()


class ChannelsLastCallback(Callback):
    """Channels-last (NHWC) memory format for the model and 4-D float inputs (faster convs on GPU / oneDNN)."""

    order = 5

    def before_fit(self):
        self.learn.model.to(memory_format=torch.channels_last)

    def before_batch(self):
        self.learn.xb = tuple(x.contiguous(memory_format=torch.channels_last)
                              if isinstance(x, torch.Tensor) and x.dim() == 4 and x.is_floating_point() else x
                              for x in self.xb)


