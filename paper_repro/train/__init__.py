"""Training: fastai ``Learner`` factories (:func:`make_learner`), the :func:`fit` helper, final checkpoints
(:func:`load_model`) and the callbacks that make runs reproducible and resumable (:mod:`.callbacks`)."""
from .callbacks import (AutocastCallback, ChannelsLastCallback, CheckpointResumeCallback,  # noqa: F401
                        DisturbanceCallback, EpochLogCallback, LossPartsCallback, PixelMetric, PSNRMetric,
                        SeedCallback, derive_seed, get_rng_state, reseed_loader, resolve_precision,
                        seed_everything, set_rng_state)
from .learner import (MASK_STAGES, STAGES, DictLoss, ResumableLearner, fit, load_model, make_learner,  # noqa: F401
                      read_checkpoint, save_final_checkpoint)
