"""fastai callbacks for reproducible, resumable training (small units in fastai's style), one module per concern.

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

One module per concern: ``seeding``, ``layout`` (precision, memory format), ``disturbance`` (restorer
training), ``tracking`` (what a fit keeps, when it validates), ``records``, ``metrics``, ``resume``.
Skipping finished epochs / batches needs two small hooks in the training loop; they live in
:class:`paper_repro.train.learner.ResumableLearner` (``_do_fit`` and ``all_batches``).
"""
from __future__ import annotations

from .seeding import seed_everything, derive_seed, get_rng_state, set_rng_state, reseed_loader, SeedCallback  # noqa: F401
from .layout import to_fp32, AutocastCallback, ChannelsLastCallback, cpu_supports_bf16, resolve_precision  # noqa: F401
from .disturbance import DisturbanceCallback, resample_views, ValuePriorCallback, ClassifierPretrainCallback  # noqa: F401
from .tracking import LastEpochValidationCallback, KeepBestCallback, EMACallback  # noqa: F401
from .records import LossPartsCallback, EpochLogCallback  # noqa: F401
from .metrics import PixelMetric, PSNRMetric  # noqa: F401
from .resume import atomic_save, CheckpointResumeCallback, RESUME_FORMAT  # noqa: F401
