"""The ``smoke`` / ``cpu`` / ``paper`` parameter sets: one place, used by the notebooks and the CLI.

``get(name, **overrides) -> Profile``; ``PROFILES`` lists the names. A :class:`Profile` is a frozen dataclass
with attribute access and :meth:`Profile.asdict` (JSON-ready: paths as strings). The README's "Profiles"
table gives every field's meaning and its ``smoke`` / ``cpu`` / ``paper`` values.

Training budgets: ``epochs`` / ``max_steps`` / ``lr`` (keyed by stage) are the budget of every row of every
comparison table, so the rows of one table are trained alike; ``main_budget`` (keyed by stage) is the longer
budget of the two models that ``paper-repro predict`` ships (run keys ``reconwave`` and ``restorer``).
Dict-valued fields are merged key by key by :func:`get` (``get("smoke", epochs={"detector": 5})``).
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
#: learning-rate schedules of :func:`paper_repro.train.fit`: fastai's one-cycle (warm-up over a quarter of the
#: steps, cosine annealing) or the peak rate throughout
SCHEDULES = ("one_cycle", "constant")
#: when a table-budget fit computes its validation metrics: after every epoch, or only after its last
TABLE_VALIDATION = ("every_epoch", "last_epoch")
#: ``"table"``: every row of a comparison table; ``"main"``: the models ``predict`` ships.
BUDGETS = ("table", "main")
HOME_ENV = "PAPER_REPRO_HOME"


def project_root() -> Path:
    """Where a run's outputs go (``results/``, ``figures/``, ``checkpoints/``, ``runs/``): ``$PAPER_REPRO_HOME``,
    else the source checkout holding this package (it has ``pyproject.toml``), else the current directory."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return source_root() or Path.cwd().resolve()


def source_root() -> Path | None:
    """The source checkout holding this package (the folder with ``pyproject.toml``, ``notebooks/`` and
    ``reference/``), whatever ``$PAPER_REPRO_HOME`` says; ``None`` for an installed copy without one."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").is_file() else None


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
    main_budget: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_bootstrap: int = 1000
    decision_thresholds: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5)
    classifier_pretrain: dict[str, Any] = field(default_factory=dict)
    model_lr: dict[str, float] = field(default_factory=dict)
    schedule: str = "one_cycle"
    ema: float | None = None
    table_validation: str = "every_epoch"
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
        if self.schedule not in SCHEDULES:
            raise ValueError(f"profile {self.name!r}: schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.table_validation not in TABLE_VALIDATION:
            raise ValueError(f"profile {self.name!r}: table_validation must be one of {', '.join(TABLE_VALIDATION)}, "
                             f"got {self.table_validation!r}")
        if self.ema is not None and not 0.0 < float(self.ema) < 1.0:
            raise ValueError(f"profile {self.name!r}: ema must be None or a decay in (0, 1), got {self.ema}")
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

    def stage(self, stage: str, budget: str = "table", model: str | None = None) -> dict[str, Any]:
        """``{"epochs", "max_steps", "lr"}`` of one training stage: the comparison tables' budget (``"table"``),
        or with ``budget="main"`` the shipped models' (``main_budget[stage]`` over the table budget); ``model``'s
        own learning rate (``model_lr``) replaces the stage's where the profile gives one. A ``main_budget`` entry
        may add ``patience`` (restorer only): stop after that many epochs in a row without a better validation
        PSNR and keep the best epoch. The table budget never stops early, so every row of a table takes the
        same steps."""
        if stage not in STAGES:
            raise KeyError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        if budget not in BUDGETS:
            raise KeyError(f"unknown budget {budget!r}; budgets: {', '.join(BUDGETS)}")
        out = {"epochs": self.epochs.get(stage), "max_steps": self.max_steps.get(stage), "lr": self.lr.get(stage)}
        if budget == "main":
            out.update(self.main_budget.get(stage, {}))
        if model is not None and model in self.model_lr:
            out["lr"] = float(self.model_lr[model])
        return out

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


#: ReConWave-Net as a from-scratch U-Net (depth 4, width 64 in the ``paper`` profile): the classic U-Net size,
#: labelled as the scratch option (``model_kwargs={"reconwave": SCRATCH_RECONWAVE}``).
SCRATCH_RECONWAVE = {"encoder": "scratch", "depth": 4, "embed_dim": 128}

_TINY_DETECTORS = {"lpclnet": {"preset": "tiny"}, "ncl": {"preset": "tiny"}, "mpc": {"preset": "tiny"},
                   "mpc-finetune": {"preset": "tiny"}}

#: The restorer of every profile: classify the disturbance from CNN features, global statistics and the
#: 8-bit histogram's evidence (clipped ends, peak / gap comb), act only on a class of probability >= 0.5 and
#: leave a photo decided clean unchanged, estimate the strength, invert analytically (a clipped pixel gets the
#: mean value of the training photos inside its interval), refine with the U-Net.
_RESTORER = {"inverse": True, "histogram": True, "clean_threshold": 0.5, "skip_clean": True, "prior_fill": True}

_BASE: dict[str, dict[str, Any]] = {
    "smoke": dict(
        image_size=64, batch_size=8,
        epochs={"restorer": 4, "detector": 8, "pretrain": 2, "finetune": 8},
        max_steps={"restorer": 24, "detector": 48, "pretrain": 6, "finetune": 48},
        lr={"restorer": 2e-3, "detector": 2e-3, "pretrain": 1e-3, "finetune": 3e-3},
        width={"reconwave": 8, "restorer": 8, "lpclnet": 8, "ncl": 8, "mpc": 8,
               "mpc-finetune": 8},
        model_kwargs={"reconwave": {"depth": 3, "embed_dim": 16}, "restorer": _RESTORER, **_TINY_DETECTORS},
        n_synthetic=64, synthetic_size=64,
        train_datasets=("synthetic",), eval_datasets=("synthetic",), optimizer="adamw",
        max_eval_images=16, eval_batch_size=8, num_workers=0, cache_images=True,
        classifier_pretrain={"steps": 20, "batch": 8, "views": 2},
    ),
    "cpu": dict(
        # Native resolution: 256x256 crops of the stored CASIA v1 images on the 8-pixel JPEG grid, whole images
        # at their own size for evaluation. ReConWave-Net (and its ablations) on an ImageNet EfficientNet-Lite0
        # encoder: one bf16 channels-last step of 8 crops costs ~0.7 s on the 2-core CPU (measured).
        image_size=256, batch_size=8, size_policy="random_crop", crop_grid=8, channels_last=True,
        # every row of a comparison table: 200 detector steps (MPC: 400 pretraining + 200 head steps), 64 restorer
        # steps; the shipped detector and restorer train longer (main_budget). The reference configuration
        # scores 0.53 / 0.76 / 0.91 of the shipped detector's held-out F1 at 120 / 400 / 800 steps
        # (benchmarks/arm-budget-curve-cpu.csv); each 100 steps more for the 17 detector fits of the tables
        # adds about 16 min to the cpu reproduction, and 800 steps would take it past 150 min.
        # A step of 8 crops at 256x256 costs about 0.55 s in bf16 on a 2-core CPU with native bf16.
        # A detector's 200 steps come in 2 epochs of 100 (an epoch holds at most 102 batches of the training
        # side), MPC's 400 pretraining steps in 4, a restorer's 64 in one. A table-budget fit validates once, after its last epoch: nothing reads
        # its earlier epochs' record, a validation pass (323 images) costs about 14 s, and validation leaves the
        # random streams alone, so the trained weights are those of a fit validating every epoch.
        epochs={"restorer": 1, "detector": 2, "pretrain": 4, "finetune": 2},
        max_steps={"restorer": 64, "detector": 200, "pretrain": 400, "finetune": 200},
        table_validation="last_epoch",
        # the shipped restorer (only it) trains at most 6 epochs of 60 steps and stops after two epochs in a row
        # that do not raise the validation PSNR, keeping the best epoch's weights; every restorer of Tables 7-8
        # trains its 64 steps in full
        # The shipped detector trains 2400 steps: the 2000 steps it trained before its training step became 1.23x
        # faster (benchmarks/before-after-cpu.csv), in the same wall time. Spent on steps rather than crops per
        # step: a crop costs the same at batch 8, 12 and 16 (79 ms each, benchmarks/crop-cost-cpu.csv), and
        # at equal crops the lever study's batch 16 x 204 steps and batch 8 x 400 steps are equal on validation
        # within the spread of three seeds; more crops keep raising F1 at this budget (1500 < 2000 steps).
        main_budget={"detector": {"epochs": 24, "max_steps": 2400},
                     "restorer": {"epochs": 6, "max_steps": 360, "patience": 1}},
        # the disturbance classifier first trains alone: 2000 steps of 8 crops x 2 disturbances, half of them
        # resampled off the 8-bit grid (about 2 min on the 2-core CPU; grid accuracy 0.64 after 240 steps of 8)
        classifier_pretrain={"steps": 2000, "batch": 8, "views": 2},
        lr={"restorer": 2e-3, "detector": 1e-3, "pretrain": 1e-3, "finetune": 3e-3},
        width={"reconwave": 16, "restorer": 8, "lpclnet": 8, "ncl": 8, "mpc": 8,
               "mpc-finetune": 8},
        model_kwargs={"reconwave": {"encoder": "efficientnet-lite0", "embed_dim": 32},
                      # classify (histogram evidence, clean unless sure), estimate the strength, invert, refine
                      "restorer": _RESTORER,
                      # the comparison stays fair: every detector stands on the same pretrained encoder
                      **{k: {**v, "encoder": "efficientnet-lite0"} for k, v in _TINY_DETECTORS.items()}},
        # the same class weighting for every detector of a comparison: tampered pixels weigh 3x (BCE pos_weight;
        # MPC's focal loss: alpha 0.75, i.e. 3:1)
        loss_kwargs={"reconwave": {"pos_weight": 3.0}, "lpclnet": {"pos_weight": 3.0}, "ncl": {"pos_weight": 3.0},
                     "mpc-finetune": {"alpha": 0.75}},
        # learning rate and class weight of the compared detectors: the best validation F1 of
        # benchmarks/hparam_search.py (lr 1e-3 / 3e-3 x class weight 1 / 3; benchmarks/hparam-search-cpu.csv, run
        # when the table budget's 120 steps came in 6 epochs of 20: the same steps and schedule, other batches):
        # ReConWave-Net 1e-3 and 3x (the stage's own), LPCLNet 3e-3 and 3x, NCL 1e-3 and 3x, MPC's head 3e-3 and
        # alpha 0.75 (the stages' own values otherwise)
        model_lr={"lpclnet": 3e-3},
        authentic_fraction=0.1,
        # every detector trains on CASIA v1's training side and photos-synthetic (400 object-shaped splices,
        # copy-moves and removals made from BSDS500's train / val photos, splits.PHOTOS_SYNTHETIC), with no
        # on-the-fly tampering: benchmarks/levers.py at 400 steps, validation F1 0.426 / 0.356 (seeds 0 / 1) against
        # the on-the-fly recipe's 0.406 +- 0.017 (three seeds), within the noise; out of distribution removal F1
        # 0.324 / 0.272 and copy-move 0.467 / 0.502 against 0.16-0.27 and 0.44-0.47, and cheaper steps
        onthefly_tampering=0.0,
        n_synthetic=400, synthetic_size=256,
        train_datasets=("photos-synthetic", "casia1:train"),
        eval_datasets=("casia1:test", "*"),
        # a seeded stratified sample of 240 of the 517 held-out images (about 125 tampered), each at its own size:
        # the whole split doubles the sweeps' time (benchmarks/heldout_predict.py scores every held-out image)
        max_eval_images=240, eval_batch_size=8, num_workers=1, checkpoint_every=100, cache_images=True,
    ),
    "paper": dict(
        image_size=512, batch_size=16,
        epochs={"restorer": 50, "detector": 100, "pretrain": 100, "finetune": 30},
        max_steps={"restorer": None, "detector": None, "pretrain": None, "finetune": None},
        lr={"restorer": 1e-4, "detector": 1e-4, "pretrain": 1e-4, "finetune": 1e-3},
        width={"reconwave": 64, "restorer": 32},
        # ReConWave-Net on the ImageNet EfficientNet-Lite0 pyramid (decoder widths 64 ... 1024): the from-scratch
        # U-Net of depth 4 and width 64 did not learn at CASIA v1's scale on the CPU; it stays an option:
        # get("paper", model_kwargs={"reconwave": SCRATCH_RECONWAVE})
        model_kwargs={"reconwave": {"encoder": "efficientnet-lite0", "embed_dim": 128}, "restorer": _RESTORER,
                      "lpclnet": {"preset": "paper"}, "ncl": {"preset": "paper"}, "mpc": {"preset": "paper"},
                      "mpc-finetune": {"preset": "paper"}},
        n_synthetic=10000, synthetic_size=512,
        train_datasets=("photos-synthetic", "casia1:train"),
        eval_datasets=("casia1:test", "photos-ood", "*"),
        max_eval_images=None, eval_batch_size=16, num_workers=8, channels_last=True, checkpoint_every=500,
        optimizer="adamw", classifier_pretrain={"steps": 10000, "batch": 16, "views": 2},
    ),
}

PROFILES: tuple[str, ...] = tuple(_BASE)
_DICT_FIELDS = ("epochs", "max_steps", "lr", "width", "model_kwargs", "loss_kwargs", "main_budget",
                "classifier_pretrain", "model_lr")


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
