"""What a fit keeps and when it validates: :class:`LastEpochValidationCallback`, :class:`KeepBestCallback`
(early stopping on a validation metric), :class:`EMACallback` (a moving average of the weights)."""
from __future__ import annotations


import torch
from fastai.callback.core import Callback, CancelFitException, CancelValidException
from fastai.callback.tracker import TrackerCallback
from fastai.torch_core import get_model



class LastEpochValidationCallback(Callback):
    """Skip the validation pass of every epoch but the last (fastai's ``CancelValidException``): the epoch's
    validation loss is then ``None`` and its metrics NaN in the recorder and ``history.csv``. Runs after the
    Recorder has reset its validation metrics and after any weight swap (EMA), whose ``after_validate`` still
    runs. For fits whose per-epoch validation record nothing reads (the comparison tables' budget)."""

    order = 52

    def before_validate(self):
        if self.epoch + 1 < self.n_epoch:
            raise CancelValidException()


class KeepBestCallback(TrackerCallback):
    """Stop on a validation metric: keep the weights of the best epoch by ``monitor`` (``"psnr"`` for the
    restorer), stop when ``patience`` epochs in a row did not improve on it, and end the fit with the best
    weights (``learn.selected_epoch`` says which). An early stop counts as a finished fit, so ``final.pt`` is
    written. The best weights are kept in memory: a fit resumed from ``last.pt`` compares from the resumed epoch
    on."""

    order = TrackerCallback.order + 1

    def __init__(self, monitor: str = "psnr", patience: int | None = 1, min_delta: float = 0.0):
        super().__init__(monitor=monitor, min_delta=min_delta)
        self.patience = patience

    def before_fit(self):
        super().before_fit()
        self.best_state, self.best_epoch, self.wait = None, None, 0

    def after_epoch(self):
        super().after_epoch()
        if self.new_best:
            self.best_state = {k: v.detach().clone() for k, v in self.learn.model.state_dict().items()}
            self.best_epoch, self.wait = self.epoch, 0
            return
        self.wait += 1
        if self.patience is not None and self.wait > self.patience and self.epoch + 1 < self.n_epoch:
            self.learn.fit_completed = True  # a deliberate stop: the fit is finished
            raise CancelFitException()

    def after_fit(self):
        super().after_fit()
        if self.best_state is not None:
            self.learn.model.load_state_dict(self.best_state)
            self.learn.selected_epoch = self.best_epoch


class EMACallback(Callback):
    """Exponential moving average of the weights (Polyak averaging): after every optimiser step
    ``ema = decay * ema + (1 - decay) * weights`` over every floating-point tensor of the state dict (batch-norm
    statistics included). Validation runs on the average, and the fit ends with the average loaded, so
    ``final.pt`` holds it. Its state travels in ``last.pt`` (``get_state`` / ``set_state``), so a resumed fit
    averages on exactly."""

    order = 20  # after the optimiser step's bookkeeping, before checkpointing (95)

    def __init__(self, decay: float = 0.99):
        if not 0.0 < float(decay) < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.shadow: dict[str, torch.Tensor] | None = None
        self._backup = None

    def _floats(self):
        return {k: v for k, v in get_model(self.learn.model).state_dict().items() if v.dtype.is_floating_point}

    def before_fit(self):
        if self.shadow is None:  # set_state may have restored it already
            self.shadow = {k: v.detach().clone().float() for k, v in self._floats().items()}

    def after_step(self):
        with torch.no_grad():
            for k, v in self._floats().items():
                self.shadow[k].mul_(self.decay).add_(v.detach().float(), alpha=1.0 - self.decay)

    def _swap_in(self):
        model = get_model(self.learn.model)
        self._backup = {k: v.detach().clone() for k, v in self._floats().items()}
        model.load_state_dict(self.shadow, strict=False)

    def before_validate(self):
        self._swap_in()

    def after_validate(self):
        if self._backup is not None:
            get_model(self.learn.model).load_state_dict(self._backup, strict=False)
            self._backup = None

    def after_fit(self):
        if self.shadow is not None:
            get_model(self.learn.model).load_state_dict(self.shadow, strict=False)
        self.shadow = None

    def get_state(self) -> dict:
        return {"shadow": {k: v.clone() for k, v in (self.shadow or {}).items()}}

    def set_state(self, state: dict) -> None:
        self.shadow = {k: v.clone() for k, v in state["shadow"].items()} or None


