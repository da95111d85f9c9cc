"""The named training runs and their cache: every model a notebook uses is trained once per profile.

:data:`RUNS` names each run (model, stage, configuration); :func:`train_or_load` trains one into
``profile.checkpoints_dir/<key>/final.pt`` (resuming from ``last.pt`` after an interruption) and returns the
cached file on later calls while its spec (``spec.json``: model, profile fields, loss, schedule, data
fingerprint) is unchanged; :func:`checkpoint` / :func:`load` do so by run key.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import profiles as _profiles
from .identity import frame_fingerprint, spec_hash
from .splits import datasets_for


@dataclass(frozen=True)
class Run:
    """A named training run: ``model`` at ``stage`` with ``model_cfg`` (on top of the profile's) and
    ``loss_cfg``; ``init_from`` names the run whose ``final.pt`` initialises it (MPC stage 2).

    ``budget``: ``"table"`` (the budget every row of a comparison table gets) or ``"main"`` (the shipped
    models, :attr:`Profile.main_budget <paper_repro.profiles.Profile>`); ``seed``: a training seed other than
    the profile's (weights' initialisation and batch order; the split and the data stay the profile's);
    ``augment``: disturb the detector's training images with brightness / contrast (``True``, the restorer's
    training distribution), never (``False``) or as the profile says (``None``); ``compare``: a row of the
    method comparison (:data:`paper_repro.experiments.tables.METHODS`), beside ReConWave-Net."""

    model: str
    stage: str
    model_cfg: dict = field(default_factory=dict)
    loss_cfg: dict = field(default_factory=dict)
    init_from: str | None = None
    label: str = ""
    budget: str = "table"
    seed: int | None = None
    augment: bool | None = None
    compare: bool = False


#: Every model the notebooks train, by key (= its folder under ``profile.checkpoints_dir``). ``reconwave`` and
#: ``restorer`` are the shipped models (``main`` budget: Tables 1-3 and 6, ``predict``); every row of the
#: comparison tables (4, 5, 7, 8, the method comparison and the restoration-or-augmentation study) is trained at
#: the ``table`` budget, its reference row included (``reconwave-table``, ``restorer-table``).
RUNS: dict[str, Run] = {
    "reconwave": Run("reconwave", "detector", label="ReConWave-Net detector, shipped (DWFEL + contrastive, Haar)",
                     budget="main"),
    "restorer": Run("restorer", "restorer", label="ReConWave-Net restorer, shipped (Swin, forensic loss)",
                    budget="main"),
    "reconwave-table": Run("reconwave", "detector", label="ReConWave-Net detector (DWFEL + contrastive, Haar)"),
    "reconwave-table-seed1": Run("reconwave", "detector", label="ReConWave-Net detector, training seed 1", seed=1),
    "reconwave-table-seed2": Run("reconwave", "detector", label="ReConWave-Net detector, training seed 2", seed=2),
    "reconwave-table-augmented": Run("reconwave", "detector", augment=True,
                                     label="ReConWave-Net detector trained on disturbed images"),
    "reconwave-plain": Run("reconwave", "detector", {"dwfel": False, "contrastive": False}, label="U-Net baseline"),
    "reconwave-dwfel": Run("reconwave", "detector", {"dwfel": True, "contrastive": False}, label="+ DWFEL"),
    "reconwave-contrastive": Run("reconwave", "detector", {"dwfel": False, "contrastive": True},
                                 label="+ contrastive"),
    "reconwave-sym4": Run("reconwave", "detector", {"wavelet": "sym4"}, label="ReConWave-Net, Symlet4"),
    "reconwave-bior4.4": Run("reconwave", "detector", {"wavelet": "bior4.4"}, label="ReConWave-Net, Biorthogonal4.4"),
    # a second training seed of every other arm of Tables 4 and 5, and of Table 7's / 8's reference restorer:
    # the claims read each arm as the mean over its seeds, with the spread of those seeds as its training noise
    **{f"{k}-seed1": Run("reconwave", "detector", cfg, label=f"{label}, training seed 1", seed=1)
       for k, cfg, label in (("reconwave-plain", {"dwfel": False, "contrastive": False}, "U-Net baseline"),
                             ("reconwave-dwfel", {"dwfel": True, "contrastive": False}, "+ DWFEL"),
                             ("reconwave-contrastive", {"dwfel": False, "contrastive": True}, "+ contrastive"),
                             ("reconwave-sym4", {"wavelet": "sym4"}, "ReConWave-Net, Symlet4"),
                             ("reconwave-bior4.4", {"wavelet": "bior4.4"}, "ReConWave-Net, Biorthogonal4.4"))},
    "restorer-table": Run("restorer", "restorer", label="restorer (Swin, forensic loss)"),
    "restorer-table-seed1": Run("restorer", "restorer", label="restorer (Swin, forensic loss), training seed 1",
                                seed=1),
    "restorer-vit": Run("restorer", "restorer", {"attention": "vit"}, label="restorer (ViT)"),
    "restorer-deformable": Run("restorer", "restorer", {"attention": "deformable"}, label="restorer (deformable)"),
    "restorer-l1": Run("restorer", "restorer", loss_cfg={"forensic": False}, label="restorer (plain L1 loss)"),
    "lpclnet": Run("lpclnet", "detector", label="LPCLNet", compare=True),
    "ncl": Run("ncl", "detector", label="NCL", compare=True),
    "mpc-pretrain": Run("mpc", "pretrain", label="MPC stage 1 (pixel-contrastive pretraining)"),
    "mpc": Run("mpc-finetune", "finetune", init_from="mpc-pretrain", label="MPC stage 2 (frozen backbone + head)",
               compare=True),
}


#: The reference configuration trained with three seeds: their spread is the training noise of the tables.
SEED_RUNS = ("reconwave-table", "reconwave-table-seed1", "reconwave-table-seed2")
#: Every run trained with more than one seed -> its seed runs (the first is the run itself).
ARM_SEEDS: dict[str, tuple[str, ...]] = {
    "reconwave-table": SEED_RUNS,
    **{k: (k, f"{k}-seed1") for k in ("reconwave-plain", "reconwave-dwfel", "reconwave-contrastive",
                                       "reconwave-sym4", "reconwave-bior4.4", "restorer-table")},
}


def profile_for(profile="smoke", data_root=None, **overrides) -> _profiles.Profile:
    """The notebooks' parameters -> a :class:`~paper_repro.profiles.Profile` (``data_root`` when given)."""
    if data_root not in (None, ""):
        overrides["data_root"] = data_root
    return _profiles.get(profile, **overrides)

_CKPT_FILES = ("final.pt", "last.pt", "history.csv", "losses.csv", "spec.json", "budget.json")


def _spec(profile, model_name, model_cfg, stage, loss_cfg, data_fp, init_spec, disturbance_cfg,
          schedule: dict, augmented: bool, onthefly, table_validation: str) -> dict:
    """Everything a trained run depends on, every field always (:mod:`paper_repro.cache`)."""
    from .. import __version__
    from ..cache import keyed
    from ..data import loader_workers

    cfg = profile.model_cfg(model_name)
    cfg.update(model_cfg or {})
    spec = {"version": __version__, "model_name": model_name, "model_cfg": cfg, "stage": stage,
            "loss_cfg": dict(loss_cfg or {}), "schedule": schedule, "size": list(profile.size),
            "batch_size": profile.batch_size, "seed": profile.seed, "precision": profile.precision,
            "data": data_fp, "init_from": init_spec, "disturbance_cfg": dict(disturbance_cfg or {}),
            # loader workers draw their own flip stream, so where items are loaded changes the trained model
            "loader_workers": loader_workers(profile.num_workers, profile.cache_images),
            "optimizer": profile.optimizer, "schedule_kind": profile.schedule,
            "ema": None if profile.ema is None or stage == "restorer" else float(profile.ema),
            "size_policy": profile.size_policy, "crop_grid": profile.crop_grid,
            # an empty disturbance_cfg with augmentation on differs from none
            "augment": bool(augmented), "onthefly_tampering": onthefly, "table_validation": table_validation,
            "classifier_pretrain": dict(profile.classifier_pretrain) if stage == "restorer" else {}}
    return keyed(spec)  # as stored: tuples -> lists, with the cache schema


def _loads(path: Path) -> bool:
    """Whether ``final.pt`` rebuilds with the current code (a code change may make a cache stale)."""
    from ..train import load_model

    try:
        load_model(path)
        return True
    except Exception as err:  # noqa: BLE001 - any failure means: retrain
        warnings.warn(f"{path}: cached checkpoint does not load with the current code ({type(err).__name__}: "
                      f"{err}); retraining")
        return False


def _keep_authentic(df: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """``df`` with a seeded ``fraction`` of its authentic rows (``label == 0``) kept (see ``Profile.authentic_fraction``)."""
    if fraction >= 1.0 or "label" not in df.columns:
        return df
    authentic = df["label"].astype(int) == 0
    keep = df[authentic].sample(frac=float(fraction), random_state=seed)
    return pd.concat([df[~authentic], keep]).sort_index()


def train_or_load(profile, key: str, model_name: str, model_cfg: dict | None = None, stage: str | None = None,
                  loss_cfg: dict | None = None, init_from: str | os.PathLike | None = None, data=None,
                  disturbance_cfg: dict | None = None, force: bool = False, budget: str = "table",
                  seed: int | None = None) -> Path:
    """Train ``model_name`` once and return ``profile.checkpoints_dir/<key>/final.pt``.

    The run's *spec* (model + profile configuration, loss, schedule, image size, seed, a fingerprint of the
    training data and of ``init_from``) is stored in ``spec.json`` beside it. A later call with the same spec
    returns the cached ``final.pt`` without training (if it still loads); a different spec (or
    ``force=True``) removes the folder's checkpoint files and retrains. An interrupted run resumes from
    ``last.pt`` (written after every epoch by :class:`~paper_repro.train.CheckpointResumeCallback`).
    ``data`` = ``(train_df, valid_df)`` (default :func:`datasets_for`); detector and finetune stages keep
    ``profile.authentic_fraction`` of its authentic rows. The schedule is ``profile.stage(stage, budget, model_name)`` and
    the loss gets ``profile.loss_cfg(model_name, **loss_cfg)``; detector and finetune runs get
    ``profile.detector_disturbance`` (robustness augmentation) unless ``disturbance_cfg`` is given (``False``:
    none). ``budget`` picks the schedule (``"table"`` or ``"main"``, see :meth:`Profile.stage
    <paper_repro.profiles.Profile.stage>`); ``seed`` replaces the profile's training seed (initialisation and batch
    order; the data stay those of the profile's seed). Per-batch training losses are written to ``losses.csv``
    (see :func:`training_history`), the number of optimiser steps to ``budget.json``.
    """
    from ..data import make_dataloaders
    from ..models import stage_of
    from ..train import MASK_STAGES, STAGES, fit, make_learner

    profile = _profiles.get(profile)
    if not key or "/" in key or key.startswith("."):
        raise ValueError(f"train_or_load: key must be a plain folder name, got {key!r}")
    stage = stage or stage_of(model_name)
    if stage not in STAGES:
        raise ValueError(f"train_or_load: unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    train_df, valid_df = data if data is not None else datasets_for(profile)[:2]
    photos, onthefly = None, 0.0
    if stage in MASK_STAGES:
        if profile.onthefly_tampering:
            onthefly = float(profile.onthefly_tampering)
            photos = train_df[train_df["label"].astype(int) == 0]  # every authentic training photo
        train_df = _keep_authentic(train_df, profile.authentic_fraction, profile.seed)
        if disturbance_cfg is None and profile.detector_disturbance is not None:
            disturbance_cfg = dict(profile.detector_disturbance)
    if disturbance_cfg is False:
        disturbance_cfg = None
    augmented = stage in MASK_STAGES and disturbance_cfg is not None
    train_profile = profile if seed is None or int(seed) == profile.seed else profile.replace(seed=int(seed))
    loss_cfg = profile.loss_cfg(model_name, **(loss_cfg or {}))
    schedule = profile.stage(stage, budget, model=model_name)
    init_spec = None
    if init_from is not None:
        init_from = Path(init_from)
        if not init_from.is_file():
            raise FileNotFoundError(f"train_or_load({key!r}): init_from {init_from} does not exist")
        sj = init_from.parent / "spec.json"
        init_spec = spec_hash(json.loads(sj.read_text())) if sj.is_file() else f"{init_from.stat().st_size}"
    last_epoch_validation = budget == "table" and profile.table_validation == "last_epoch"
    spec = _spec(train_profile, model_name, model_cfg, stage, loss_cfg,
                 [frame_fingerprint(train_df), frame_fingerprint(valid_df)], init_spec, disturbance_cfg, schedule,
                 augmented, [onthefly, frame_fingerprint(photos)] if onthefly else None,
                 "last_epoch" if last_epoch_validation else "every_epoch")
    ckdir = Path(profile.checkpoints_dir) / key
    final, spec_path = ckdir / "final.pt", ckdir / "spec.json"
    old = json.loads(spec_path.read_text()) if spec_path.is_file() else None
    if not force and old == spec and final.is_file() and _loads(final):
        return final
    from fastai.torch_core import rank_distrib

    ckdir.mkdir(parents=True, exist_ok=True)
    if rank_distrib() == 0:  # under DDP every rank trains, rank 0 alone owns the folder
        if force or old != spec or final.is_file():  # stale or unusable: start afresh
            for f in _CKPT_FILES:
                if (ckdir / f).exists():
                    (ckdir / f).unlink()
        spec_path.write_text(json.dumps(spec, indent=1, sort_keys=True, default=str))

    dls = make_dataloaders(train_df, valid_df, size=profile.size, bs=profile.batch_size,
                           num_workers=profile.num_workers, seed=train_profile.seed, cache=profile.cache_images,
                           policy=profile.size_policy, grid=profile.crop_grid, onthefly=onthefly, photos=photos)
    schedule = dict(schedule)
    learn = make_learner(model_name, dls, profile=train_profile, model_cfg=model_cfg, loss_cfg=loss_cfg,
                         stage=stage, ckpt_dir=ckdir, quiet=True, init_from=init_from,
                         disturbance_cfg=disturbance_cfg, patience=schedule.pop("patience", None),
                         validate_last_epoch_only=last_epoch_validation)
    fit(learn, **schedule)
    if not final.is_file() and (rank_distrib() == 0 or not learn.fit_completed):
        raise RuntimeError(f"train_or_load({key!r}): training did not finish ({final} missing); "
                           f"call again to resume from {ckdir / 'last.pt'}")
    losses = [float(v) for v in getattr(learn.recorder, "losses", [])]
    if rank_distrib() == 0:
        pd.DataFrame({"step": np.arange(1, len(losses) + 1), "loss": losses}).to_csv(ckdir / "losses.csv", index=False)
        # the steps taken: fewer than the schedule's when a validation criterion stopped the fit early
        steps = int(getattr(learn, "train_iter", 0) or int(schedule["epochs"]) * int(learn.train_batches()))
        (ckdir / "budget.json").write_text(json.dumps({"steps": steps, "epochs": int(schedule["epochs"]),
                                                       "batch_size": int(profile.batch_size)}))
    return final


def checkpoint(profile, key: str) -> Path:
    """``final.pt`` of the named run :data:`RUNS[key] <RUNS>` (trained on :func:`datasets_for` if needed)."""
    if key not in RUNS:
        raise KeyError(f"unknown run {key!r}; runs: {', '.join(RUNS)}")
    run = RUNS[key]
    init = checkpoint(profile, run.init_from) if run.init_from else None
    disturbance = None if run.augment is None else ({} if run.augment else False)
    return train_or_load(profile, key, run.model, run.model_cfg, run.stage, run.loss_cfg, init_from=init,
                         disturbance_cfg=disturbance, budget=run.budget, seed=run.seed)


def run_budget(profile, key: str) -> dict:
    """What run ``key`` cost: ``steps`` (its own optimiser steps: an MPC head's, not its pretraining's), ``params`` (all
    parameters of the trained model) and ``encoder`` (``scratch`` or the pretrained encoder's name). A model
    that is not trained (the all-tampered reference, the classical correction) has ``steps`` 0."""
    from ..train import load_model

    if key not in RUNS:
        return {"steps": 0, "params": 0, "encoder": "none"}
    path = checkpoint(profile, key)
    spec = json.loads((path.parent / "spec.json").read_text())
    bj = path.parent / "budget.json"
    steps = (json.loads(bj.read_text())["steps"] if bj.is_file()
             else int(spec["schedule"].get("max_steps") or 0))
    model = load_model(path)
    return {"steps": int(steps), "params": int(sum(p.numel() for p in model.parameters())),
            "encoder": str(spec["model_cfg"].get("encoder", "scratch"))}


def planned_steps(profile, n_train: int, n_authentic: int = 0, keys=None) -> pd.DataFrame:
    """The optimiser steps every run of :data:`RUNS` (or ``keys``) takes at ``profile``'s budgets, without training.

    ``n_train``: rows of the training part (:func:`datasets_for`), ``n_authentic`` of them authentic. As
    :func:`train_or_load` does, a detector / finetune run keeps ``profile.authentic_fraction`` of the authentic
    rows and adds the on-the-fly share; an epoch is ``rows // batch_size`` batches (the training loader drops the
    last partial batch), capped at ``ceil(max_steps / epochs)``. One row per run: ``key``, ``model``, ``stage``,
    ``budget``, ``epochs``, ``batches_per_epoch``, ``steps`` (at most: a run with ``patience`` may stop earlier) and
    ``classifier_steps`` (a restorer's disturbance classifier first trains ``profile.classifier_pretrain["steps"]``
    batches alone, once per training seed: restorers of one seed share it; 0 on every other row)."""
    import math

    from ..data.loaders import onthefly_items
    from ..train import MASK_STAGES

    profile = _profiles.get(profile)
    if n_train < 0 or not 0 <= n_authentic <= n_train:
        raise ValueError(f"planned_steps: need 0 <= n_authentic <= n_train, got {n_authentic} and {n_train}")
    rows, classifier_seeds = [], set()
    for key in keys or RUNS:
        run = RUNS[key]
        sched = profile.stage(run.stage, run.budget, model=run.model)
        n = n_train
        if run.stage in MASK_STAGES:
            n = n_train - n_authentic + int(round(n_authentic * min(profile.authentic_fraction, 1.0)))
            if profile.onthefly_tampering:
                n += onthefly_items(n, float(profile.onthefly_tampering))
        epochs, per_epoch = int(sched["epochs"]), n // profile.batch_size
        if sched.get("max_steps"):
            per_epoch = min(per_epoch, math.ceil(int(sched["max_steps"]) / epochs))
        classifier = 0
        seed = profile.seed if run.seed is None else int(run.seed)
        if run.stage == "restorer" and seed not in classifier_seeds:
            classifier_seeds.add(seed)
            classifier = int(profile.classifier_pretrain.get("steps", 0))
        rows.append({"key": key, "model": run.model, "stage": run.stage, "budget": run.budget, "epochs": epochs,
                     "batches_per_epoch": per_epoch, "steps": epochs * per_epoch, "classifier_steps": classifier})
    return pd.DataFrame(rows)


def load(profile, key: str, device="cpu"):
    """The trained model of run ``key`` (eval mode); see :func:`checkpoint` and :func:`paper_repro.models.load`."""
    from ..models import load as load_model

    return load_model(key, profile, device=device)


def training_history(profile, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(per_batch, per_epoch)`` training records of run ``key``: ``losses.csv`` (step, fastai's smoothed
    training loss) and ``history.csv`` (epoch, train/valid loss, metrics, loss parts)."""
    path = checkpoint(profile, key).parent
    batches = (pd.read_csv(path / "losses.csv") if (path / "losses.csv").is_file()
               else pd.DataFrame(columns=["step", "loss"]))
    epochs = pd.read_csv(path / "history.csv") if (path / "history.csv").is_file() else pd.DataFrame()
    return batches, epochs


def model_ref(profile, key):
    """A run key -> ``(checkpoint path, cache identity)``; a registered model name (``restore-none``,
    ``restore-oracle``, ...) -> ``(name, name)``; ``None`` -> ``(None, None)``. The identity (a hash of the run's
    spec) keys the evaluation caches, so a retrained run is never read from an old cache."""
    if key is None:
        return None, None
    if key in RUNS:
        path = checkpoint(profile, key)
        return str(path), spec_hash(json.loads((path.parent / "spec.json").read_text()))
    from ..models import MODELS

    if key in MODELS:
        return key, key
    raise KeyError(f"unknown model {key!r}: not a run ({', '.join(RUNS)}) nor a registered model")


def resolve_run_key(ref: str, profile):
    """The ``"run key"`` kind of :data:`paper_repro.models.REFERENCE_KINDS`: a key of :data:`RUNS` -> its
    ``final.pt`` (trained on ``profile`` if needed); anything else -> ``None``."""
    if ref not in RUNS:
        return None
    if profile is None:
        raise ValueError(f"{ref!r} is a run key: loading it needs a profile (models.load(ref, profile))")
    return checkpoint(profile, ref)
