"""Training: fastai ``Learner`` factories (:func:`make_learner`), the :func:`fit` helper, final checkpoints
(:func:`load_model`) and the callbacks that make runs reproducible and resumable (:mod:`.callbacks`).

Names are imported on first use (PEP 562), so ``from paper_repro.train import load_model`` reads a checkpoint
without importing fastai (``paper-repro predict`` starts in a fraction of the time)."""
from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("AutocastCallback", "ChannelsLastCallback", "CheckpointResumeCallback",
                     "ClassifierPretrainCallback", "DisturbanceCallback", "EMACallback", "EpochLogCallback", "KeepBestCallback", "LastEpochValidationCallback", "LossPartsCallback", "PixelMetric", "PSNRMetric", "SeedCallback", "ValuePriorCallback",
                     "derive_seed", "get_rng_state", "resample_views", "reseed_loader", "seed_everything", "set_rng_state"),
                    ".callbacks"),
    **dict.fromkeys(("MASK_STAGES", "STAGES", "DictLoss", "ResumableLearner", "fit", "make_learner",
                     "save_final_checkpoint"), ".learner"),
    **dict.fromkeys(("load_model", "read_checkpoint"), ".checkpoints"),
    **dict.fromkeys(("Stage", "StageContext", "register_stage"), ".stages"),
    **dict.fromkeys(("resolve_precision", "cpu_supports_bf16"), ".precision"),
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
