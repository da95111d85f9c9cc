"""fastai ``Learner`` factories for every training stage, the ``fit`` helper and final checkpoints.

Stages (``stage=None`` infers it from the model name):

- ``detector``  (``reconwave``, ``lpclnet``, ``ncl``, ...): ``loss_for(model)(outputs, mask)``, metrics
  pixel F1 / IoU at 0.5 on the validation split;
- ``restorer``  (``restorer``): clean images from the loaders are disturbed on the fly
  (:class:`~paper_repro.train.callbacks.DisturbanceCallback`); the loss also gets ``clean``,
  ``disturbance`` and ``strength``; metric PSNR;
- ``pretrain``  (``mpc``): MPC's multi-view pixel-contrastive stage (loss only);
- ``finetune``  (``mpc-finetune``): frozen backbone, head trained with focal loss; ``init_from`` = the
  ``pretrain`` stage's ``final.pt`` loads the backbone.

Multi-GPU / multi-node: launched with ``accelerate launch`` or ``torchrun`` (``WORLD_SIZE`` > 1),
:func:`fit` trains inside fastai's ``learn.distrib_ctx()`` (DDP through Hugging Face Accelerate); only
rank 0 writes checkpoints.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
from fastai.callback.core import CancelEpochException, CancelFitException
import fastai.callback.schedule  # noqa: F401 - patches Learner.fit_one_cycle
from fastai.callback.progress import ProgressCallback
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.torch_core import default_device, get_model, num_distrib, rank_distrib

from ..profiles import STAGES
from .callbacks import (AutocastCallback, ChannelsLastCallback, CheckpointResumeCallback, EMACallback,
                        EpochLogCallback, LastEpochValidationCallback, LossPartsCallback, SeedCallback, atomic_save,
                        resolve_precision, seed_everything, set_rng_state, to_fp32)
from .stages import MASK_STAGES, StageContext  # noqa: F401 - MASK_STAGES re-exported
from .stages import STAGES as TRAINING_STAGES

FINAL_FORMAT = "paper_repro.final/1"
# model_cfg keys that point at other files / tensors and are not part of the architecture
from .checkpoints import NON_ARCH_KEYS, load_model, read_checkpoint  # noqa: F401,E402 - re-exported


class DictLoss(nn.Module):
    """Adapter: fastai calls ``loss_func(pred, *yb)``; our losses are ``(outputs, mask, **extra) -> (total, parts)``.

    ``yb[0]`` is the mask, ``yb[1:]`` are passed as keyword arguments named by ``extra_names``. Outputs
    are cast to fp32 first (losses run in fp32 under mixed precision). Returns ``total``; the detached
    ``parts`` of the last call are kept in ``.parts`` for :class:`LossPartsCallback`.
    """

    def __init__(self, loss: nn.Module, extra_names: Sequence[str] = ()):
        super().__init__()
        self.loss = loss
        self.extra_names = tuple(extra_names)
        self.parts: dict[str, torch.Tensor] = {}

    def forward(self, pred, mask=None, *extra):
        if len(extra) > len(self.extra_names):
            raise ValueError(f"DictLoss got {len(extra)} extra targets but names for {len(self.extra_names)} "
                             f"({self.extra_names})")
        kw = dict(zip(self.extra_names, extra))
        total, parts = self.loss(to_fp32(pred), mask.float() if isinstance(mask, torch.Tensor) else mask, **kw)
        self.parts = {k: v.detach() for k, v in parts.items() if isinstance(v, torch.Tensor)}
        return total


class ResumableLearner(Learner):
    """A fastai ``Learner`` whose loop can skip finished epochs / batches (set by
    :class:`CheckpointResumeCallback`) and cap the training batches per epoch (``max_train_batches``).
    Events are dispatched by fastai itself (a per-event handler cache saved about 6 ms of a 0.95 s ``cpu``
    step, measured: within the step's noise).

    Callbacks talk to each other through these attributes only: ``max_train_batches`` (set by :func:`fit`),
    ``resume_epoch`` (the first epoch to run) and ``resume_point`` (where inside it to continue: epoch, batches
    to skip, schedule position, random state; consumed by the loop), both set by
    :class:`CheckpointResumeCallback`, which also sets ``resumed_from`` (``(epoch, batches done)`` of the
    checkpoint a fit continued from; ``None`` for a fresh fit: one-off work such as classifier pretraining is
    then not repeated); ``fit_completed`` (the loop, or :class:`KeepBestCallback`'s deliberate stop) and
    ``selected_epoch`` (the epoch whose weights :class:`KeepBestCallback` kept).
    """

    max_train_batches: int | None = None
    resume_epoch: int = 0
    resume_point: dict | None = None
    resumed_from: tuple[int, int] | None = None
    fit_completed: bool = False
    selected_epoch: int | None = None

    def train_batches(self) -> int:
        """Training batches per epoch: ``len(dls.train)`` capped by ``max_train_batches``."""
        n = len(self.dls.train)
        return min(n, int(self.max_train_batches)) if self.max_train_batches else n

    def _do_fit(self):
        self.fit_completed = False
        try:
            for epoch in range(int(self.resume_epoch or 0), self.n_epoch):
                self.epoch = epoch
                self._with_events(self._do_epoch, "epoch", CancelEpochException)
        except CancelFitException:
            raise
        except BaseException:  # KeyboardInterrupt, errors: let callbacks save what is consistent
            for cb in list(self.cbs):
                if hasattr(cb, "on_interrupt"):
                    cb.on_interrupt()
            raise
        self.fit_completed = True

    def all_batches(self):
        training = bool(getattr(self, "training", False))
        self.n_iter = self.train_batches() if training else len(self.dl)
        res = self.resume_point if training else None
        if res is not None and res["epoch"] != self.epoch:
            res = None
        if res is not None:
            self.resume_point = None
            set_rng_state(res["rng"])
        it = iter(self.dl)
        start = 0
        if res is not None and res["skip"]:
            start = int(res["skip"])
            for _ in range(start):  # replay this epoch's (seeded) data order without training on it
                next(it)
            self.pct_train, self.train_iter = res["pct_train"], res["train_iter"]
            set_rng_state(res["rng"])  # the state saved right after batch `start - 1`
        for i in range(start, self.n_iter):
            try:
                b = next(it)
            except StopIteration:
                break
            self.one_batch(i, b)

    def final_metrics(self) -> dict[str, float]:
        """The last epoch's recorder row as ``{name: value}`` (without ``epoch`` / ``time``)."""
        rec = getattr(self, "recorder", None)
        if rec is None or not rec.values:
            return {}
        names = [n for n in list(rec.metric_names)[1:] if n != "time"]
        out = {}
        row = rec.values[-1]
        selected = self.selected_epoch  # set by KeepBestCallback
        if selected is not None and 0 <= selected < len(rec.values):  # a resumed recorder holds every epoch
            row = rec.values[selected]
        for n, v in zip(names, row):
            try:
                out[n] = float(v)
            except (TypeError, ValueError):
                out[n] = v
        return out


def _as_dls(dls) -> DataLoaders:
    if isinstance(dls, DataLoaders):
        return dls
    if isinstance(dls, dict):
        return DataLoaders(dls["train"], dls["valid"])
    if isinstance(dls, (list, tuple)) and len(dls) >= 2:
        return DataLoaders(*dls)
    raise TypeError(f"dls must be fastai DataLoaders, (train_dl, valid_dl) or {{'train', 'valid'}}; got {type(dls).__name__}")


def _state_dict_from(obj) -> dict:
    """A model state dict from a ``final.pt`` path / payload, a fastai ``Learner.save`` file, or a state dict."""
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} not found")
        obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        return obj["state_dict"]
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        return obj["model"]
    if isinstance(obj, dict):
        return obj
    raise TypeError(f"cannot get a state dict from {type(obj).__name__}")


def make_learner(model_name: str, dls, profile=None, model_cfg: dict | None = None, loss_cfg: dict | None = None,
                 stage: str | None = None, ckpt_dir: str | os.PathLike | None = None, precision: str | None = None,
                 channels_last: bool | None = None, seed: int | None = None, metrics=True, quiet: bool = False,
                 checkpoint_every: int | None = None, resume: bool = True, init_from=None, opt_func=None,
                 wd: float | None = None, cbs=None, disturbance_cfg: dict | None = None,
                 patience: int | None = None, validate_last_epoch_only: bool = False) -> ResumableLearner:
    """A fastai Learner for ``model_name`` at ``stage`` (see the module docstring).

    ``profile`` (name or :class:`~paper_repro.profiles.Profile`) supplies defaults: model configuration
    (``profile.model_cfg(model_name)``, updated by ``model_cfg``), ``seed``, ``precision``,
    ``channels_last`` and ``checkpoint_every``; explicit arguments win. Without a profile: seed 0,
    precision ``"auto"`` (bf16 autocast on CPUs with native bf16 and on bf16 GPUs, fp16 AMP on older
    GPUs), no channels-last.

    ``ckpt_dir``: resume checkpoints (``last.pt``), ``history.csv`` and :func:`fit`'s ``final.pt`` go
    there; an existing ``last.pt`` is resumed from (``resume=False`` ignores it). ``quiet``: no progress
    bars, one line per epoch. ``metrics``: ``True`` (stage default), ``False`` or a list of fastai metrics.
    ``init_from``: weights to start from (``final.pt`` path or state dict); for ``finetune`` the
    backbone of a ``pretrain`` checkpoint. ``opt_func``: a fastai optimiser factory; default the profile's
    ``optimizer`` (:mod:`paper_repro.train.optim`; ``"adam"`` without a profile). ``disturbance_cfg``: keyword arguments of
    :func:`paper_repro.perturb.random_disturbance`: the restorer stage's inputs; for a detector or
    finetune stage, given (even ``{}``), it disturbs the training images as an augmentation. ``patience``
    (restorer stage): stop after that many epochs in a row without a better validation PSNR and end with the
    best epoch's weights (:class:`KeepBestCallback`); ``None`` trains every step. ``validate_last_epoch_only``:
    no validation pass before the last epoch's (:class:`LastEpochValidationCallback`).
    """
    from .. import profiles as _profiles
    from ..losses import loss_for
    from ..models import create, stage_of

    prof = _profiles.get(profile) if profile is not None else None
    seed = int(seed if seed is not None else (prof.seed if prof else 0))
    precision = precision if precision is not None else (prof.precision if prof else "auto")
    channels_last = bool(channels_last if channels_last is not None else (prof.channels_last if prof else False))
    if opt_func is None:
        from .optim import opt_func as _named_opt_func

        opt_func = _named_opt_func(prof.optimizer if prof else "adam")
    if checkpoint_every is None and prof is not None:
        checkpoint_every = prof.checkpoint_every
    stage = stage or stage_of(model_name)
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    spec = TRAINING_STAGES[stage]

    cfg = prof.model_cfg(model_name) if prof else {}
    cfg.update(model_cfg or {})
    seed_everything(seed)  # deterministic initial weights
    model = create(model_name, **cfg)
    spec.prepare(model, _state_dict_from(init_from) if init_from is not None else None)

    loss = DictLoss(loss_for(model_name, **(loss_cfg or {})), spec.loss_extras)
    if metrics is True:
        metrics = spec.metrics()
    elif not metrics:
        metrics = []

    device = default_device()
    resolved = resolve_precision(precision, device)
    callbacks = [SeedCallback(seed), LossPartsCallback(Path(ckpt_dir) / "history.csv" if ckpt_dir else None)]
    if resolved == "bf16":
        callbacks.append(AutocastCallback("bf16"))
    elif resolved == "fp16":
        from fastai.callback.fp16 import MixedPrecision

        callbacks.append(MixedPrecision("fp16"))
    if channels_last:
        callbacks.append(ChannelsLastCallback())
    callbacks += spec.callbacks(StageContext(seed, prof, disturbance_cfg, patience,
                                             Path(ckpt_dir) if ckpt_dir is not None else None, quiet))
    if ckpt_dir is not None:
        callbacks.append(CheckpointResumeCallback(ckpt_dir, every=int(checkpoint_every) if checkpoint_every else "epoch",
                                                  resume=resume))
    if prof is not None and prof.ema is not None and spec.ema:
        callbacks.append(EMACallback(prof.ema))
    if validate_last_epoch_only:
        callbacks.append(LastEpochValidationCallback())
    if quiet:
        callbacks.append(EpochLogCallback())
    callbacks += list(cbs or [])

    learn = ResumableLearner(_as_dls(dls), model, loss_func=loss, opt_func=opt_func, metrics=metrics, wd=wd,
                             cbs=callbacks, path=Path(ckpt_dir) if ckpt_dir else Path("."), model_dir=".")
    if quiet:
        learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, ProgressCallback)])
    learn.model_name, learn.stage, learn.seed, learn.profile = model_name, stage, seed, prof
    learn.model_cfg = {k: v for k, v in cfg.items() if k not in NON_ARCH_KEYS}
    learn.ckpt_dir = Path(ckpt_dir) if ckpt_dir else None
    learn.precision = resolved
    return learn


def fit(learn: ResumableLearner, epochs: int | None = None, lr: float | None = None, max_steps: int | None = None,
        pct_start: float = 0.25, save_final: bool = True, **fit_kwargs) -> dict[str, float]:
    """``fit_one_cycle`` for the learner's stage (the peak rate throughout where the profile's ``schedule`` is
    ``"constant"``), then ``ckpt_dir/final.pt``; returns the final metrics.

    ``epochs`` / ``lr`` / ``max_steps`` default to the learner's profile stage (else 1 epoch, lr 1e-3, no
    cap). ``max_steps`` caps the total training steps: each epoch runs ``ceil(max_steps / epochs)``
    batches at most. Under ``accelerate launch`` / ``torchrun`` (``WORLD_SIZE`` > 1) training runs
    inside ``learn.distrib_ctx()``. ``final.pt`` holds ``{"model_name", "model_cfg", "state_dict",
    "profile", "metrics", ...}`` and is written only when the fit finished (not when interrupted).
    """
    prof = getattr(learn, "profile", None)
    stage_cfg = prof.stage(learn.stage) if prof is not None else {}
    epochs = int(epochs if epochs is not None else stage_cfg.get("epochs", 1))
    lr = float(lr if lr is not None else stage_cfg.get("lr", 1e-3))
    max_steps = max_steps if max_steps is not None else stage_cfg.get("max_steps")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    learn.max_train_batches = max(1, math.ceil(int(max_steps) / epochs)) if max_steps else None

    schedule = getattr(prof, "schedule", "one_cycle") if prof is not None else "one_cycle"

    def run():
        if schedule == "constant":
            learn.fit(epochs, lr, **fit_kwargs)
        else:
            learn.fit_one_cycle(epochs, lr, pct_start=pct_start, **fit_kwargs)

    if num_distrib() > 1:
        _prepare_distributed(learn)
        with _distributed(learn):
            run()
    else:
        run()

    metrics = learn.final_metrics()
    if not learn.fit_completed:
        warnings.warn("fit was interrupted; final.pt not written (run again to resume from last.pt)")
        return metrics
    if save_final and getattr(learn, "ckpt_dir", None) is not None:
        save_final_checkpoint(learn, learn.ckpt_dir / "final.pt", metrics=metrics, epochs=epochs, lr=lr)
    return metrics


def _gloo_dl_class():
    """fastai's ``DistributedDL`` broadcasts the epoch's shuffled indices as a CUDA tensor (NCCL); with the gloo
    backend (CPU processes) the same broadcast must use a CPU tensor."""
    from fastai.distributed import DistributedDL

    class GlooDistributedDL(DistributedDL):
        def _broadcast(self, t, rank):
            t = torch.tensor(t, dtype=torch.long)
            torch.distributed.broadcast(t, rank)
            return t.tolist()

    return GlooDistributedDL


def _distributed(learn):
    """DDP for one ``fit``: fastai's ``distrib_ctx`` on GPUs (NCCL, SyncBatchNorm); on CPU processes (gloo) the
    same ``DistributedTrainer`` with CPU index broadcasts and plain BatchNorm (SyncBatchNorm is GPU-only)."""
    import contextlib

    if torch.cuda.is_available():
        return learn.distrib_ctx(in_notebook=False)
    from fastai.distributed import DistributedTrainer

    gloo_dl = _gloo_dl_class()

    class CPUDistributedTrainer(DistributedTrainer):
        def _wrap_dl(self, dl):
            return dl if isinstance(dl, gloo_dl) else gloo_dl(dl, device=torch.device("cpu"))

    @contextlib.contextmanager
    def ctx():
        cb = CPUDistributedTrainer(sync_bn=False, cpu=True)
        learn.add_cb(cb)
        if rank_distrib():
            learn.remove_cb(ProgressCallback)
        try:
            yield learn
        finally:
            learn.remove_cb(cb)

    return ctx()


def _prepare_distributed(learn) -> None:
    """DDP via fastai + Hugging Face Accelerate: one process per GPU (``accelerate launch`` / ``torchrun``
    set ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``); each process uses ``cuda:LOCAL_RANK``."""
    try:
        import accelerate  # noqa: F401
    except ImportError:
        raise RuntimeError(f"WORLD_SIZE={num_distrib()}: multi-process training needs Hugging Face Accelerate "
                           "(pip install accelerate)") from None
    from fastai.distributed import DistributedTrainer  # noqa: F401 - patches Learner.distrib_ctx

    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
        learn.model.to(device)
        if all(hasattr(dl, "to") for dl in getattr(learn.dls, "loaders", [])):
            learn.dls.to(device)


#: Profile fields that say where a run wrote its files, not how it trained: not stored in ``final.pt``, so the
#: same training gives the same file (and SHA-256) wherever it ran.
_LOCAL_FIELDS = ("data_root", "results_dir", "figures_dir", "checkpoints_dir")


def save_final_checkpoint(learn, path, metrics: dict | None = None, **info) -> Path | None:
    """Write ``{"model_name", "model_cfg", "state_dict", "profile", "metrics", "stage", ...}`` atomically
    (the profile without the machine's paths, :data:`_LOCAL_FIELDS`)."""
    if rank_distrib() != 0:
        return None
    prof = getattr(learn, "profile", None)
    prof_dict = None if prof is None else {k: v for k, v in prof.asdict().items() if k not in _LOCAL_FIELDS}
    payload = {
        "format": FINAL_FORMAT,
        "model_name": learn.model_name,
        "model_cfg": dict(learn.model_cfg),
        "state_dict": {k: v.detach().cpu() for k, v in get_model(learn.model).state_dict().items()},
        "profile": prof_dict,
        "metrics": {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float))},
        "stage": learn.stage,
        "seed": int(getattr(learn, "seed", 0)),
        **info,
    }
    return atomic_save(payload, path)


