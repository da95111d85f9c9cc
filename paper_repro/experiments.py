"""Table-level orchestration for the notebooks: data splits, cached training, one function per paper table.

Notebooks call these and only show, plot and save what they return. Every table function returns a
*tidy* (long) :class:`pandas.DataFrame`, one row per number, with at least the columns
:data:`TIDY_COLUMNS`::

    method, dataset, manipulation, perturbation, level, metric, value, n_images, paper, diff

plus the ablation's own column(s) (``dwfel``/``contrastive``, ``wavelet``, ``restoration``,
``attention``, ``loss``). Conventions (the vocabulary of :mod:`paper_repro.paper`):

- ``perturbation`` ``clean`` / ``brightness`` / ``contrast`` with ``level`` = alpha (``I + alpha``) or
  beta (``beta * I``); aggregate rows have ``level`` NaN: ``brightness`` / ``contrast`` = mean over the
  clean column and that sweep's levels (as the "mean" column of ReConWave-Net's Tables 2 and 3, which
  averages its clean column and four levels), ``mean`` = mean over all perturbed levels;
- ``dataset`` = an evaluation set's name, or ``mean`` (mean over datasets, when there are several);
- F1 / IoU are nan-aware means over the *tampered* images (pixel level, threshold 0.5); ``psnr`` / ``ssim``
  are measured inside the tampered region (ReConWave-Net Table 1);
- ``paper`` / ``diff`` come from :func:`paper_repro.paper.beside`; they are NaN where the paper has no
  number (``df.attrs["paper_missing"]`` then holds the reason from ``paper.MISSING_TABLES``).

Training is cached: :func:`train_or_load` trains a model once per profile into
``profile.checkpoints_dir/<key>/final.pt`` (resuming an interrupted run from ``last.pt``) and returns that
path on later calls; the named runs used by the tables are :data:`RUNS` (built by :func:`checkpoint`).
Evaluations are cached the same way (``checkpoints_dir/_evals``), keyed by the checkpoints' specs, so a
model evaluated in one notebook is not evaluated again in the next.

Data (:func:`datasets_for`): ``smoke`` uses the built-in synthetic set (no download), split
deterministically into train / held-out; ``cpu`` and ``paper`` follow ``profile.train_datasets`` and
``profile.eval_datasets`` (specs such as ``photos-synthetic``, ``casia1:train``, ``casia1:test``, ``*``).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from . import paper as _paper
from . import perturb as P
from . import profiles as _profiles

__all__ = [
    "TIDY_COLUMNS", "RUNS", "Run", "SPLIT_TEST_FRACTION", "profile_for", "datasets_for", "train_or_load",
    "checkpoint", "load", "training_history", "sweep_results", "tidy_sweep", "wide", "summarize", "paper_view",
    "table1_restoration", "disturbance_accuracy", "table4_modules", "tables23_sweeps", "table5_wavelets",
    "table6_restoration_onoff", "table7_attention", "table8_forensic_loss", "METHODS", "method_sweeps",
    "method_comparison", "examples", "compare_examples", "paper_comparison", "paper_baselines",
    "embedding_separation", "data_overview", "dataset_stats", "mask_stats", "perturbation_examples",
]

TIDY_COLUMNS = ["method", "dataset", "manipulation", "perturbation", "level", "metric", "value", "n_images",
                "paper", "diff"]
#: Held-out fraction of a real dataset named ``<name>:train`` / ``<name>:test`` (70/30 by image; our choice,
#: the papers train on other sets and test on all of CASIA v1).
SPLIT_TEST_FRACTION = 0.3
#: Datasets that ``*`` in ``profile.eval_datasets`` never expands to (not benchmarks, or built differently).
_NOT_BENCHMARKS = ("synthetic", "folder", "benco-json")
#: Our method names -> the names used in the published tables (for ``paper.beside``).
_PAPER_METHOD = {"restore-none": "unrestored", "restorer": "reconwave_restorer"}


# ------------------------------------------------------------------------------------------- runs
@dataclass(frozen=True)
class Run:
    """A named training run: ``model`` at ``stage`` with ``model_cfg`` (on top of the profile's) and
    ``loss_cfg``; ``init_from`` names the run whose ``final.pt`` initialises it (MPC stage 2)."""

    model: str
    stage: str
    model_cfg: dict = field(default_factory=dict)
    loss_cfg: dict = field(default_factory=dict)
    init_from: str | None = None
    label: str = ""


#: Every model the notebooks train, by key (= its folder under ``profile.checkpoints_dir``). Nothing is
#: trained twice: e.g. Table 5's Haar row *is* ``reconwave`` and Table 7's Swin row *is* ``restorer``.
RUNS: dict[str, Run] = {
    "reconwave": Run("reconwave", "detector", label="ReConWave-Net (DWFEL + contrastive, Haar)"),
    "reconwave-plain": Run("reconwave", "detector", {"dwfel": False, "contrastive": False}, label="U-Net baseline"),
    "reconwave-dwfel": Run("reconwave", "detector", {"dwfel": True, "contrastive": False}, label="+ DWFEL"),
    "reconwave-contrastive": Run("reconwave", "detector", {"dwfel": False, "contrastive": True},
                                 label="+ contrastive"),
    "reconwave-sym4": Run("reconwave", "detector", {"wavelet": "sym4"}, label="ReConWave-Net, Symlet-4"),
    "reconwave-bior4.4": Run("reconwave", "detector", {"wavelet": "bior4.4"}, label="ReConWave-Net, biorthogonal 4.4"),
    "restorer": Run("restorer", "restorer", label="restorer (Swin, forensic loss)"),
    "restorer-vit": Run("restorer", "restorer", {"attention": "vit"}, label="restorer (ViT)"),
    "restorer-deformable": Run("restorer", "restorer", {"attention": "deformable"}, label="restorer (deformable)"),
    "restorer-l1": Run("restorer", "restorer", loss_cfg={"forensic": False}, label="restorer (plain L1 loss)"),
    "lpclnet": Run("lpclnet", "detector", label="LPCLNet"),
    "ncl": Run("ncl", "detector", label="NCL"),
    "mpc-pretrain": Run("mpc", "pretrain", label="MPC stage 1 (pixel-contrastive pretraining)"),
    "mpc": Run("mpc-finetune", "finetune", init_from="mpc-pretrain", label="MPC stage 2 (frozen backbone + head)"),
}


def profile_for(profile="smoke", data_root=None, **overrides) -> _profiles.Profile:
    """The notebooks' parameters -> a :class:`~paper_repro.profiles.Profile` (``data_root`` when given)."""
    if data_root not in (None, ""):
        overrides["data_root"] = data_root
    return _profiles.get(profile, **overrides)


def _hash(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------- data
def _strata(df: pd.DataFrame) -> list[str]:
    """Stratification key: the manipulation, ``authentic`` for label-0 rows, ``tampered`` when unknown."""
    manip = df["manipulation"] if "manipulation" in df.columns else pd.Series([None] * len(df), index=df.index)
    out = []
    for lab, m in zip(df["label"].astype(int), manip):
        if lab == 0:
            out.append("authentic")
        elif m is None or (isinstance(m, float) and math.isnan(m)) or str(m) in ("", "None", "nan"):
            out.append("tampered")
        else:
            out.append(str(m))
    return out


def _split(df: pd.DataFrame, fraction: float, seed: int, rule: str = "random") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``rule="grouped"``: no source photo on both sides (:func:`paper_repro.data.group_split`);
    ``"random"``: by image, stratified by manipulation (:func:`paper_repro.data.split`). A frame without any
    source ids (e.g. the synthetic sets, one photo per image) has nothing to group, so both rules give the
    stratified split by image there."""
    from .data import SPLIT_RULES, group_split, split

    if rule not in SPLIT_RULES:
        raise ValueError(f"split rule must be one of {SPLIT_RULES}, got {rule!r}")
    if rule == "grouped" and "sources" in df.columns and df["sources"].notna().any():
        return group_split(df, valid_pct=fraction, seed=seed)
    return split(df, valid_pct=fraction, seed=seed, stratify=_strata(df))


def _cap(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """At most ``n`` rows: a seeded, stratified sample that keeps the manifest order."""
    if n is None or len(df) <= n:
        return df.reset_index(drop=True)
    _, keep = _split(df, n / len(df), seed)
    if len(keep) > n:
        keep = keep.iloc[:n]
    return keep.reset_index(drop=True)


def _photos_synthetic(profile, root: Path) -> pd.DataFrame:
    """Synthetic tampering made from ``<data_root>/photos`` (BSDS500 + Kodak), generated once into the
    cache (:func:`paper_repro.data.synthetic.default_cache_dir`, outside the repository)."""
    from .data import manifest, synthetic

    photos = root / "photos"
    if not photos.is_dir():
        raise FileNotFoundError(f"profile {profile.name!r} trains on 'photos-synthetic' but {photos} does not exist "
                                f"(expected BSDS500 / Kodak photos there; see the README's data section)")
    s = int(profile.synthetic_size)
    out = synthetic.default_cache_dir() / f"photos-synthetic-n{profile.n_synthetic}-{s}x{s}-seed{profile.seed}"
    synthetic.generate(out, n=profile.n_synthetic, seed=profile.seed, photos=photos, size=(s, s), progress=True,
                       overwrite=True)
    df = manifest("synthetic", out)
    df["dataset"] = "photos-synthetic"
    return df


def _real(name: str, root: Path) -> pd.DataFrame:
    from .data import manifest

    return manifest(name, root / name)


_DATA_CACHE: dict[str, tuple] = {}


def _resolve_spec(spec: str, profile, root: Path | None, manifests: dict) -> list[tuple[str, pd.DataFrame]]:
    """One dataset spec -> ``[(name, df)]``. Specs: ``synthetic``, ``photos-synthetic``, ``<name>``,
    ``<name>:train`` / ``<name>:test`` (70/30, seeded; ``profile.split_rule``: grouped by source photo, or
    by image stratified by manipulation), ``*``."""
    from .data import available_datasets, synthetic

    if spec == "synthetic":
        from .data import manifest

        df = manifest("synthetic", synthetic.ensure_default(size=profile.synthetic_size, n=profile.n_synthetic))
        return [("synthetic", df)]
    if root is None:
        raise FileNotFoundError(f"profile {profile.name!r} needs real data for {spec!r}: pass data_root=... or set "
                                f"$PAPER_REPRO_DATA (the smoke profile needs none)")
    if spec == "photos-synthetic":
        return [("photos-synthetic", _photos_synthetic(profile, root))]
    if spec == "*":
        return [(n, manifests.setdefault(n, _real(n, root))) for n in available_datasets()
                if n not in _NOT_BENCHMARKS and (root / n).exists()]
    name, _, part = spec.partition(":")
    if name not in available_datasets():
        raise KeyError(f"dataset spec {spec!r}: unknown dataset {name!r}; known: {', '.join(available_datasets())}")
    if not (root / name).exists():
        raise FileNotFoundError(f"dataset spec {spec!r}: {root / name} does not exist")
    df = manifests.setdefault(name, _real(name, root))
    if not part:
        return [(name, df)]
    if part not in ("train", "test"):
        raise ValueError(f"dataset spec {spec!r}: the part after ':' must be 'train' or 'test'")
    train, test = _split(df, SPLIT_TEST_FRACTION, profile.seed, profile.split_rule)
    return [(name, train if part == "train" else test)]


def datasets_for(profile) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    """``(train_df, valid_df, eval_sets)`` of a profile (deterministic: same profile -> same rows).

    - ``smoke``: the built-in synthetic set (``synthetic.ensure_default(size, n)``), split by
      ``profile.valid_fraction`` (seeded, stratified by manipulation); the held-out part is both the
      validation set and the only evaluation set (``{"synthetic": valid_df}``).
    - ``cpu`` / ``paper``: the training pool is the concatenation of ``profile.train_datasets``
      (``photos-synthetic``: generated once from ``<data_root>/photos`` into the cache;
      ``casia1:train``: 70 % of CASIA v1 by image, seeded and stratified by manipulation), split by
      ``valid_fraction`` into train / validation; evaluation sets are ``profile.eval_datasets``
      (``casia1:test`` = the held-out 30 %, named ``casia1``; ``*`` = every other dataset present under the
      data root), each capped at ``profile.max_eval_images`` by a seeded stratified sample.
    """
    profile = _profiles.get(profile)
    root = profile.resolved_data_root()
    key = _hash({k: v for k, v in profile.asdict().items() if k in (
        "name", "train_datasets", "eval_datasets", "seed", "valid_fraction", "max_eval_images", "n_synthetic",
        "synthetic_size", "split_rule")} | {"root": str(root)})
    if key not in _DATA_CACHE:
        if tuple(profile.train_datasets) == ("synthetic",) and tuple(profile.eval_datasets) == ("synthetic",):
            (_, df), = _resolve_spec("synthetic", profile, root, {})
            train, valid = _split(df, profile.valid_fraction, profile.seed, profile.split_rule)
            evals = {"synthetic": _cap(valid, profile.max_eval_images, profile.seed)}
        else:
            manifests: dict[str, pd.DataFrame] = {}
            pool = [d for s in profile.train_datasets for _, d in _resolve_spec(s, profile, root, manifests)]
            if not pool:
                raise ValueError(f"profile {profile.name!r}: no training data from {profile.train_datasets}")
            pool_df = pd.concat(pool, ignore_index=True)
            train, valid = _split(pool_df, profile.valid_fraction, profile.seed, profile.split_rule)
            used = {s.partition(":")[0] for s in profile.train_datasets}
            evals = {}
            for s in profile.eval_datasets:
                for name, d in _resolve_spec(s, profile, root, manifests):
                    if s == "*" and (name in evals or name in used):
                        continue  # '*' adds only datasets not already trained or evaluated on
                    evals[name] = _cap(d, profile.max_eval_images, profile.seed)
            if not evals:
                raise ValueError(f"profile {profile.name!r}: no evaluation data from {profile.eval_datasets}")
        _DATA_CACHE[key] = (train, valid, evals)
    train, valid, evals = _DATA_CACHE[key]
    return train.copy(), valid.copy(), {k: v.copy() for k, v in evals.items()}


def _fingerprint(df: pd.DataFrame) -> str:
    """Machine-independent identity of a manifest: dataset, file name and label of every row."""
    names = df["dataset"].astype(str) if "dataset" in df.columns else pd.Series([""] * len(df))
    return _hash([(d, Path(str(i)).name, int(lab)) for d, i, lab in zip(names, df["image"], df["label"])])


# --------------------------------------------------------------------------------------- training
_CKPT_FILES = ("final.pt", "last.pt", "history.csv", "losses.csv", "spec.json")


def _spec(profile, model_name, model_cfg, stage, loss_cfg, data_fp, init_spec, disturbance_cfg,
          schedule: dict) -> dict:
    from . import __version__
    from .data.loaders import loader_workers

    cfg = profile.model_cfg(model_name)
    cfg.update(model_cfg or {})
    spec = {"version": __version__, "model_name": model_name, "model_cfg": cfg, "stage": stage,
            "loss_cfg": dict(loss_cfg or {}), "schedule": schedule, "size": list(profile.size),
            "batch_size": profile.batch_size, "seed": profile.seed, "precision": profile.precision,
            "data": data_fp, "init_from": init_spec, "disturbance_cfg": dict(disturbance_cfg or {}),
            # loader workers draw their own flip stream, so where items are loaded changes the trained model
            "loader_workers": loader_workers(profile.num_workers, profile.cache_images)}
    if profile.optimizer != "adam":  # only recorded when not the default, so earlier caches stay valid
        spec["optimizer"] = profile.optimizer
    if profile.size_policy != "resize":  # only recorded when set, so resize-policy caches stay valid
        spec["size_policy"], spec["crop_grid"] = profile.size_policy, profile.crop_grid
    return json.loads(json.dumps(spec, sort_keys=True, default=str))  # as stored: tuples -> lists


def _loads(path: Path) -> bool:
    """Whether ``final.pt`` rebuilds with the current code (a code change may make a cache stale)."""
    from .train import load_model

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
                  disturbance_cfg: dict | None = None, force: bool = False) -> Path:
    """Train ``model_name`` once and return ``profile.checkpoints_dir/<key>/final.pt``.

    The run's *spec* (model + profile configuration, loss, schedule, image size, seed, a fingerprint of the
    training data and of ``init_from``) is stored in ``spec.json`` beside it. A later call with the same spec
    returns the cached ``final.pt`` without training (if it still loads); a different spec (or
    ``force=True``) removes the folder's checkpoint files and retrains. An interrupted run resumes from
    ``last.pt`` (written after every epoch by :class:`~paper_repro.train.CheckpointResumeCallback`).
    ``data`` = ``(train_df, valid_df)`` (default :func:`datasets_for`); detector and finetune stages keep
    ``profile.authentic_fraction`` of its authentic rows. The schedule is ``profile.stage(stage, key)`` and
    the loss gets ``profile.loss_cfg(model_name, **loss_cfg)``; detector and finetune runs get
    ``profile.detector_disturbance`` (robustness augmentation) unless ``disturbance_cfg`` is given. Per-batch training losses are
    written to ``losses.csv`` (see :func:`training_history`).
    """
    from .data import make_dataloaders
    from .train import MASK_STAGES, STAGES, fit, make_learner

    profile = _profiles.get(profile)
    if not key or "/" in key or key.startswith("."):
        raise ValueError(f"train_or_load: key must be a plain folder name, got {key!r}")
    stage = stage or {"restorer": "restorer", "mpc": "pretrain", "mpc-finetune": "finetune"}.get(model_name, "detector")
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
    loss_cfg = profile.loss_cfg(model_name, **(loss_cfg or {}))
    schedule = profile.stage(stage, key)
    init_spec = None
    if init_from is not None:
        init_from = Path(init_from)
        if not init_from.is_file():
            raise FileNotFoundError(f"train_or_load({key!r}): init_from {init_from} does not exist")
        sj = init_from.parent / "spec.json"
        init_spec = _hash(json.loads(sj.read_text())) if sj.is_file() else f"{init_from.stat().st_size}"
    spec = _spec(profile, model_name, model_cfg, stage, loss_cfg,
                 [_fingerprint(train_df), _fingerprint(valid_df)], init_spec, disturbance_cfg, schedule)
    if onthefly:  # only recorded when on, so runs without it keep their cached checkpoints
        spec["onthefly_tampering"] = [onthefly, _fingerprint(photos)]
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
                           num_workers=profile.num_workers, seed=profile.seed, cache=profile.cache_images,
                           policy=profile.size_policy, grid=profile.crop_grid, onthefly=onthefly, photos=photos)
    learn = make_learner(model_name, dls, profile=profile, model_cfg=model_cfg, loss_cfg=loss_cfg, stage=stage,
                         ckpt_dir=ckdir, quiet=True, init_from=init_from, disturbance_cfg=disturbance_cfg)
    fit(learn, **schedule)
    if not final.is_file() and (rank_distrib() == 0 or not learn.fit_completed):
        raise RuntimeError(f"train_or_load({key!r}): training did not finish ({final} missing); "
                           f"call again to resume from {ckdir / 'last.pt'}")
    losses = [float(v) for v in getattr(learn.recorder, "losses", [])]
    if rank_distrib() == 0:
        pd.DataFrame({"step": np.arange(1, len(losses) + 1), "loss": losses}).to_csv(ckdir / "losses.csv", index=False)
    return final


def checkpoint(profile, key: str) -> Path:
    """``final.pt`` of the named run :data:`RUNS[key] <RUNS>` (trained on :func:`datasets_for` if needed)."""
    if key not in RUNS:
        raise KeyError(f"unknown run {key!r}; runs: {', '.join(RUNS)}")
    run = RUNS[key]
    init = checkpoint(profile, run.init_from) if run.init_from else None
    return train_or_load(profile, key, run.model, run.model_cfg, run.stage, run.loss_cfg, init_from=init)


def load(profile, key: str, device="cpu"):
    """The trained model of run ``key`` (eval mode); see :func:`checkpoint`."""
    from .train import load_model

    return load_model(checkpoint(profile, key), device=device)


def training_history(profile, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(per_batch, per_epoch)`` training records of run ``key``: ``losses.csv`` (step, fastai's smoothed
    training loss) and ``history.csv`` (epoch, train/valid loss, metrics, loss parts)."""
    path = checkpoint(profile, key).parent
    batches = (pd.read_csv(path / "losses.csv") if (path / "losses.csv").is_file()
               else pd.DataFrame(columns=["step", "loss"]))
    epochs = pd.read_csv(path / "history.csv") if (path / "history.csv").is_file() else pd.DataFrame()
    return batches, epochs


# ------------------------------------------------------------------------------------- evaluation
def _model_ref(profile, key):
    """A run key -> (checkpoint path, cache identity); a registered model name (``restore-none``,
    ``restore-classical``) or ``None`` passes through."""
    if key is None:
        return None, None
    if key in RUNS:
        path = checkpoint(profile, key)
        return str(path), _hash(json.loads((path.parent / "spec.json").read_text()))
    from .models import available

    if key in available() or key == "restore-oracle":
        return key, key
    raise KeyError(f"unknown model {key!r}: not a run ({', '.join(RUNS)}) nor a registered model")


def _instantiate(ref):
    """A ``final.pt`` path or a registered model name -> the model on CPU in eval mode."""
    from .models import available, create
    from .train import load_model

    if isinstance(ref, str) and ref in available() and not os.path.isfile(ref):
        return create(ref).eval()
    return load_model(ref)


def _cache_path(profile, what: dict) -> Path:
    """Where :func:`_cached` keeps the result of ``what``."""
    return Path(profile.checkpoints_dir) / "_evals" / f"{what['kind']}-{_hash(what)}.pkl"


def _cached(profile, what: dict, compute) -> pd.DataFrame:
    path = _cache_path(profile, what)
    folder = path.parent
    if path.is_file():
        try:
            return pd.read_pickle(path)
        except Exception:  # noqa: BLE001 - a broken cache file is recomputed
            path.unlink()
    df = compute()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    df.to_pickle(tmp)
    os.replace(tmp, path)
    return df


def _grid(profile) -> list[tuple[str, float | None]]:
    return P.sweep_grid(profile.alphas, profile.betas, clean=True)


def ablation_grid(profile) -> list[tuple[str, float | None]]:
    """The clean image and the profile's ``ablation_levels`` (the paper's Tables 4-8: alpha = 0.5, beta = 2.0)."""
    profile = _profiles.get(profile)
    return [("clean", None)] + [(str(p), float(lv)) for p, lv in profile.ablation_levels]


def _paper_grid() -> list[tuple[str, float]]:
    lv = _paper.PAPER_LEVELS["table1"]
    return [("brightness", float(a)) for a in lv["brightness"]] + [("contrast", float(b)) for b in lv["contrast"]]


def sweep_results(profile, detector: str = "reconwave", restorer: str | None = None,
                  datasets: Sequence[str] | None = None, method: str | None = None,
                  grid: Sequence[tuple[str, float | None]] | None = None) -> pd.DataFrame:
    """Per-image scores of ``detector`` (a run key) behind ``restorer`` (run key, ``restore-classical``,
    ``restore-none`` or ``None``) over ``grid`` (default: the profile's full brightness/contrast grid, clean
    first; :func:`ablation_grid` for Tables 4-8) on every evaluation set (or ``datasets``);
    :func:`paper_repro.evaluate.evaluate`'s columns plus ``method``. Cached per (checkpoints, data, grid); a
    smaller grid is read from the full grid's cached results when those exist."""
    from .evaluate import evaluate

    profile = _profiles.get(profile)
    _, _, evals = datasets_for(profile)
    names = list(evals) if datasets is None else list(datasets)
    det_path, det_id = _model_ref(profile, detector)
    res_path, res_id = _model_ref(profile, restorer)
    method = method or (detector if restorer is None else f"{detector}+{restorer}")
    full = _grid(profile)
    grid = full if grid is None else [(p, None if lv is None else float(lv)) for p, lv in grid]
    out = []
    for name in names:
        df = evals[name]
        size = profile.eval_size
        what = {"kind": "sweep", "det": det_id, "res": res_id, "data": _fingerprint(df), "grid": grid,
                "size": None if size is None else list(size), "precision": profile.precision, "order": "perturb-first"}
        whole_path = _cache_path(profile, dict(what, grid=full))
        if grid != full and set(grid) <= set(full) and whole_path.is_file():
            r = pd.read_pickle(whole_path)
            wanted = set(grid)
            r = r[[(p, None if pd.isna(lv) else float(lv)) in wanted
                   for p, lv in zip(r["perturbation"], r["level"])]].copy()
            r["dataset"], r["method"] = name, method
            out.append(r)
            continue

        def compute(df=df):
            return evaluate(det_path, df, size=size, perturbations=grid, restorer=res_path,
                            batch_size=profile.eval_batch_size, precision=profile.precision, progress=False,
                            num_workers=profile.num_workers, seed=profile.seed)

        r = _cached(profile, what, compute).copy()
        r["dataset"] = name
        r["method"] = method
        out.append(r)
    return pd.concat(out, ignore_index=True)


def _nan_mean(s: pd.Series) -> float:
    s = pd.to_numeric(s, errors="coerce")
    return float(s.mean()) if s.notna().any() else math.nan


#: IMDL-BenCo's aggregation beside ours in every sweep table: ``<metric>_benco`` is the mean over EVERY image
#: with an authentic image scored 0 (:func:`paper_repro.metrics.benco_mean`); ``f1`` / ``iou`` / ``auc`` are
#: means over the tampered images only (authentic images have no tampered pixel to find).
BENCO_METRICS = ("f1_benco", "iou_benco")


def tidy_sweep(results: pd.DataFrame, metrics: Sequence[str] = ("f1", "iou", "auc") + BENCO_METRICS,
               by: Sequence[str] = ("method",)) -> pd.DataFrame:
    """Per-image sweep results -> tidy rows (see the module docstring): per level, per-sweep means
    (``level`` NaN), the overall perturbed ``mean``, and a ``dataset="mean"`` block when there are
    several datasets. Means are over tampered images (nan-aware), except ``f1_benco`` / ``iou_benco``
    (:data:`BENCO_METRICS`): IMDL-BenCo's mean over every image, authentic ones counted as 0."""
    from .metrics import benco_mean

    results = results.reset_index(drop=True)
    tampered = results["tampered"].astype(bool) if "tampered" in results.columns else pd.Series(True, index=results.index)
    metrics = [m for m in metrics if m in results.columns or (m.endswith("_benco") and m[:-6] in results.columns)]
    by = list(by)
    rows = []
    for keys, g_all in results.groupby(by + ["dataset"], sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        base = dict(zip(by + ["dataset"], keys))
        g = g_all[tampered.loc[g_all.index]]
        if g.empty:
            continue
        per_level = []
        for (pert, lv), gg_all in g_all.groupby(["perturbation", "level"], sort=False, dropna=False):
            gg = gg_all[tampered.loc[gg_all.index]]
            for m in metrics:
                if m.endswith("_benco"):
                    value, n = benco_mean(gg_all, m[:-6]), len(gg_all)
                else:
                    value, n = _nan_mean(gg[m]), int(gg[m].notna().sum())
                per_level.append(dict(base, perturbation=pert, level=lv, metric=m, value=value, n_images=n))
        rows += per_level
        pl = pd.DataFrame(per_level)
        n_img = int(g["image"].nunique()) if "image" in g.columns else len(g)
        for m in metrics:
            pm = pl[(pl["metric"] == m) & (pl["perturbation"] != "clean")]
            clean = pl[(pl["metric"] == m) & (pl["perturbation"] == "clean")]
            for pert in ("brightness", "contrast"):
                sub = pm[pm["perturbation"] == pert]
                if len(sub):  # as the paper's Tables 2-3 "mean": the clean column and the sweep's levels
                    vals = pd.concat([clean["value"], sub["value"]])
                    rows.append(dict(base, perturbation=pert, level=math.nan, metric=m, value=_nan_mean(vals),
                                     n_images=n_img))
            if len(pm):
                rows.append(dict(base, perturbation="mean", level=math.nan, metric=m, value=_nan_mean(pm["value"]),
                                 n_images=n_img))
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    if out["dataset"].nunique() > 1:
        keys = by + ["perturbation", "level", "metric"]
        mean = (out.assign(_lv=out["level"].fillna(-999.0))
                .groupby(by + ["perturbation", "_lv", "metric"], sort=False, dropna=False)
                .agg(value=("value", "mean"), n_images=("n_images", "sum"), level=("level", "first"))
                .reset_index().drop(columns="_lv"))
        mean["dataset"] = "mean"
        out = pd.concat([out, mean[keys + ["dataset", "value", "n_images"]]], ignore_index=True)
    out["level"] = out["level"].astype(float)
    return out


def _attach_paper(df: pd.DataFrame, table: str | Sequence[str], paper: str = "reconwave",
                  on: Sequence[str] = ("method", "dataset", "manipulation", "perturbation", "level", "metric"),
                  rename_methods: dict | None = None) -> pd.DataFrame:
    """Add ``paper`` / ``diff`` columns from :func:`paper.beside` for one or several published tables (the
    first that has a row wins). Where a table does not name its dataset (ReConWave-Net Tables 1, 4-8), only
    the rows of our first evaluation set (CASIA v1 in the ``cpu`` / ``paper`` profiles) are matched, without
    the dataset key. ``attrs["paper_missing"]`` holds the reason when a table has no published numbers,
    ``attrs["paper_notes"]`` the paper's values flagged in :data:`paper.SUSPECT_VALUES`."""
    df = df.reset_index(drop=True).copy()
    if "manipulation" not in df.columns:
        df["manipulation"] = "all"
    keyed = df.copy()
    if rename_methods:
        keyed["method"] = keyed["method"].map(lambda m: rename_methods.get(m, m))
    keyed["manipulation"] = keyed["manipulation"].fillna("all").replace({"splicing": "splice",
                                                                         "copy-move": "copy_move"})
    ours = [d for d in dict.fromkeys(keyed["dataset"]) if d not in ("mean", "(paper)")]
    df["paper"], df["diff"] = math.nan, math.nan
    missing, notes = [], []
    for t in ([table] if isinstance(table, str) else list(table)):
        try:
            ref = _paper.paper_numbers(paper, t)
        except KeyError as err:
            missing.append(_paper.MISSING_TABLES.get(f"{paper}/{t}") or _paper.MISSING_TABLES.get(f"{paper}/table")
                           or str(err))
            continue
        keys, rows = list(on), np.ones(len(keyed), dtype=bool)
        if "dataset" in keys and set(ref["dataset"]) == {"unspecified"}:
            keys.remove("dataset")
            rows = (keyed["dataset"] == ours[0]).to_numpy() if ours else rows & False
        if not rows.any():
            continue
        b = _paper.beside(keyed[rows], t, on=keys, paper=paper)
        idx = np.flatnonzero(rows)
        empty = df.loc[idx, "paper"].isna().to_numpy()
        df.loc[idx[empty], "paper"] = b["paper"].to_numpy()[empty]
        df.loc[idx[empty], "diff"] = b["diff"].to_numpy()[empty]
        notes += [why for (tt, *_), why in _paper.SUSPECT_VALUES.items() if tt == t]
    if missing:
        df.attrs["paper_missing"] = " | ".join(missing)
    if notes:
        df.attrs["paper_notes"] = notes
    return df


def _order(df: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    cols = list(extra) + [c for c in TIDY_COLUMNS if c not in extra]
    for c in cols:
        if c not in df.columns:
            df[c] = math.nan if c in ("paper", "diff", "value", "level") else None
    return df[cols + [c for c in df.columns if c not in cols]].reset_index(drop=True)


#: The trivial detector every results table shows beside the models: the whole image called tampered
#: (a model near its F1 / IoU has learned nothing).
REFERENCE = "all-tampered"


def _sweep_table(profile, variants: dict[str, dict], table: str | Sequence[str], extra: Sequence[str],
                 grid=None, reference: bool = True) -> pd.DataFrame:
    """Shared body of the F1/IoU tables: ``variants`` = ``{method: {"detector", "restorer", **extra}}``; with
    ``reference`` the all-tampered detector (:data:`REFERENCE`, extra columns ``"reference"``) is appended."""
    if reference:
        variants = {**variants, REFERENCE: dict(detector=REFERENCE, restorer=None, **{c: "reference" for c in extra})}
    parts = []
    for method, v in variants.items():
        res = sweep_results(profile, v["detector"], v.get("restorer"), method=method, grid=grid)
        t = tidy_sweep(res)
        for c in extra:
            t[c] = v.get(c)
        parts.append(t)
    out = pd.concat(parts, ignore_index=True)
    out["manipulation"] = "all"
    out = _attach_paper(out, table)
    return _order(out, extra)


def tables23_sweeps(profile, restore: bool = True, detector: str = "reconwave", restorer: str = "restorer",
                    reference: bool = True) -> pd.DataFrame:
    """ReConWave-Net Tables 2 (brightness) and 3 (contrast): F1 / IoU of the detector per evaluation set over
    the profile's alpha and beta grids, clean included, with per-sweep and overall averages (and a
    ``dataset="mean"`` block over datasets). ``restore=True`` puts the trained restorer in front
    (``method`` = ``reconwave+restorer``), ``False`` feeds the perturbed image straight to the detector.
    Extra column ``restoration``. ``reference`` appends the all-tampered rows (pass ``False`` to one of two
    calls whose tables are concatenated, so they appear once)."""
    v = {"detector": detector, "restorer": restorer if restore else None, "restoration": bool(restore)}
    name = f"{detector}+{restorer}" if restore else detector
    out = _sweep_table(profile, {name: v}, ("table2", "table3"), ["restoration"], reference=reference)
    out.attrs["paper_partial"] = (_paper.PARTIAL_TABLES["reconwave/table2"] + " | "
                                  + _paper.PARTIAL_TABLES["reconwave/table3"])
    return out


def table4_modules(profile, restore: bool = True) -> pd.DataFrame:
    """ReConWave-Net Table 4: the detector with DWFEL and the pixel-contrastive head on/off (4 rows:
    U-Net baseline, + DWFEL, + contrastive, both = ReConWave-Net), each trained on the same split and
    evaluated on the robustness sweep; ``restore=True`` (default, our choice: the full system) puts the
    trained restorer in front of every variant. Extra columns ``dwfel``, ``contrastive``."""
    rs = "restorer" if restore else None
    variants = {
        "reconwave-plain": dict(detector="reconwave-plain", restorer=rs, dwfel=False, contrastive=False),
        "reconwave-dwfel": dict(detector="reconwave-dwfel", restorer=rs, dwfel=True, contrastive=False),
        "reconwave-contrastive": dict(detector="reconwave-contrastive", restorer=rs, dwfel=False, contrastive=True),
        "reconwave": dict(detector="reconwave", restorer=rs, dwfel=True, contrastive=True),
    }
    return _sweep_table(profile, variants, "table4", ["dwfel", "contrastive"], grid=ablation_grid(profile))


def table5_wavelets(profile, restore: bool = True) -> pd.DataFrame:
    """ReConWave-Net Table 5: DWFEL's wavelet basis, Haar (= the ``reconwave`` run) / Symlet-4 /
    biorthogonal 4.4, F1 / IoU over the sweep (restorer in front when ``restore``). Extra column ``wavelet``."""
    rs = "restorer" if restore else None
    variants = {"reconwave": dict(detector="reconwave", restorer=rs, wavelet="haar"),
                "reconwave-sym4": dict(detector="reconwave-sym4", restorer=rs, wavelet="sym4"),
                "reconwave-bior4.4": dict(detector="reconwave-bior4.4", restorer=rs, wavelet="bior4.4")}
    return _sweep_table(profile, variants, "table5", ["wavelet"], grid=ablation_grid(profile))


def table6_restoration_onoff(profile) -> pd.DataFrame:
    """ReConWave-Net Table 6: the same trained detector without restoration, behind the classical
    moment-matching correction (``restore-classical``) and behind the learned restorer. Extra column
    ``restoration`` (``none`` / ``classical`` / ``learned``)."""
    variants = {"reconwave": dict(detector="reconwave", restorer=None, restoration="none"),
                "reconwave+restore-classical": dict(detector="reconwave", restorer="restore-classical",
                                                    restoration="classical"),
                "reconwave+restorer": dict(detector="reconwave", restorer="restorer", restoration="learned")}
    return _sweep_table(profile, variants, "table6", ["restoration"], grid=ablation_grid(profile))


# ------------------------------------------------------------------------------------ restoration
def _restoration_scores(profile, restorer: str, grid) -> pd.DataFrame:
    from .evaluate import restoration_scores

    profile = _profiles.get(profile)
    _, _, evals = datasets_for(profile)
    path, rid = _model_ref(profile, restorer)
    out = []
    for name, df in evals.items():
        what = {"kind": "restoration", "res": rid, "data": _fingerprint(df), "grid": grid,
                "size": list(profile.size), "round8": True}

        def compute(df=df):
            return restoration_scores(path, df, perturbations=grid, size=profile.size,
                                      batch_size=profile.eval_batch_size, progress=False,
                                      num_workers=profile.num_workers, seed=profile.seed)

        r = _cached(profile, what, compute).copy()
        r["dataset"], r["method"] = name, restorer
        out.append(r)
    return pd.concat(out, ignore_index=True)


def _tidy_restoration(scores: pd.DataFrame, by_manipulation: bool = True) -> pd.DataFrame:
    """Restoration scores of tampered images -> tidy rows of metric ``psnr`` / ``ssim`` inside the tampered
    region (per level, plus ``mean`` over the levels), per manipulation (and ``all``)."""
    s = scores[scores["label"].astype(int) == 1].copy()
    s["psnr_tampered"] = s["psnr_tampered"].clip(upper=100.0)
    s["manipulation"] = [m if isinstance(m, str) and m else "tampered" for m in s["manipulation"]]
    groups = [s.assign(manipulation="all")]
    if by_manipulation:
        groups.insert(0, s)
    rows = []
    for g in groups:
        for (method, ds, manip), gg in g.groupby(["method", "dataset", "manipulation"], sort=False):
            per = []
            for (pert, lv), x in gg.groupby(["perturbation", "level"], sort=False):
                for m, col in (("psnr", "psnr_tampered"), ("ssim", "ssim_tampered")):
                    per.append(dict(method=method, dataset=ds, manipulation=manip, perturbation=pert, level=lv,
                                    metric=m, value=_nan_mean(x[col]), n_images=int(x[col].notna().sum())))
            rows += per
            pl = pd.DataFrame(per)
            for m in ("psnr", "ssim"):
                rows.append(dict(method=method, dataset=ds, manipulation=manip, perturbation="mean", level=math.nan,
                                 metric=m, value=_nan_mean(pl.loc[pl["metric"] == m, "value"]),
                                 n_images=int(gg["image"].nunique())))
    out = pd.DataFrame(rows)
    out["level"] = out["level"].astype(float)
    return out


def table1_restoration(profile, restorer: str = "restorer") -> pd.DataFrame:
    """ReConWave-Net Table 1: PSNR / SSIM inside the tampered regions, per forgery type and disturbance
    (the paper's levels alpha = +-0.5, beta = 0.7 / 2.0, plus their ``mean``), for no restoration
    (``restore-none``, the paper's "unrestored"), the classical correction (``restore-classical``) and our
    trained restorer (``method`` names as in the paper where it has the row: ``unrestored``,
    ``reconwave_restorer``; ``classical`` is ours; ``oracle`` is the exact inverse of the known disturbance,
    :func:`paper_repro.perturb.invert`, the ceiling of any restorer). The disturbed images are rounded to
    8 bits, as a stored photo is. Retinexformer and MSEC-Net appear with the paper's
    numbers only (``value`` NaN). ``manipulation`` ``all`` = over every tampered image."""
    grid = _paper_grid()
    parts = [_tidy_restoration(_restoration_scores(profile, r, grid))
             for r in ("restore-none", "restore-classical", restorer, "restore-oracle")]
    ours = pd.concat(parts, ignore_index=True)
    ours["method"] = ours["method"].map({"restore-none": "unrestored", "restore-classical": "classical",
                                         restorer: "reconwave_restorer", "restore-oracle": "oracle"})
    ours = _attach_paper(ours, "table1", on=("method", "manipulation", "perturbation", "level", "metric"))
    ref = _paper.paper_numbers("reconwave", "table1")
    ref = ref[ref["method"].isin(["retinexformer", "msec_net"])]
    only = pd.DataFrame({"method": ref["method"], "dataset": "(paper)",
                         "manipulation": ref["manipulation"].replace({"copy_move": "copy-move", "splice": "splicing"}),
                         "perturbation": ref["perturbation"], "level": ref["level"].astype(float),
                         "metric": ref["metric"], "value": math.nan, "n_images": 0, "paper": ref["value"],
                         "diff": math.nan})
    out = pd.concat([ours, only], ignore_index=True)
    out.attrs["paper_missing"] = _paper.PARTIAL_TABLES.get("reconwave/table1", "")
    return _order(out)


def disturbance_accuracy(profile, restorer: str = "restorer") -> tuple[pd.DataFrame, pd.DataFrame]:
    """How well the restorer's classifier names the disturbance (our five classes: the paper's count is not public).

    Every evaluation image is perturbed at each level of the profile's grid (clean included) and
    classified. Returns ``(accuracy, confusion)``: accuracy per (dataset, perturbation, level, true class)
    plus an ``all`` row per dataset, and the confusion counts (rows true class, columns predicted).
    """
    import torch

    from .data import TamperDataset

    profile = _profiles.get(profile)
    _, _, evals = datasets_for(profile)
    path, rid = _model_ref(profile, restorer)
    grid = _grid(profile)

    def compute():
        model = _instantiate(path)
        rows = []
        for name, df in evals.items():
            ds = TamperDataset(df, size=profile.size, policy="resize")
            dl = torch.utils.data.DataLoader(ds, batch_size=profile.eval_batch_size, shuffle=False)
            for x, _ in dl:
                for pert, lv in grid:
                    xp = P.apply(pert, x, lv)
                    with torch.no_grad():
                        pred = model(xp)["disturbance_logits"].argmax(1).tolist()
                    true = P.DISTURBANCE_CLASSES[P.disturbance_label(pert, lv)]
                    rows += [dict(dataset=name, perturbation=pert, level=math.nan if lv is None else float(lv),
                                  true_class=true, pred_class=P.DISTURBANCE_CLASSES[p]) for p in pred]
        return pd.DataFrame(rows)

    what = {"kind": "disturbance", "res": rid, "data": [_fingerprint(d) for d in evals.values()], "grid": grid,
            "size": list(profile.size)}
    preds = _cached(profile, what, compute)
    preds = preds.assign(correct=preds["true_class"] == preds["pred_class"])
    acc = (preds.groupby(["dataset", "perturbation", "level", "true_class"], sort=False, dropna=False)["correct"]
           .agg(accuracy="mean", n_images="size").reset_index())
    total = preds.groupby("dataset", sort=False)["correct"].agg(accuracy="mean", n_images="size").reset_index()
    total["perturbation"], total["level"], total["true_class"] = "all", math.nan, "all"
    acc = pd.concat([acc, total[acc.columns]], ignore_index=True)
    conf = pd.crosstab(pd.Categorical(preds["true_class"], P.DISTURBANCE_CLASSES),
                       pd.Categorical(preds["pred_class"], P.DISTURBANCE_CLASSES), dropna=False,
                       rownames=["true"], colnames=["predicted"])
    return acc, conf


_PAPER_FORGERY = {"copy-move": "copy_move", "splicing": "splice"}


def convention_table(profile, max_images: int | None = None, round8: Sequence[bool] = (True,)) -> pd.DataFrame:
    """Which brightness / contrast convention did ReConWave-Net use? For every convention of
    :data:`paper_repro.perturb.CONVENTIONS`, with and without 8-bit rounding, the unrestored PSNR / SSIM inside
    the tampered regions of the first evaluation set's tampered images (resized to the profile size, as in
    Table 1) at the four Table 1 levels, per manipulation and ``all``, beside the paper's unrestored row for
    that forgery type (``paper``; ``all`` gets the mean of the paper's three types) and ``diff`` = ours - paper.
    ``gap`` (per convention, rounding and metric) is the mean absolute ``diff`` over the levels and the forgery
    types we have (CASIA v1: copy-move, splicing); the smallest gap is the convention closest to the paper.
    ``max_images``: a seeded sample of that many tampered images (all when ``None``); ``round8``: which of
    8-bit rounding / none to tabulate (on the ``cpu`` profile's 269 images the two differed by < 0.001 dB).
    SSIM makes this slow on a CPU (about 25 ms per image, convention and level)."""
    import torch

    from .data import TamperDataset
    from .metrics import psnr, ssim

    profile = _profiles.get(profile)
    _, _, evals = datasets_for(profile)
    name, df = next(iter(evals.items()))
    df = df[df["label"].astype(int) == 1].reset_index(drop=True)
    if max_images and max_images < len(df):
        df = df.sample(n=int(max_images), random_state=profile.seed).reset_index(drop=True)
    grid = _paper_grid()
    round8 = [bool(r) for r in round8]

    def compute():
        ds = TamperDataset(df, size=profile.size, policy="resize")
        dl = torch.utils.data.DataLoader(ds, batch_size=profile.eval_batch_size, shuffle=False)
        rows, i = [], 0
        for x, m in dl:
            manips = list(df["manipulation"].iloc[i:i + len(x)])
            i += len(x)
            masks = (m.reshape(len(x), *x.shape[-2:]) > 0.5)
            for conv in P.CONVENTIONS:
                for r8 in round8:
                    for pert, lv in grid:
                        y = P.apply_convention(conv, pert, x, lv, round8=r8)
                        for j in range(len(x)):
                            if not masks[j].any():
                                continue
                            rows.append(dict(convention=conv, round8=r8, manipulation=manips[j],
                                             perturbation=pert, level=lv,
                                             psnr=float(psnr(y[j], x[j], mask=masks[j])),
                                             ssim=float(ssim(y[j], x[j], mask=masks[j]))))
        return pd.DataFrame(rows)

    what = {"kind": "conventions", "data": _fingerprint(df), "grid": grid, "size": list(profile.size),
            "conventions": list(P.CONVENTIONS), "round8": round8}
    per = _cached(profile, what, compute)
    per = per.assign(psnr=per["psnr"].clip(upper=100.0))
    keys = ["convention", "round8", "perturbation", "level"]
    parts = [per.groupby(keys + ["manipulation"], sort=False)[["psnr", "ssim"]].mean().reset_index(),
             per.groupby(keys, sort=False)[["psnr", "ssim"]].mean().reset_index().assign(manipulation="all")]
    tab = pd.concat(parts, ignore_index=True).melt(id_vars=keys + ["manipulation"], value_vars=["psnr", "ssim"],
                                                   var_name="metric", value_name="value")
    ref = _paper.paper_numbers("reconwave", "table1")
    ref = ref[ref["method"] == "unrestored"].assign(level=lambda r: r["level"].astype(float))
    paper_by = {(r.manipulation, r.perturbation, float(r.level), r.metric): r.value for r in ref.itertuples()}
    paper_all = ref.groupby(["perturbation", "level", "metric"])["value"].mean().to_dict()

    def paper_value(r):
        if r["manipulation"] == "all":
            return paper_all.get((r["perturbation"], float(r["level"]), r["metric"]), math.nan)
        return paper_by.get((_PAPER_FORGERY.get(r["manipulation"], r["manipulation"]), r["perturbation"],
                             float(r["level"]), r["metric"]), math.nan)

    tab["paper"] = tab.apply(paper_value, axis=1)
    tab["diff"] = tab["value"] - tab["paper"]
    typed = tab[tab["manipulation"] != "all"]
    gap = typed.groupby(["convention", "round8", "metric"], sort=False)["diff"].apply(lambda d: d.abs().mean())
    tab["gap"] = [gap.get((c, r, m), math.nan) for c, r, m in zip(tab["convention"], tab["round8"], tab["metric"])]
    tab.insert(0, "dataset", name)
    tab["n_images"] = len(df)
    return tab


def _restorer_ablation(profile, variants: dict[str, dict], table: str, extra: str) -> pd.DataFrame:
    """Restoration quality (psnr/ssim in tampered regions at the paper's levels, ``manipulation="all"``) and
    downstream F1 / IoU (``reconwave`` behind each restorer, over the sweep) of restorer variants, with the
    all-tampered reference's F1 / IoU (``<extra>`` = ``"reference"``)."""
    parts = []
    for key, v in variants.items():
        rest = _tidy_restoration(_restoration_scores(profile, key, _paper_grid()), by_manipulation=False)
        loc = tidy_sweep(sweep_results(profile, "reconwave", key, method=key, grid=ablation_grid(profile)))
        loc["manipulation"] = "all"
        t = pd.concat([rest, loc], ignore_index=True)
        t["method"], t[extra] = key, v[extra]
        parts.append(t)
    ref = tidy_sweep(sweep_results(profile, REFERENCE, None, method=REFERENCE, grid=ablation_grid(profile)))
    ref = ref[ref["metric"] != "auc"].assign(manipulation="all", **{extra: "reference"})
    parts.append(ref)
    out = _attach_paper(pd.concat(parts, ignore_index=True), table)
    return _order(out, [extra])


def table7_attention(profile) -> pd.DataFrame:
    """ReConWave-Net Table 7: the restorer's bottleneck attention, Swin (= ``restorer``) / ViT /
    deformable: PSNR / SSIM in tampered regions and the detector's downstream F1 / IoU. Extra column
    ``attention``."""
    return _restorer_ablation(profile, {"restorer": {"attention": "swin"}, "restorer-vit": {"attention": "vit"},
                                        "restorer-deformable": {"attention": "deformable"}}, "table7", "attention")


def table8_forensic_loss(profile) -> pd.DataFrame:
    """ReConWave-Net Table 8: the restorer trained with the forensics-oriented loss (= ``restorer``) vs plain
    L1 (``restorer-l1``): PSNR / SSIM in tampered regions and downstream F1 / IoU. Extra column ``loss``."""
    return _restorer_ablation(profile, {"restorer": {"loss": "forensic"}, "restorer-l1": {"loss": "l1"}},
                              "table8", "loss")


#: The four methods of the comparison: name -> (detector run, restorer run or None).
METHODS: dict[str, tuple[str, str | None]] = {"reconwave": ("reconwave", "restorer"), "lpclnet": ("lpclnet", None),
                                              "ncl": ("ncl", None), "mpc": ("mpc", None)}


def method_sweeps(profile, methods: dict[str, tuple[str, str | None]] | None = None) -> pd.DataFrame:
    """Per-image sweep results of every method in ``methods`` (default :data:`METHODS` and the all-tampered
    reference), ``method`` column set."""
    methods = {**METHODS, REFERENCE: (REFERENCE, None)} if methods is None else methods
    grid = ablation_grid(profile)
    return pd.concat([sweep_results(profile, d, r, method=m, grid=grid) for m, (d, r) in methods.items()],
                     ignore_index=True)


def method_comparison(profile) -> pd.DataFrame:
    """ReConWave-Net (restorer + detector), LPCLNet, NCL and MPC (stage-1 pretraining, then the stage-2
    head on the frozen backbone), trained on the same split and evaluated on the same sweep. ``paper`` holds
    the papers' headline numbers where dataset / condition match (LPCLNet's clean CASIA v1 F1, ...)."""
    out = tidy_sweep(method_sweeps(profile))
    out["manipulation"] = "all"
    merged = None
    for paper in ("reconwave", "lpclnet"):
        try:
            b = _attach_paper(out, "abstract", paper=paper)
        except ValueError:  # ambiguous keys in a paper's list: skip it
            continue
        merged = b if merged is None else merged.assign(paper=merged["paper"].fillna(b["paper"]),
                                                        diff=merged["diff"].fillna(b["diff"]))
    out = merged if merged is not None else out
    out.attrs["paper_missing"] = " | ".join(_paper.MISSING_TABLES[k]
                                            for k in ("ncl/table", "mpc/table", "lpclnet/table"))
    return _order(out)


def lever_results(profile) -> pd.DataFrame:
    """Which lever gave what (``benchmarks/levers.py``, written to ``<results>/levers.csv``): held-out F1 / IoU /
    AUC of ReConWave-Net's detector per setup at equal optimiser steps, with the all-tampered reference row.
    Raises ``FileNotFoundError`` naming the command when the benchmark has not been run for this profile."""
    profile = _profiles.get(profile)
    path = Path(profile.results_dir) / "levers.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `python benchmarks/levers.py --data-root <data>` "
                                f"(about 30 min on a 2-core CPU) to measure the levers")
    t = pd.read_csv(path)
    missing = {"setup", "steps", "f1", "iou", "auc"} - set(t.columns)
    if missing:
        raise ValueError(f"{path}: not a levers table (missing columns {sorted(missing)})")
    return t


# ------------------------------------------------------------------------------------ for display
def wide(tidy: pd.DataFrame, index: Sequence[str] = ("method", "dataset", "perturbation", "level"),
         levels_only: bool = False) -> pd.DataFrame:
    """Tidy rows -> one row per ``index`` with a column per metric (what :func:`report.plot_sweep` takes).
    ``levels_only`` drops the aggregate rows (per-sweep and overall means), keeping clean and each level."""
    idx = [c for c in index if c in tidy.columns]
    if levels_only:
        tidy = tidy[tidy["level"].notna() | (tidy["perturbation"] == "clean")]
    t = tidy.assign(level=tidy["level"].fillna(-999.0))
    w = t.pivot_table(index=idx, columns="metric", values="value", aggfunc="mean", sort=False).reset_index()
    w["level"] = w["level"].replace(-999.0, np.nan)
    w.columns.name = None
    return w


def summarize(tidy: pd.DataFrame, index: str | Sequence[str] = "method", dataset: str | None = None,
              perturbations: Sequence[str] = ("clean", "brightness", "contrast", "mean")) -> pd.DataFrame:
    """Compact table of the aggregate rows (``level`` NaN) of one dataset (default ``mean`` when present, else
    the only one): rows ``index``, columns ``"<metric> <perturbation>"`` (e.g. ``f1 clean``, ``f1 mean``; IMDL-BenCo's
    aggregation beside ours as ``f1_benco ...`` / ``iou_benco ...`` where the table has it)."""
    t = tidy[tidy["level"].isna() & tidy["perturbation"].isin(perturbations) & tidy["value"].notna()]
    if dataset is None:
        dsets = list(dict.fromkeys(t["dataset"]))
        dataset = "mean" if "mean" in dsets else (dsets[0] if dsets else None)
    t = t[t["dataset"] == dataset]
    index = [index] if isinstance(index, str) else list(index)
    metric_order = [m for m in ("f1", "f1_benco", "iou", "iou_benco", "psnr", "ssim", "auc") if m in set(t["metric"])]
    t = t.assign(column=t["metric"] + " " + t["perturbation"])
    cols = [f"{m} {p}" for m in metric_order for p in perturbations if f"{m} {p}" in set(t["column"])]
    s = t.pivot_table(index=index, columns="column", values="value", aggfunc="mean", sort=False)
    s = s.reindex(columns=cols)
    s.columns.name = None
    s.attrs["dataset"] = dataset
    return s


def versus_reference(summary: pd.DataFrame, column: str = "f1 clean", margin: float = 0.05) -> pd.DataFrame:
    """Each row of a :func:`summarize` table against its all-tampered row (:data:`REFERENCE`): ``value``,
    ``reference``, ``above`` (= value - reference) and a ``verdict``: ``"learned nothing"`` within ``margin`` of
    the reference or below it, else ``"above the reference"``. Our rule for saying so instead of reporting a
    model near the trivial detector as a result."""
    def is_ref(key):
        return (key[0] if isinstance(key, tuple) else key) == REFERENCE

    keys = list(summary.index)
    refs = [k for k in keys if is_ref(k)]
    if not refs:
        raise ValueError(f"versus_reference: no {REFERENCE!r} row in the summary")
    if column not in summary.columns:
        raise KeyError(f"versus_reference: no column {column!r}; columns: {list(summary.columns)}")
    ref = float(summary.loc[refs[0], column])
    rows = summary.loc[[k for k in keys if not is_ref(k)], [column]].rename(columns={column: "value"})
    rows["reference"] = ref
    rows["above"] = rows["value"] - ref
    rows["verdict"] = ["learned nothing" if a < margin else "above the reference" for a in rows["above"]]
    return rows


def _condition(perturbation: str, level) -> str:
    """A tidy row's condition label: ``clean`` / ``mean`` / ``typical``, ``<sweep> mean`` for a sweep's
    aggregate (level NaN), else :func:`report.level_label` (``alpha=+0.5``, ``beta=2``)."""
    from .report import level_label

    if pd.isna(level):
        return perturbation if perturbation in ("clean", "mean", "typical") else f"{perturbation} mean"
    return level_label(perturbation, level)


def paper_view(tidy: pd.DataFrame, metric: str, index: Sequence[str] = ("method", "manipulation"),
               dataset: str | None = None) -> pd.DataFrame:
    """Ours beside the paper for one ``metric``: rows ``index``, columns (condition, ``ours`` / ``paper``) with
    conditions labelled as in :func:`paper_comparison` (``alpha=+0.5``, ``beta=2``, ``mean``). Rows of the
    paper-only methods (``dataset="(paper)"``) are kept; ``dataset`` picks ours (default: the first)."""
    t = tidy[tidy["metric"] == metric].copy()
    ours = [d for d in dict.fromkeys(t["dataset"]) if d != "(paper)"]
    dataset = dataset or (ours[0] if ours else None)
    t = t[t["dataset"].isin([dataset, "(paper)"])]
    t["condition"] = [_condition(p, lv) for p, lv in zip(t["perturbation"], t["level"])]
    conds = list(dict.fromkeys(t["condition"]))
    idx = list(index)
    v = t.pivot_table(index=idx, columns="condition", values=["value", "paper"], aggfunc="first", sort=False,
                      dropna=False)
    v = v.rename(columns={"value": "ours"}, level=0).swaplevel(0, 1, axis=1)
    v = v.reindex(columns=pd.MultiIndex.from_product([conds, ["ours", "paper"]]))
    v.columns.names = ["condition", None]
    return v.dropna(how="all")


def paper_comparison(tidy: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of a table function's output that have a published counterpart: ``method`` (+ the table's
    own columns), ``dataset``, ``manipulation``, ``condition`` (``clean``, ``alpha=+0.5``, ``beta=2``, ``mean``,
    ``brightness mean`` ...), ``metric``, ``ours``, ``paper``, ``diff`` (= ours - paper)."""
    t = tidy[tidy["paper"].notna()].copy()
    if metrics is not None:
        t = t[t["metric"].isin(list(metrics))]
    t["condition"] = [_condition(p, lv) for p, lv in zip(t["perturbation"], t["level"])]
    own = [c for c in t.columns if c not in TIDY_COLUMNS and c not in ("condition",)]
    cols = ["method", *own, "dataset", "manipulation", "condition", "metric", "value", "paper", "diff"]
    return t[cols].rename(columns={"value": "ours"}).reset_index(drop=True)


def paper_baselines(tables: Sequence[str] = ("table2", "table3"), metric: str = "f1") -> pd.DataFrame:
    """The published models' numbers as ReConWave-Net's Tables 2 and 3 report them (never re-run here):
    rows method, columns (dataset, condition) for the clean column and each sweep's mean of five columns."""
    ref = pd.concat([_paper.paper_numbers("reconwave", t) for t in tables], ignore_index=True)
    ref = ref[(ref["metric"] == metric) & ~ref["column"].str.startswith("level ")]
    ref = ref.assign(condition=[p if p == "clean" else f"{p} mean" for p in ref["perturbation"]])
    ref = ref.drop_duplicates(["method", "dataset", "condition"])
    w = ref.pivot_table(index="method", columns=["dataset", "condition"], values="value", sort=False)
    w.attrs["note"] = ("numbers reported by Yu et al. 2026 (Tables 2-3) for published models, not re-run here; "
                       f"metric {metric}")
    return w


def examples(profile, n: int = 3, perturbation: tuple[str, float | None] = ("brightness", -0.5),
             detector: str = "reconwave", restorer: str | None = "restorer", dataset: str | None = None
             ) -> list[dict]:
    """Rows for :func:`paper_repro.report.show_examples`: for the first ``n`` tampered images of an evaluation
    set, ``image`` (clean), ``perturbed``, ``restored`` (when a restorer is given), ``mask`` (ground truth)
    and ``prediction`` (the detector's tampering probability), all as numpy arrays at the model size."""
    import torch

    from .data import TamperDataset

    profile = _profiles.get(profile)
    _, _, evals = datasets_for(profile)
    name = dataset or next(iter(evals))
    df = evals[name]
    df = df[df["label"].astype(int) == 1].head(n)
    det_path, _ = _model_ref(profile, detector)
    res_path, _ = _model_ref(profile, restorer)
    det = _instantiate(det_path)
    res = _instantiate(res_path) if res_path is not None else None
    ds = TamperDataset(df, size=profile.size, policy="resize")
    rows = []
    for i in range(len(ds)):
        x, m = ds[i]
        xp = P.apply(perturbation[0], x[None], perturbation[1])
        with torch.no_grad():
            xr = res(xp)["restored"].clamp(0, 1) if res is not None else xp
            prob = torch.sigmoid(det(xr)["logits"].float())[0, 0]
        row = {"image": x.permute(1, 2, 0).numpy(), "perturbed": xp[0].permute(1, 2, 0).numpy(),
               "mask": m[0].numpy(), "prediction": prob.numpy()}
        if res is not None:
            row["restored"] = xr[0].permute(1, 2, 0).numpy()
        rows.append(row)
    return rows


def compare_examples(profile, n: int = 2, perturbation: tuple[str, float | None] = ("brightness", -0.5),
                     methods: dict[str, tuple[str, str | None]] | None = None, dataset: str | None = None
                     ) -> list[dict]:
    """Rows for :func:`report.show_examples`: ``perturbed`` image, ground-truth ``mask`` and one prediction map
    per method (keys = method names, default :data:`METHODS`) for the first ``n`` tampered images."""
    methods = METHODS if methods is None else methods
    rows = None
    for m, (d, r) in methods.items():
        ex = examples(profile, n=n, perturbation=perturbation, detector=d, restorer=r, dataset=dataset)
        if rows is None:
            rows = [{"perturbed": e["perturbed"], "mask": e["mask"]} for e in ex]
        for row, e in zip(rows, ex):
            row[m] = e["prediction"]
    return rows or []


def embedding_separation(profile, key: str = "mpc-pretrain", n_images: int = 4, n_points: int = 2000
                         ) -> tuple[list[dict], pd.DataFrame, pd.DataFrame]:
    """How a contrastive model's pixel embeddings separate tampered from authentic pixels.

    Returns ``(rows, points, stats)``: ``rows`` for :func:`report.show_examples` (``image``, ``mask``,
    ``similarity`` = cosine similarity of each pixel embedding to the image's mean authentic embedding,
    rescaled to [0, 1]); ``points`` = a 2-D PCA of up to ``n_points`` pixel embeddings from the evaluation
    images with their label (``authentic`` / ``tampered``); ``stats`` = per image the mean similarity of
    authentic and of tampered pixels and their difference (larger = better separated).
    """
    import torch
    import torch.nn.functional as F
    from sklearn.decomposition import PCA

    from .data import TamperDataset
    from .losses.contrastive import downsample_mask

    profile = _profiles.get(profile)
    _, _, evals = datasets_for(profile)
    df = next(iter(evals.values()))
    df = df[df["label"].astype(int) == 1].reset_index(drop=True)
    model = load(profile, key)
    ds = TamperDataset(df, size=profile.size, policy="resize")
    rows, feats, labels, stats = [], [], [], []
    for i in range(len(ds)):
        x, m = ds[i]
        with torch.no_grad():
            out = model(x[None])
        if "embeddings" not in out:
            raise ValueError(f"run {key!r} has no pixel embeddings")
        e = F.normalize(out["embeddings"].float(), dim=1)[0]  # (D, h, w)
        lab = downsample_mask(m[None], e.shape[-2:])[0].bool()  # (h, w)
        if lab.all() or not lab.any():
            continue
        ref = F.normalize(e[:, ~lab].mean(1), dim=0)
        sim = torch.einsum("dhw,d->hw", e, ref)
        stats.append({"image": Path(str(df.loc[i, "image"])).name, "sim_authentic": float(sim[~lab].mean()),
                      "sim_tampered": float(sim[lab].mean())})
        if len(rows) < n_images:
            simu = F.interpolate(sim[None, None], size=m.shape[-2:], mode="nearest")[0, 0]
            rows.append({"image": x.permute(1, 2, 0).numpy(), "mask": m[0].numpy(),
                         "similarity": ((simu + 1) / 2).numpy()})
        feats.append(e.reshape(e.shape[0], -1).t())
        labels.append(lab.reshape(-1))
    if not feats:
        raise ValueError("no evaluation image has both tampered and authentic pixels at the embedding size")
    z, y = torch.cat(feats).numpy(), torch.cat(labels).numpy()
    rng = np.random.default_rng(profile.seed)
    pick = rng.choice(len(z), size=min(n_points, len(z)), replace=False)
    pcs = PCA(n_components=2, random_state=profile.seed).fit_transform(z[pick])
    points = pd.DataFrame({"pc1": pcs[:, 0], "pc2": pcs[:, 1],
                           "label": np.where(y[pick], "tampered", "authentic")})
    st = pd.DataFrame(stats)
    st["separation"] = st["sim_authentic"] - st["sim_tampered"]
    return rows, points, st


# ------------------------------------------------------------------------------------------- data views
def data_overview(profile) -> dict[str, pd.DataFrame]:
    """Manifests to look at: the profile's training / evaluation sources (``synthetic`` for smoke) and every
    real dataset found under the data root (each with ``attrs["report"]`` = what its adapter did)."""
    from .data import available_datasets, manifest, synthetic

    profile = _profiles.get(profile)
    out: dict[str, pd.DataFrame] = {}
    if "synthetic" in profile.train_datasets:
        out["synthetic"] = manifest("synthetic", synthetic.ensure_default(size=profile.synthetic_size,
                                                                          n=profile.n_synthetic))
    root = profile.resolved_data_root()
    if root is not None:
        if "photos-synthetic" in profile.train_datasets:
            out["photos-synthetic"] = _photos_synthetic(profile, root)
        for name in available_datasets():
            if name not in _NOT_BENCHMARKS and (root / name).exists():
                try:
                    out[name] = manifest(name, root / name)
                except Exception as err:  # noqa: BLE001 - shown, not fatal, in the data notebook
                    warnings.warn(f"{name}: manifest failed: {err}")
    return out


def dataset_stats(manifests: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Counts per dataset, label (``authentic`` / ``tampered``) and manipulation."""
    rows = []
    for name, df in manifests.items():
        for (lab, manip), g in df.assign(kind=_strata(df)).groupby(["label", "kind"], sort=True):
            rows.append({"dataset": name, "label": "tampered" if int(lab) else "authentic", "manipulation": manip,
                         "n_images": len(g)})
    return pd.DataFrame(rows, columns=["dataset", "label", "manipulation", "n_images"])


def mask_stats(df: pd.DataFrame, max_images: int | None = 300, seed: int = 0) -> pd.DataFrame:
    """Per tampered image (a seeded sample of at most ``max_images``): height, width and the fraction of
    pixels marked tampered."""
    from .data import read_pair

    t = df[df["label"].astype(int) == 1]
    t = _cap(t, max_images, seed) if max_images else t
    rows = []
    for _, r in t.iterrows():
        try:
            img, m = read_pair(r)
        except Exception as err:  # noqa: BLE001
            warnings.warn(f"{r['image']}: {err}")
            continue
        rows.append({"dataset": r.get("dataset"), "manipulation": _strata(pd.DataFrame([r]))[0],
                     "height": img.shape[0], "width": img.shape[1], "mask_fraction": float(m.mean())})
    return pd.DataFrame(rows, columns=["dataset", "manipulation", "height", "width", "mask_fraction"])


def perturbation_examples(image, alphas: Iterable[float] = P.BRIGHTNESS_ALPHAS,
                          betas: Iterable[float] = P.CONTRAST_BETAS) -> dict[str, tuple[list[dict], list[str]]]:
    """One image (HxWx3 in [0, 1]) under every brightness and every contrast level:
    ``{"brightness": (rows, columns), "contrast": (rows, columns)}``, each a one-row input for
    :func:`report.show_examples` with the clean image first (labels from :func:`report.level_label`)."""
    import torch

    from .report import level_label

    x = torch.as_tensor(np.asarray(image, dtype=np.float32))
    if x.dim() == 3 and x.shape[-1] == 3:
        x = x.permute(2, 0, 1)
    out = {}
    for name, levels in (("brightness", alphas), ("contrast", betas)):
        row = {"clean": x} | {level_label(name, float(v)): P.apply(name, x, float(v)) for v in levels}
        out[name] = ([row], list(row))
    return out
