"""fastai callbacks for reproducible, resumable training (small units in fastai's style).

- :func:`seed_everything`, :class:`SeedCallback`: seeds python / numpy / torch once per fit and re-seeds
  the data loaders' shuffling per epoch from ``(seed, epoch)``, so epoch ``e`` sees the same order
  whether or not the run was interrupted before it.
- :class:`AutocastCallback`: bf16 autocast on CPU (or CUDA); model outputs cast back to fp32 so losses
  are computed in fp32. fp16 on CUDA uses fastai's ``MixedPrecision`` (it owns the ``GradScaler``).
- :class:`ChannelsLastCallback`: NHWC memory format for model and inputs.
- :class:`DisturbanceCallback`: restorer training (ReConWave-Net's restorer, Yu et al. 2026): each clean
  batch is disturbed on the fly by :func:`paper_repro.perturb.random_disturbance` with a generator seeded
  from ``(seed, epoch, batch)``; the model sees the disturbed image, the loss gets ``clean``,
  ``disturbance`` (class index) and ``strength``.
- :class:`LossPartsCallback`: per-epoch means of the loss's named parts (``DictLoss.parts``), kept in
  ``learn.recorder.loss_parts`` and written with the recorder's table to a CSV.
- :class:`EpochLogCallback`: one plain-text line per epoch (used with ``quiet=True`` instead of progress bars).
- :class:`CheckpointResumeCallback`: atomic resume checkpoints (model, optimiser, scaler, schedule
  position, epoch/iteration, recorder, RNG states) every epoch, every ``every_n_batches`` and on
  interruption; on fit start it restores the latest one and skips the work already done, so a killed
  and resumed run ends with the same weights and metrics as an uninterrupted one.
- :class:`PixelMetric` (F1 / IoU at 0.5) and :class:`PSNRMetric` for validation.

Skipping finished epochs / batches needs two small hooks in the training loop; they live in
:class:`paper_repro.train.learner.ResumableLearner` (``_do_fit`` and ``all_batches``).
"""
from __future__ import annotations

import csv
import hashlib
import math
import os
import random
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from fastai.callback.core import Callback, CancelFitException, CancelValidException
from fastai.callback.schedule import ParamScheduler
from fastai.callback.tracker import TrackerCallback
from fastai.learner import Metric
from fastai.torch_core import get_model, rank_distrib

from ..files import atomic_write

RESUME_FORMAT = "paper_repro.resume/1"


# ------------------------------------------------------------------------------------------- seeding
def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (CPU and every CUDA device)."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derive_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (numpy ``SeedSequence``), e.g. ``(seed, epoch, batch)``."""
    state = np.random.SeedSequence([int(p) % 2**32 for p in parts]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & (2**63 - 1)


def get_rng_state() -> dict:
    """Python, numpy and torch (CPU + CUDA) RNG states, as tensors/ints (``torch.load(weights_only=True)``-safe)."""
    py = random.getstate()
    npst = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [npst[0], torch.from_numpy(npst[1].astype(np.int64)), int(npst[2]), int(npst[3]), float(npst[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of :func:`get_rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def reseed_loader(dl, seed: int) -> None:
    """Make the next iteration of ``dl`` (torch or fastai DataLoader, possibly wrapped) depend only on ``seed``.

    torch: the loader's (and its ``RandomSampler``'s) ``generator``, attached if missing, drives both the
    shuffle and the workers' base seed. fastai: ``dl.rng`` drives the shuffle and ``fake_l.generator`` the
    workers' base seed. Wrappers exposing ``.dl`` (fastai's ``DistributedDL``) are followed.
    """
    from torch.utils.data import DataLoader as TorchDL, RandomSampler

    seen = set()
    while dl is not None and id(dl) not in seen:
        seen.add(id(dl))
        if isinstance(dl, TorchDL):
            g = dl.generator
            if g is None:
                g = torch.Generator()
                dl.generator = g
            sampler = getattr(dl, "sampler", None)
            if isinstance(sampler, RandomSampler) and sampler.generator is None:
                sampler.generator = g
            batch_sampler = getattr(dl, "batch_sampler", None)
            inner = getattr(batch_sampler, "sampler", None)
            if isinstance(inner, RandomSampler) and inner.generator is None:
                inner.generator = g
            g.manual_seed(seed)
        if hasattr(dl, "rng") and isinstance(dl.rng, random.Random):
            dl.rng = random.Random(seed)
        fake = getattr(dl, "fake_l", None)
        if fake is not None:
            fake.generator = torch.Generator().manual_seed(seed ^ 0x5EED)
        _reseed_dataset(getattr(dl, "dataset", None), seed)
        dl = getattr(dl, "dl", None)


def _reseed_dataset(ds, seed: int) -> None:
    """Datasets drawing augmentations from their own generator (e.g. ``TamperDataset``'s flips) restart it
    from ``seed`` (used in the main process; worker processes re-seed from the loader's base seed)."""
    if ds is None:
        return
    if hasattr(ds, "reseed"):
        ds.reseed(seed)


class SeedCallback(Callback):
    """Seed everything at fit start; re-seed each epoch's train / valid loader from ``(seed, epoch)``. A
    validation pass leaves the global random streams as it found them (restored in ``after_validate``), so
    the training stream, and the trained weights, do not depend on whether or how often a fit validates."""

    order = -20

    def __init__(self, seed: int = 0):
        self.seed = int(seed)

    def before_fit(self):
        seed_everything(self.seed)

    def before_train(self):
        reseed_loader(self.learn.dl, derive_seed(self.seed, self.epoch, 0))

    def before_validate(self):
        self._training_rng = get_rng_state()
        reseed_loader(self.learn.dl, derive_seed(self.seed, self.epoch, 1))

    def after_validate(self):
        state, self._training_rng = getattr(self, "_training_rng", None), None
        if state is not None:
            set_rng_state(state)


# ------------------------------------------------------------------------------------ precision / layout
from .precision import cpu_supports_bf16, resolve_precision  # noqa: E402,F401 - re-exported
from .optim import load_opt_state, opt_state  # noqa: E402


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


# ------------------------------------------------------------------------------------------ restorer
class DisturbanceCallback(Callback):
    """Restorer training: ``xb = disturbed(clean)``, ``yb = (mask, clean, disturbance, strength)``.

    Disturbances come from :func:`paper_repro.perturb.random_disturbance` (brightness or contrast, or
    none with ``p_clean``) with a generator seeded by ``(seed, epoch, batch)`` in training and by
    ``(seed, batch)`` in validation (the same validation set every epoch). Batches without a mask get
    an all-zero mask. ``disturbance_kwargs`` go to ``random_disturbance``.

    ``augment_only=True`` is the detector's robustness augmentation: training batches are disturbed,
    the targets stay ``(mask,)`` and validation batches stay clean.
    """

    order = 1

    def __init__(self, seed: int = 0, augment_only: bool = False, **disturbance_kwargs):
        self.seed, self.augment_only, self.kwargs = int(seed), bool(augment_only), disturbance_kwargs

    def before_batch(self):
        from ..perturb import random_disturbance

        if self.augment_only and not self.training:
            return
        clean = self.xb[0]
        mask = self.yb[0] if len(self.yb) else torch.zeros_like(clean[:, :1])
        key = (self.seed, self.epoch, self.iter, 0) if self.training else (self.seed, self.iter, 1)
        g = torch.Generator().manual_seed(derive_seed(*key))
        disturbed, labels, strength = random_disturbance(clean, generator=g, **self.kwargs)
        self.learn.xb = (disturbed,)
        if not self.augment_only:
            self.learn.yb = (mask, clean, labels, strength)


def resample_views(x: torch.Tensor, generator: torch.Generator, p: float, scale=(0.5, 1.0)) -> torch.Tensor:
    """Each image of ``x`` (B, C, H, W), with probability ``p``: shrunk by a random factor in ``scale``
    (bilinear, antialiased) and enlarged back, so its values leave the 8-bit grid as a resized photo's do."""
    out = []
    for img in x:
        if p > 0 and float(torch.rand((), generator=generator)) < p:
            s = scale[0] + (scale[1] - scale[0]) * float(torch.rand((), generator=generator))
            small = F.interpolate(img[None], scale_factor=s, mode="bilinear", antialias=True, align_corners=False)
            img = F.interpolate(small, size=img.shape[-2:], mode="bilinear", align_corners=False)[0].clamp(0.0, 1.0)
        out.append(img)
    return torch.stack(out)


class ValuePriorCallback(Callback):
    """Sets a restorer's value prior (``prior_fill=True``, :meth:`~paper_repro.models.restorer.Restorer.set_value_prior`)
    before its fit: the histogram of the 8-bit codes of up to ``n_images`` clean training photos (a seeded
    choice, read whole, so the crop generator is not touched). The restorer fills a clipped pixel with the mean
    of this histogram inside the pixel's interval. Runs at the start of a fresh fit only (a resumed fit finds
    the prior in ``last.pt``). Our design."""

    order = 97  # after CheckpointResumeCallback (95): it knows whether the fit resumes

    def __init__(self, seed: int = 0, n_images: int = 256):
        self.seed, self.n_images = int(seed), int(n_images)

    def before_fit(self):
        model = self.learn.model
        if not getattr(model, "prior_fill", False) or getattr(self.learn, "resumed_from", None):
            return
        model.set_value_prior(self.histogram(self.learn.dls.train.dataset))

    def histogram(self, dataset) -> np.ndarray:
        """Counts (256,) of the codes of the chosen photos (every channel)."""
        # the photos themselves: a wrapper that tampers them on the fly (``real``) is looked through
        source = dataset if hasattr(dataset, "read") else getattr(dataset, "real", dataset)
        read = getattr(source, "read", None)
        n = len(source)
        rng = np.random.default_rng([self.seed, 0x9A10])
        idx = rng.permutation(n)[:min(self.n_images, n)]
        counts = np.zeros(256, dtype=np.float64)
        for i in idx:
            img = read(int(i))[0] if read is not None else source[int(i)][0].permute(1, 2, 0).numpy()
            codes = np.clip(np.rint(np.asarray(img, dtype=np.float32) * 255.0), 0, 255).astype(np.int64)
            counts += np.bincount(codes.reshape(-1), minlength=256)
        return counts


class ClassifierPretrainCallback(Callback):
    """Trains the restorer's disturbance classifier on its own before the restorer's fit (classify, then restore).

    The classifier is small and its inputs cheap, so it gets many more examples than the restorer's steps
    give it: ``steps`` AdamW steps (one-cycle, peak ``lr``) on ``batch`` random training crops, each seen in
    ``views`` independent random disturbances (:func:`paper_repro.perturb.random_disturbance` with the
    restorer's ``disturbance_kwargs``); a share ``resample_p`` of the crops is first resampled
    (:func:`resample_views`), so the classifier meets photos on and off the 8-bit grid. The loss is the
    cross-entropy of the class plus ``strength_weight`` times the smooth-L1 of the true class's strength, the
    restorer loss's own terms. Runs at the start of a fresh fit only (a resumed fit finds the trained
    classifier in ``last.pt``); its randomness comes from its own generator seeded by ``seed``, so the fit that
    follows is the same with or without it. With ``freeze`` (default) the classifier is then frozen for the
    restorer's fit (:meth:`~paper_repro.models.restorer.Restorer.freeze_classifier`: no gradient, batch-norm
    statistics kept), so the restorer's batches, all on the 8-bit grid, do not pull it back from what the
    resampled views taught it. Our design; all numbers are parameters.

    ``cache_dir``: where a pretrained classifier is kept, keyed by everything its training depends on (its
    initial weights, this callback's settings, the training images and the state of their crop generator). The
    restorers of one profile (Tables 7 and 8 vary the attention and the loss, not the classifier) start from
    the same classifier and the same data, so all but the first load it instead of training it again: the same
    weights, without the minutes.
    """

    order = 96  # after CheckpointResumeCallback (95): it knows whether the fit resumes

    def __init__(self, seed: int = 0, steps: int = 2000, batch: int = 8, views: int = 2, lr: float = 2e-3,
                 resample_p: float = 0.5, strength_weight: float = 0.1, disturbance_kwargs: dict | None = None,
                 progress: bool = True, freeze: bool = True, cache_dir: str | os.PathLike | None = None):
        if steps < 0 or batch < 1 or views < 1:
            raise ValueError(f"classifier pretraining: steps >= 0, batch >= 1, views >= 1; got {steps}, {batch}, {views}")
        self.seed, self.steps, self.batch, self.views, self.lr = int(seed), int(steps), int(batch), int(views), float(lr)
        self.resample_p, self.strength_weight = float(resample_p), float(strength_weight)
        self.disturbance_kwargs, self.progress, self.freeze = dict(disturbance_kwargs or {}), bool(progress), bool(freeze)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.history: list[float] = []

    def before_fit(self):
        resumed = getattr(self.learn, "resumed_from", None)
        classifier = getattr(self.learn.model, "classifier", None)
        if classifier is None or not self.steps:
            return
        if not resumed:
            dataset = self.learn.dls.train.dataset
            path = None if self.cache_dir is None else self.cache_dir / f"{self.cache_key(classifier, dataset)}.pt"
            if path is not None and path.is_file():
                saved = torch.load(path, map_location="cpu", weights_only=True)
                classifier.load_state_dict(saved["state"])
                self.history = [float(v) for v in saved["history"]]
                if rank_distrib() == 0:
                    print(f"disturbance classifier: {self.steps} steps, loaded from {path.name}", flush=True)
            else:
                self.pretrain(classifier, dataset)
                if path is not None and rank_distrib() == 0:
                    state = {"state": classifier.state_dict(), "history": self.history}
                    atomic_write(path, lambda tmp: torch.save(state, tmp))
        if self.freeze and hasattr(self.learn.model, "freeze_classifier"):
            self.learn.model.freeze_classifier()

    def cache_key(self, classifier: torch.nn.Module, dataset) -> str:
        """A digest of what the pretraining depends on: the classifier's weights (and buffers) before it, the
        settings, the dataset's rows and size policy, and its crop generator's state."""
        h = hashlib.sha256()
        for name, t in classifier.state_dict().items():
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        settings = [self.seed, self.steps, self.batch, self.views, self.lr, self.resample_p, self.strength_weight,
                    sorted((k, repr(v)) for k, v in self.disturbance_kwargs.items())]
        h.update(repr(settings).encode())
        df = getattr(dataset, "df", None)
        if df is not None:
            h.update(pd.util.hash_pandas_object(df.astype(str), index=False).values.tobytes())
        for attr in ("size", "policy", "train", "grid", "threshold"):
            h.update(repr(getattr(dataset, attr, None)).encode())
        rng = getattr(dataset, "_rng", None)
        h.update(repr(getattr(getattr(rng, "bit_generator", None), "state", None)).encode())
        return h.hexdigest()[:20]

    def pretrain(self, classifier: torch.nn.Module, dataset) -> list[float]:
        """The training loop; returns (and keeps in ``history``) the loss of every step."""
        from fastprogress.fastprogress import progress_bar

        from ..perturb import random_disturbance

        g = torch.Generator().manual_seed(derive_seed(self.seed, 0xC1A5))
        params = [p for p in classifier.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=self.steps, pct_start=0.25)
        was_training = classifier.training
        classifier.train()
        device = next(classifier.parameters()).device
        bar = progress_bar(range(self.steps), leave=False, comment="disturbance classifier") if self.progress \
            else range(self.steps)
        t0 = time.perf_counter()
        for _ in bar:
            idx = torch.randint(len(dataset), (self.batch,), generator=g).tolist()
            x = torch.stack([dataset[i][0] for i in idx]).repeat(self.views, 1, 1, 1)
            x = resample_views(x, g, self.resample_p)
            xp, labels, strength = random_disturbance(x, generator=g, **self.disturbance_kwargs)
            logits, s_pred = classifier(xp.to(device))
            labels, strength = labels.to(device), strength.to(device).float()
            loss = F.cross_entropy(logits.float(), labels)
            if self.strength_weight:
                s = s_pred.float()
                s = s.gather(1, labels.view(-1, 1)).reshape(-1) if s.shape[1] > 1 else s.reshape(-1)
                loss = loss + self.strength_weight * F.smooth_l1_loss(s, strength, beta=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            self.history.append(float(loss.detach()))
        classifier.train(was_training)
        opt.zero_grad(set_to_none=True)
        if not self.progress and self.history and rank_distrib() == 0:
            k = min(50, len(self.history))
            print(f"disturbance classifier: {self.steps} steps, loss {np.mean(self.history[:k]):.4f} -> "
                  f"{np.mean(self.history[-k:]):.4f} ({time.perf_counter() - t0:.0f}s)", flush=True)
        return self.history


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


# ------------------------------------------------------------------------------------------- logging
def _as_float(v):
    if isinstance(v, torch.Tensor):
        return float(v.detach().float().mean())
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


class LossPartsCallback(Callback):
    """Per-epoch means of ``learn.loss_func.parts`` (train and valid) -> ``recorder.loss_parts`` and a CSV.

    ``csv_path``: when given, after every epoch the recorder's table (epoch, train_loss, valid_loss,
    metrics) plus the loss parts (``train_<part>``, ``valid_<part>``) is rewritten atomically there.
    """

    order = 55  # after Recorder (50) so the epoch's row exists

    def __init__(self, csv_path: str | os.PathLike | None = None):
        self.csv_path = Path(csv_path) if csv_path is not None else None
        self.history: list[dict] = []

    def before_fit(self):
        self.history = []
        if hasattr(self.learn, "recorder"):
            self.learn.recorder.__dict__["loss_parts"] = self.history  # plain attribute, no shadowing warning

    def before_epoch(self):
        self._sums, self._counts = {}, {}
        pending = getattr(self, "_pending", None)
        if pending is not None:  # resuming inside this epoch
            self._sums = {k: torch.tensor(v) for k, v in pending[0].items()}
            self._counts = dict(pending[1])
            self._pending = None

    def after_batch(self):
        parts = getattr(self.learn.loss_func, "parts", None)
        if not parts:
            return
        split = "train" if self.training else "valid"
        for k, v in parts.items():
            key = f"{split}_{k}"
            self._sums[key] = self._sums.get(key, 0.0) + v.detach().float()
            self._counts[key] = self._counts.get(key, 0) + 1

    def after_epoch(self):
        row = {"epoch": int(self.epoch)}
        row.update({k: float(self._sums[k]) / self._counts[k] for k in sorted(self._sums)})
        self.history.append(row)
        self._sums, self._counts = {}, {}
        if self.csv_path is not None and rank_distrib() == 0:
            self.write_csv()

    def table(self) -> list[dict]:
        """One dict per epoch: the recorder's values and the loss parts."""
        rec = getattr(self.learn, "recorder", None)
        names = [n for n in (list(rec.metric_names)[1:] if rec is not None else []) if n != "time"]
        rows = []
        for i, parts in enumerate(self.history):
            row = {"epoch": parts["epoch"]}
            if rec is not None and i < len(rec.values):
                row.update({n: _as_float(v) for n, v in zip(names, rec.values[i])})
            row.update({k: v for k, v in parts.items() if k != "epoch"})
            rows.append(row)
        return rows

    def write_csv(self):
        rows = self.table()
        if not rows:
            return
        cols = list(dict.fromkeys(k for r in rows for k in r))

        def write(tmp):
            with open(tmp, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=cols)
                w.writeheader()
                w.writerows(rows)

        atomic_write(self.csv_path, write)

    # resume support (see CheckpointResumeCallback): the history and this epoch's training sums
    def get_state(self):
        train = {k: float(v) for k, v in getattr(self, "_sums", {}).items() if k.startswith("train_")}
        counts = {k: self._counts[k] for k in train}
        return {"history": [dict(r) for r in self.history], "sums": train, "counts": counts}

    def set_state(self, state):
        self.history[:] = [dict(r) for r in state["history"]]
        self._pending = (dict(state.get("sums", {})), dict(state.get("counts", {})))


class EpochLogCallback(Callback):
    """One plain-text line per epoch (``epoch 2/3  train_loss 0.41  valid_loss 0.44  f1 0.62  (3.1s)``).

    Replaces fastai's table logger; with ``quiet=True`` the Learner has no progress bars either, so
    papermill notebooks stay small.
    """

    order = 60

    def __init__(self, print_fn=print):
        self.print_fn = print_fn

    def before_fit(self):
        self._old_logger = self.learn.logger
        self.learn.logger = lambda *a, **k: None
        self._t0 = time.time()

    def before_epoch(self):
        self._t = time.time()

    def after_epoch(self):
        if rank_distrib() != 0:  # one line per epoch, not one per process
            return
        rec = self.learn.recorder
        names = [n for n in list(rec.metric_names)[1:] if n != "time"]
        vals = getattr(self.learn, "final_record", None) or []
        fields = []
        for n, v in zip(names, vals):
            v = _as_float(v)
            fields.append(f"{n} {v:.4f}" if isinstance(v, float) and math.isfinite(v) else f"{n} {v}")
        parts = getattr(rec, "loss_parts", None)
        if parts:
            fields += [f"{k} {v:.4f}" for k, v in parts[-1].items() if k.startswith("train_") and k != "epoch"]
        self.print_fn(f"epoch {self.epoch + 1}/{self.n_epoch}  " + "  ".join(fields) + f"  ({time.time() - self._t:.1f}s)")

    def after_fit(self):
        self.learn.logger = self._old_logger


# ------------------------------------------------------------------------------------------- metrics
def _logits(pred):
    if isinstance(pred, dict):
        if "logits" not in pred:
            raise KeyError(f"pixel metrics need pred['logits']; model returned {sorted(pred)}")
        return pred["logits"]
    return pred


class _PerImageMean(Metric):
    """A fastai metric averaging finite per-image values over an epoch (subclasses implement ``accumulate``
    and call :meth:`_add`)."""

    def reset(self):
        self.total, self.count = 0.0, 0

    def _add(self, v: float):
        self.total += v
        self.count += 1

    @property
    def value(self):
        return self.total / self.count if self.count else float("nan")


class PixelMetric(_PerImageMean):
    """Mean per-image pixel F1 or IoU at ``threshold`` over the validation set.

    Per-image scores come from :class:`paper_repro.metrics.MetricAccumulator` (vectorised confusion
    counts); authentic images (empty masks) are NaN under its default ``empty_policy="nan"`` and are left
    out of the mean, as IMDL-BenCo / MPC report pixel scores. An epoch of only authentic images gives NaN.
    Predictions are resized bilinearly to the mask if their sizes differ.
    """

    def __init__(self, kind: str = "f1", threshold: float = 0.5):
        if kind not in ("f1", "iou", "precision", "recall"):
            raise ValueError(f"PixelMetric kind must be 'f1', 'iou', 'precision' or 'recall', got {kind!r}")
        self.kind, self.threshold = kind, threshold

    def accumulate(self, learn):
        from ..metrics import MetricAccumulator

        logits = _logits(learn.pred).detach().float()
        mask = learn.yb[0].detach()
        if logits.shape[-2:] != mask.shape[-2:]:
            logits = F.interpolate(logits, size=mask.shape[-2:], mode="bilinear", align_corners=False)
        acc = MetricAccumulator(threshold=self.threshold)
        acc.add(torch.sigmoid(logits), mask.reshape(mask.shape[0], 1, *mask.shape[-2:]))
        for row in acc.rows:
            v = float(row[self.kind])
            if math.isfinite(v):
                self._add(v)

    @property
    def name(self):
        return self.kind


class PSNRMetric(_PerImageMean):
    """Mean per-image PSNR (dB) of ``pred['restored']`` (clamped to [0, 1]) against the clean image ``yb[1]``
    (:func:`paper_repro.metrics.psnr`); a perfect restoration (infinite PSNR) counts as ``cap`` dB."""

    def __init__(self, cap: float = 100.0):
        self.cap = cap

    def accumulate(self, learn):
        from ..metrics import psnr

        restored = learn.pred["restored"].detach().float().clamp(0, 1).cpu()
        clean = learn.yb[1].detach().float().cpu()
        for v in np.atleast_1d(psnr(restored, clean)):
            self._add(min(float(v), self.cap))

    @property
    def name(self):
        return "psnr"


# ---------------------------------------------------------------------------------- checkpoint / resume
def atomic_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path.tmp`` then ``os.replace`` -> a reader never sees a half-written file."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))
    return path


def _builtin(v):
    """fastcore ``L`` / tuples -> lists, recursively (tensors kept): ``weights_only``-safe containers."""
    if isinstance(v, dict):
        return {k: _builtin(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)) or type(v).__name__ == "L":
        return [_builtin(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _plain(v):
    """Recorder values -> python floats / ints / strings (safe for ``weights_only`` loading)."""
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().item() if v.numel() == 1 else v.detach().cpu()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


class CheckpointResumeCallback(Callback):
    """Atomic resume checkpoints, and exact resumption at fit start.

    Saved to ``ckpt_dir/last.pt`` (``tmp`` + ``os.replace``): after every epoch; every ``every`` training
    batches when ``every`` is an int (or ``every_n_batches``); and when the fit is interrupted
    (``CancelFitException`` or ``KeyboardInterrupt``/any exception) between two batches. An
    interruption in the middle of a batch (the step may be half done) keeps the previous checkpoint.

    Contents: model and optimiser state, ``GradScaler`` state (fp16), epoch and batches done in it,
    ``train_iter`` and ``pct_train`` (the one-cycle schedule position), the recorder's history (and
    fastai's smooth loss), the ``ParamScheduler`` history, the states of callbacks that define
    ``get_state``/``set_state`` (loss parts), and the python / numpy / torch / CUDA RNG states.

    On ``before_fit``, if ``last.pt`` exists and ``resume`` is true: everything is restored, finished
    epochs are skipped, the interrupted epoch replays the (per-epoch seeded) data order without training
    on the finished batches, and RNG states are restored right where they were saved. With the same seed
    and data the final weights and metrics equal those of an uninterrupted run. A checkpoint made with a
    different number of epochs or batches per epoch raises (delete it or pass ``resume=False``).
    """

    order = 95  # last: sees the recorder / scheduler / TrainEval state of each batch

    def __init__(self, ckpt_dir: str | os.PathLike, every: str | int = "epoch", resume: bool = True,
                 fname: str = "last.pt", verbose: bool = True, every_n_batches: int | None = None):
        if every != "epoch" and not (isinstance(every, int) and every > 0):
            raise ValueError(f"every must be 'epoch' or a positive number of batches, got {every!r}")
        if isinstance(every, int):
            every_n_batches = every
        self.ckpt_dir, self.fname = Path(ckpt_dir), fname
        self.every_n_batches = int(every_n_batches) if every_n_batches else None
        self.resume, self.verbose = resume, verbose
        self.resumed_from = None
        self._in_batch = False
        self._active = False

    @property
    def path(self) -> Path:
        return self.ckpt_dir / self.fname

    # ---- state ------------------------------------------------------------------------------
    def _stateful_cbs(self):
        return {type(cb).__name__: cb for cb in self.learn.cbs if cb is not self and hasattr(cb, "get_state")}

    def _state(self, epoch: int, batches_done: int, rng: dict, pct_train: float, train_iter: int) -> dict:
        learn = self.learn
        rec = getattr(learn, "recorder", None)
        state = {
            "format": RESUME_FORMAT,
            "epoch": int(epoch), "batches_done": int(batches_done),
            "n_epoch": int(learn.n_epoch), "n_iter": int(learn.train_batches()),
            "train_iter": int(train_iter), "pct_train": float(pct_train),
            "model": get_model(learn.model).state_dict(),
            "opt": _builtin(opt_state(learn.opt)) if learn.opt is not None else None,
            "rng": rng,
            "cb_states": {k: cb.get_state() for k, cb in self._stateful_cbs().items()},
        }
        scaler = getattr(learn, "scaler", None)
        if scaler is not None and hasattr(scaler, "state_dict"):
            state["scaler"] = scaler.state_dict()
        if rec is not None:
            state["recorder"] = {
                "lrs": _plain(list(getattr(rec, "lrs", []))), "iters": _plain(list(getattr(rec, "iters", []))),
                "losses": _plain(list(getattr(rec, "losses", []))),
                "values": _plain([list(v) for v in getattr(rec, "values", [])]),
                "smooth": [int(rec.smooth_loss.count), rec.smooth_loss.val.detach().cpu().float()],
            }
            if hasattr(rec, "hps"):
                state["recorder"]["hps"] = _plain(rec.hps)
        sched = [cb for cb in learn.cbs if isinstance(cb, ParamScheduler)]
        if sched and hasattr(sched[0], "hps"):
            state["hps"] = _plain(sched[0].hps)
        return state

    def save(self, epoch: int, batches_done: int, rng: dict | None = None, pct_train=None, train_iter=None) -> Path | None:
        if rank_distrib() != 0:
            return None
        st = self._state(epoch, batches_done, rng if rng is not None else get_rng_state(),
                         self.learn.pct_train if pct_train is None else pct_train,
                         self.learn.train_iter if train_iter is None else train_iter)
        return atomic_save(st, self.path)

    def load_state(self) -> dict:
        try:
            st = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"{self.path}: cannot read resume checkpoint ({type(e).__name__}: {e}); "
                               "delete it to start afresh") from None
        if not isinstance(st, dict) or st.get("format") != RESUME_FORMAT:
            raise RuntimeError(f"{self.path}: not a paper_repro resume checkpoint")
        return st

    # ---- events -----------------------------------------------------------------------------
    def before_fit(self):
        if not hasattr(self.learn, "train_batches"):
            raise TypeError("CheckpointResumeCallback needs a paper_repro.train.ResumableLearner (make_learner builds one)")
        self._active, self._in_batch, self._saved_epoch = True, False, -1
        self._done, self._trained, self._last = 0, False, None
        self.learn.resume_epoch, self.learn.resume_point, self.learn.resumed_from = 0, None, None
        if not (self.resume and self.path.exists()):
            return
        st = self.load_state()
        learn = self.learn
        n_iter = learn.train_batches()
        if st["n_epoch"] != learn.n_epoch or st["n_iter"] != n_iter:
            raise RuntimeError(
                f"{self.path} was written by a fit of {st['n_epoch']} epochs x {st['n_iter']} batches, this fit has "
                f"{learn.n_epoch} x {n_iter}; delete the checkpoint (or pass resume=False) to start afresh")
        get_model(learn.model).load_state_dict(st["model"])
        if st.get("opt") is not None:
            load_opt_state(learn.opt, st["opt"], where=str(self.path))
        if st.get("scaler") is not None and getattr(learn, "scaler", None) is not None:
            learn.scaler.load_state_dict(st["scaler"])
        rec = getattr(learn, "recorder", None)
        if rec is not None and "recorder" in st:
            r = st["recorder"]
            rec.lrs, rec.iters, rec.losses = list(r["lrs"]), list(r["iters"]), list(r["losses"])
            from fastcore.foundation import L

            rec.values = [L(v) for v in r["values"]]
            rec.smooth_loss.count, rec.smooth_loss.val = int(r["smooth"][0]), r["smooth"][1]
            if rec.values:
                learn.final_record = rec.values[-1].copy()
        if "hps" in st:
            for cb in learn.cbs:
                if isinstance(cb, ParamScheduler):
                    cb.hps = {k: list(v) for k, v in st["hps"].items()}
        cbs = self._stateful_cbs()
        for k, s in st.get("cb_states", {}).items():
            if k in cbs:
                cbs[k].set_state(s)
        learn.train_iter = st["train_iter"]
        learn.resume_epoch = st["epoch"]
        learn.resume_point = {"epoch": st["epoch"], "skip": st["batches_done"], "pct_train": st["pct_train"],
                              "train_iter": st["train_iter"], "rng": st["rng"]}
        self._saved_epoch = st["epoch"] - 1 if st["batches_done"] == 0 else -1
        self.resumed_from = learn.resumed_from = (st["epoch"], st["batches_done"])
        if self.verbose and rank_distrib() == 0:
            where = (f"epoch {st['epoch'] + 1}, batch {st['batches_done']}" if st["batches_done"]
                     else f"the start of epoch {st['epoch'] + 1}")
            if st["epoch"] >= learn.n_epoch:
                print(f"resume: {self.path} holds a finished fit of {learn.n_epoch} epochs; nothing to train")
            else:
                print(f"resume: continuing from {self.path} at {where} of {learn.n_epoch}")

    def before_epoch(self):
        self._done, self._trained = 0, False
        res = getattr(self.learn, "resume_point", None)
        if res is not None and res["epoch"] == self.epoch:
            self._done = res["skip"]

    def before_batch(self):
        if self.training:
            self._in_batch = True

    def after_batch(self):
        if not self.training:
            return
        self._in_batch = False
        self._done = self.iter + 1
        self._last = (get_rng_state(), float(self.learn.pct_train), int(self.learn.train_iter))
        if self.every_n_batches and self._done % self.every_n_batches == 0 and self._done < self.learn.n_iter:
            self.save(self.epoch, self._done, *self._last)

    def after_train(self):
        self._trained = True

    def after_epoch(self):
        self.save(self.epoch + 1, 0)
        self._saved_epoch = self.epoch

    def after_cancel_fit(self):
        self.on_interrupt()

    def after_fit(self):
        self._active = False

    def on_interrupt(self):
        """Save the position reached if the fit stopped between two training batches of an unsaved epoch."""
        if not self._active or self._in_batch or self._last is None or self._done == 0:
            return
        if self._saved_epoch == self.epoch or getattr(self.learn, "fit_completed", False):
            return  # saved already, or a deliberate stop (KeepBestCallback): nothing to resume
        rng, pct, it = self._last
        done = self.learn.train_batches() if self._trained else self._done
        try:
            path = self.save(self.epoch, done, rng, pct, it)
        except Exception as e:  # noqa: BLE001 - never mask the original interruption
            warnings.warn(f"could not save the interrupted state to {self.path}: {e}")
            return
        self._active = False
        if path is not None and self.verbose:
            print(f"interrupted: saved epoch {self.epoch + 1}, batch {done} to {path}; rerun to resume")
