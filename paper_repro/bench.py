"""``paper-repro bench``: speed and memory as measured, reported properties.

For every trainable registered model (detectors and the restorer; default: the models that have a
registered loss) at a profile's input size and widths, :func:`run_bench` measures

- ``params`` (all parameters) and ``flops``: forward FLOPs per image in eval mode, counted by
  :class:`torch.utils.flop_counter.FlopCounterMode` (convolutions, matmuls and attention; one
  multiply-add = 2 FLOPs; elementwise ops, pooling and interpolation are not counted);
- ``train_ips_package``: training images/s through the package's own fastai loop
  (:func:`paper_repro.train.make_learner` + :func:`paper_repro.train.fit`, the profile's default
  precision and layout, ``quiet=True`` i.e. no progress bar, no checkpoint folder), and
  ``train_ips_manual``: the same model, data, batch size, precision, optimiser (the profile's
  ``optimizer``, built by :func:`paper_repro.train.optim.torch_optimizer`: fused AdamW for ``"adamw"``,
  the loop AdamW with fastai's Adam rule for ``"adam"``) and loss in a minimal hand-written PyTorch loop
  (:func:`manual_fit`); ``train_ratio`` = package / manual (target >= 0.95),
  ``train_overhead_ms`` = the difference in step time (the loop's fixed per-step cost: callbacks,
  fastai's optimiser and DataLoader; it matters only when steps are a few tens of ms).
  Both are timed between consecutive optimiser steps (data fetch + forward + loss + backward + step +
  per-batch callbacks), after ``warmup`` steps; validation and fit start/end are not timed;
- ``bf16_speedup`` (training, hand-written loop): bf16 autocast (CPU) or AMP (GPU: bf16 where
  supported, else fp16 with a ``GradScaler``) over fp32; ``channels_last_speedup``: NHWC over NCHW at
  the default precision. The winners are written into those records (``winner``) next to what the
  profile's ``"auto"`` resolves to on this device (``auto``, ``auto_matches``); ``*_infer`` variants
  measure the same for inference;
- ``infer_ips`` (batch ``eval_batch_size``) and ``latency_ms_512`` (one 512x512 image), eval mode,
  ``torch.inference_mode``, default precision and layout;
- ``dataload_ips``: the real loaders alone (:func:`paper_repro.data.make_dataloaders` over the
  built-in synthetic set at the profile size, ``num_workers`` of the profile), steady state (first
  batch of each pass excluded); ``dataload_headroom`` = ``dataload_ips / train_ips_package`` (> 1:
  data loading does not limit training);
- ``peak_rss_mb`` (process peak resident memory during the package fit; Linux: the high-water mark
  is reset first through ``/proc/self/clear_refs``, elsewhere it is the process's lifetime peak) and,
  on GPU, ``peak_gpu_mem_mb`` (``torch.cuda.max_memory_allocated``);
- ``sweep_ips``: images x perturbation levels per second of the streamed robustness sweep
  (:func:`paper_repro.evaluate.sweep`, the profile's brightness/contrast grid, clean included), and
  ``sweep_overhead`` = sweep time / (levels x one clean :func:`paper_repro.evaluate.evaluate` pass)
  (target <= 1.1); for ``reconwave`` (else the first detector) also ``sweep_time_ratio_2x`` (sweep
  time at 2N over N images; linear cost gives 2) and ``rss_growth_mb`` (peak RSS at 2N minus at N;
  streamed evaluation keeps it near 0);
- ``predict_startup_s`` / ``predict_peak_rss_mb`` (with ``reconwave``): one ``paper-repro predict`` of a
  400x300 JPEG in a fresh process with ``--tta none`` (imports, checkpoint, one inference pass, writing the
  maps), median wall time and the child's own peak RSS (:func:`predict_startup`);
- on GPU: ``mfu_train`` = 3 x forward FLOPs x ``train_ips_manual`` / peak, ``mfu_infer`` = forward
  FLOPs x ``infer_ips`` / peak, with the dense bf16 tensor-core peaks of :data:`PEAK_FLOPS`.

Timings: each run does ``warmup`` untimed steps/calls, then ``repeats`` timed groups; the variants
being compared (package vs hand-written loop, fp32 vs AMP, NCHW vs NHWC) run in ``rounds`` interleaved
rounds (order reversed every other round) so that a change in machine load hits them alike; a
record's ``value`` is the median over all groups (``min`` / ``max`` kept as well). Every record
carries the device, torch thread count, torch / fastai / timm versions, CPU model and the 1-minute
load average. On a CPU shared with other busy processes, several intra-op threads per process make
every step many times slower (threads wait for each other at each parallel region); ``--threads 1``
then gives the more meaningful numbers.

``--json`` prints a list of records ``{"model", "measure", "value", "unit", "device", "threads",
"profile", ...}``; the default prints a table; ``--out FILE.csv`` appends the records to a CSV.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json as _json
import os
import platform
import resource
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn as nn

__all__ = ["MEASURES", "REQUIRED_MEASURES", "PEAK_FLOPS", "BenchSettings", "settings_for", "environment",
           "count_params", "count_flops", "manual_fit", "throughput", "run_bench", "records_frame",
           "append_csv", "add_arguments", "main"]

#: measure -> unit
MEASURES: dict[str, str] = {
    "params": "count",
    "trainable_params": "count",
    "flops": "FLOP/image",
    "train_ips_package": "images/s",
    "train_ips_manual": "images/s",
    "train_ratio": "ratio",
    "train_overhead_ms": "ms/step",
    "train_ips_manual_fp32": "images/s",
    "train_ips_manual_amp": "images/s",
    "train_ips_manual_nhwc": "images/s",
    "train_ips_manual_nchw": "images/s",
    "bf16_speedup": "ratio",
    "channels_last_speedup": "ratio",
    "infer_ips": "images/s",
    "latency_ms_512": "ms",
    "bf16_speedup_infer": "ratio",
    "channels_last_speedup_infer": "ratio",
    "dataload_ips": "images/s",
    "dataload_headroom": "ratio",
    "peak_rss_mb": "MB",
    "peak_gpu_mem_mb": "MB",
    "sweep_ips": "image-levels/s",
    "sweep_overhead": "ratio",
    "sweep_time_ratio_2x": "ratio",
    "rss_growth_mb": "MB",
    "mfu_train": "fraction",
    "mfu_infer": "fraction",
    "dense_matmul_flops": "FLOP/s",
    "train_flops_rate": "FLOP/s",
    "matmul_share": "fraction",
    "predict_startup_s": "s",
    "predict_peak_rss_mb": "MB",
}

#: measures every run reports (per model, or once for ``dataload_ips``); detectors only for the sweep
REQUIRED_MEASURES = ("params", "flops", "train_ips_package", "train_ips_manual", "train_ratio", "infer_ips",
                     "latency_ms_512", "bf16_speedup", "channels_last_speedup", "dataload_ips", "peak_rss_mb",
                     "sweep_ips", "sweep_overhead", "sweep_time_ratio_2x", "rss_growth_mb", "predict_startup_s",
                     "predict_peak_rss_mb")

#: dense (no sparsity) bf16 tensor-core peak FLOP/s, from the vendors' data sheets: H100 SXM5 and H200
#: 989.4 TFLOP/s, H100 PCIe 756 TFLOP/s, H100 NVL 835 TFLOP/s, A100 (SXM and PCIe) 312 TFLOP/s,
#: L40S 362 TFLOP/s, L4 121 TFLOP/s. Matched in order against ``torch.cuda.get_device_name()``.
PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989.4e12), ("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H100", 989.4e12),
    ("A100", 312e12), ("L40S", 362e12), ("L4", 121e12),
)

CSV_COLUMNS = ("timestamp", "run_id", "profile", "model", "measure", "value", "unit", "device", "device_name",
               "threads", "precision", "channels_last", "image_size", "batch_size", "min", "max", "repeats",
               "torch", "fastai", "timm", "python", "cpu", "loadavg_1m", "extra")


# ------------------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class BenchSettings:
    """How much to measure: ``warmup`` untimed steps, ``repeats`` timed groups of ``group`` steps per
    run, ``rounds`` interleaved rounds of the compared variants (package / hand-written loop, fp32 /
    AMP, NCHW / NHWC), ``n_eval`` images for the sweep (and ``2 * n_eval`` for the scaling check)."""

    warmup: int = 2
    repeats: int = 3
    group: int = 3
    infer_repeats: int = 3
    n_eval: int = 16
    sweep_repeats: int = 1
    dataload_passes: int = 3
    n_synthetic: int = 64
    latency_size: int = 512
    rounds: int = 2
    quick: bool = False

    @property
    def timed_steps(self) -> int:
        return self.repeats * self.group


def settings_for(profile: str, quick: bool = False) -> BenchSettings:
    """Bench sizes per profile: ``smoke`` (a couple of minutes on 2 cores), ``cpu``, ``paper``;
    ``quick`` (tests) shrinks everything to the minimum that still yields every measure."""
    if quick:
        return BenchSettings(warmup=1, repeats=3, group=1, infer_repeats=3, n_eval=4, sweep_repeats=1,
                             dataload_passes=2, n_synthetic=64, rounds=1, quick=True)
    return {
        "cpu": BenchSettings(warmup=3, repeats=5, group=3, infer_repeats=5, n_eval=32, sweep_repeats=2,
                             n_synthetic=64),
        "paper": BenchSettings(warmup=5, repeats=5, group=5, infer_repeats=5, n_eval=64, sweep_repeats=3,
                               n_synthetic=128),
        # smoke steps take 10-40 ms: 40 timed steps per run and 3 interleaved rounds keep the package / hand-written
        # ratio's noise well under the 5 % the target allows (9 steps x 2 rounds scattered it by +-10 %)
        "smoke": BenchSettings(warmup=3, repeats=5, group=8, rounds=3, n_eval=32),
    }.get(profile, BenchSettings(n_eval=32))


# ------------------------------------------------------------------------------------- environment
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(mod: str) -> str:
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:  # noqa: BLE001
        return "n/a"


def environment(device: torch.device | str | None = None) -> dict[str, Any]:
    """Device, thread count, library versions and CPU model stamped on every record."""
    device = torch.device(device) if device is not None else _default_device()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    return {"device": device.type, "device_name": name, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "fastai": _version("fastai"), "timm": _version("timm"),
            "python": platform.python_version(), "cpu": cpu_model()}


def _default_device() -> torch.device:
    from fastai.torch_core import default_device

    return torch.device(default_device())


def _loadavg() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return float("nan")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------------------- memory
def _reset_peak_rss() -> bool:
    """Reset the kernel's resident-set high-water mark (Linux >= 4.0); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    """Peak RSS in MB: ``VmHWM`` (resettable) where available, else ``getrusage`` (process lifetime)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def _rss_mb() -> float:
    """Current RSS in MB (``VmRSS``; NaN where ``/proc`` is missing)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


@contextlib.contextmanager
def _peak_memory(device: torch.device):
    """Yields a dict filled on exit with ``rss_mb`` (peak), ``rss_before_mb``, ``rss_method`` and
    ``gpu_mb`` (CUDA)."""
    out: dict[str, Any] = {"rss_before_mb": _rss_mb()}
    resettable = _reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield out
    finally:
        out["rss_mb"] = _peak_rss_mb()
        out["rss_method"] = "VmHWM (reset)" if resettable else "getrusage (process lifetime peak)"
        if device.type == "cuda":
            out["gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20


# ---------------------------------------------------------------------------------- params / FLOPs
def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (``trainable_only``: those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, size: int | tuple[int, int] = 512, batch: int = 1,
                device: torch.device | str = "cpu") -> float:
    """Forward FLOPs per image at ``size`` (eval mode, fp32, no grad), from ``FlopCounterMode``.

    FlopCounterMode counts convolutions, matmuls and attention (a multiply-add is 2 FLOPs); a
    ``Conv2d(c_in, c_out, k)`` on an ``H x W`` output costs ``2 * c_in * c_out * k * k * H * W``
    (bias and elementwise ops are not counted).
    """
    from torch.utils.flop_counter import FlopCounterMode

    h, w = (size, size) if isinstance(size, int) else size
    was_training = model.training
    model.eval()
    x = torch.rand(batch, 3, h, w, device=device)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / batch


# --------------------------------------------------------------------------------------- timing
def throughput_groups(step_ends: Sequence[float], start: float, batch_size: int, warmup: int,
                      repeats: int) -> list[float]:
    """Images/s of each of ``repeats`` contiguous groups of steps, from the end times of consecutive
    steps (``start`` = before the first step); the first ``warmup`` intervals are dropped."""
    times = [start, *step_ends]
    intervals = [b - a for a, b in zip(times[:-1], times[1:])][warmup:]
    if not intervals:
        raise ValueError(f"no timed steps: {len(step_ends)} steps, warmup {warmup}")
    repeats = max(1, min(repeats, len(intervals)))
    size = len(intervals) // repeats
    groups = [intervals[i * size:(i + 1) * size] for i in range(repeats)]
    groups[-1] += intervals[repeats * size:]
    return [batch_size * len(g) / max(sum(g), 1e-12) for g in groups]


def _stats(values: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def throughput(step_ends: Sequence[float], start: float, batch_size: int, warmup: int, repeats: int):
    """``(median, min, max)`` over :func:`throughput_groups`."""
    return _stats(throughput_groups(step_ends, start, batch_size, warmup, repeats))


def _time_calls(fn: Callable[[], Any], warmup: int, repeats: int, device: torch.device) -> list[float]:
    for _ in range(warmup):
        fn()
    _sync(device)
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - t)
    return out


# ------------------------------------------------------------------------------------ training data
class _Pool(torch.utils.data.Dataset):
    """``length`` items cycling over in-memory ``(image, mask)`` tensors (training-speed data: no decoding)."""

    n_inp = 1

    def __init__(self, images: torch.Tensor, masks: torch.Tensor, length: int):
        self.images, self.masks, self.length = images, masks, int(length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        if not 0 <= i < self.length:
            raise IndexError(i)
        j = i % len(self.images)
        return self.images[j], self.masks[j]


def _synthetic_frames(prof, n: int, quick: bool):
    """The built-in synthetic set (generated once, cached) and its train / valid split."""
    from .data import manifest, split
    from .data.synthetic import ensure_default

    if quick:  # the default set (64 images, 128x128), the one the other tests use
        df = manifest("synthetic")
    else:
        df = manifest("synthetic", ensure_default(n=int(n), size=prof.synthetic_size))
    return df, split(df, valid_pct=0.2, seed=prof.seed)


def _pool_tensors(df, size, n: int):
    from .data import TamperDataset

    ds = TamperDataset(df.iloc[:n], size=size, policy="resize")
    items = [ds[i] for i in range(min(n, len(ds)))]
    return torch.stack([x for x, _ in items]), torch.stack([m for _, m in items])


# --------------------------------------------------------------------------------- hand-written loop
def _stage_of(model_name: str) -> str:
    from .models import stage_of

    return stage_of(model_name)


def _amp_dtype(precision: str, device: torch.device):
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def manual_fit(model: nn.Module, loss_fn: nn.Module, batches: Iterable, lr: float = 1e-3, precision: str = "fp32",
               channels_last: bool = False, device: torch.device | str = "cpu", stage: str = "detector",
               seed: int = 0, max_steps: int | None = None, wd: float = 0.01,
               optimizer: str = "adam") -> dict[str, Any]:
    """A minimal PyTorch training loop (the reference for the package's fastai loop).

    ``optimizer`` (:func:`paper_repro.train.optim.torch_optimizer`: fastai's Adam rule, betas (0.9, 0.99),
    eps 1e-5, decoupled weight decay ``wd``, none on parameters with ``ndim <= 1``) over the parameters that
    require grad, constant ``lr``; ``precision`` ``"fp32"``, ``"bf16"`` (autocast)
    or ``"fp16"`` (autocast + ``GradScaler``, CUDA); outputs cast to fp32 before ``loss_fn(outputs, mask,
    **extra)``. ``stage="restorer"`` disturbs each clean batch as :class:`~paper_repro.train.callbacks.
    DisturbanceCallback` does (same seeds). Returns ``{"losses": [...], "step_ends": [...], "start": t0}``
    (``perf_counter`` times, GPU-synchronised).
    """
    from .perturb import random_disturbance
    from .train.callbacks import derive_seed, to_fp32

    device = torch.device(device)
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    from .train.optim import torch_optimizer

    opt = torch_optimizer(optimizer, params, lr=lr, wd=wd)
    dtype = _amp_dtype(precision, device)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    losses, ends = [], []
    start = time.perf_counter()
    for i, (xb, yb) in enumerate(batches):
        if max_steps is not None and i >= max_steps:
            break
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        extra = {}
        if stage == "restorer":
            g = torch.Generator().manual_seed(derive_seed(seed, 0, i, 0))
            clean = xb
            xb, labels, strength = random_disturbance(clean, generator=g)
            extra = {"clean": clean, "disturbance": labels.to(device), "strength": strength.to(device)}
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        if dtype is not None:
            with torch.autocast(device.type, dtype=dtype):
                out = model(xb)
        else:
            out = model(xb)
        total, _ = loss_fn(to_fp32(out), yb.float(), **extra)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(total).backward()
            scaler.step(opt)
            scaler.update()
        else:
            total.backward()
            opt.step()
        losses.append(total.detach())
        _sync(device)
        ends.append(time.perf_counter())
    return {"losses": [float(v) for v in losses], "step_ends": ends, "start": start}


def _fresh_model(model_name: str, cfg: dict, seed: int):
    from .models import create
    from .train.callbacks import seed_everything

    seed_everything(seed)
    model = create(model_name, **cfg)
    if _stage_of(model_name) == "finetune" and hasattr(model, "freeze_backbone"):
        model.freeze_backbone()
    return model


def _manual_ips(model_name, cfg, pool, bs, lr, precision, channels_last, device, seed, st: BenchSettings,
                optimizer: str = "adam"):
    from .losses import loss_for

    model = _fresh_model(model_name, cfg, seed)
    g = torch.Generator().manual_seed(seed)
    dl = torch.utils.data.DataLoader(pool, batch_size=bs, shuffle=True, drop_last=True, generator=g)
    res = manual_fit(model, loss_for(model_name), dl, lr=lr, precision=precision, channels_last=channels_last,
                     device=device, stage=_stage_of(model_name), seed=seed,
                     max_steps=st.warmup + st.timed_steps, optimizer=optimizer)
    return throughput_groups(res["step_ends"], res["start"], bs, st.warmup, st.repeats)


# ---------------------------------------------------------------------------------- package loop
def _step_timer(device: torch.device):
    from fastai.callback.core import Callback

    class StepTimer(Callback):
        """Records the end time of every training batch (after every other callback's after_batch)."""

        order = 200

        def before_fit(self):
            self.start, self.ends = None, []

        def before_train(self):
            if self.start is None:
                _sync(device)
                self.start = time.perf_counter()

        def after_batch(self):
            if self.training:
                _sync(device)
                self.ends.append(time.perf_counter())

    return StepTimer()


def _package_ips(model_name, prof, pool, valid, bs, device, st: BenchSettings):
    """Train through make_learner + fit (the package defaults: profile precision / layout, the profile's optimizer,
    one-cycle schedule, metrics, loss parts); returns (images/s per group, peak memory dict, learner)."""
    from fastai.data.core import DataLoaders

    from .train import fit, make_learner

    dls = DataLoaders.from_dsets(pool, valid, bs=bs, device=device, num_workers=0)
    timer = _step_timer(device)
    learn = make_learner(model_name, dls, profile=prof, quiet=True, cbs=[timer])
    stage = learn.stage
    with _peak_memory(device) as mem:
        fit(learn, epochs=1, lr=prof.lr[stage], max_steps=st.warmup + st.timed_steps, save_final=False)
    ips = throughput_groups(timer.ends, timer.start, bs, st.warmup, st.repeats)
    return ips, mem, learn


# --------------------------------------------------------------------------------------- inference
def _infer_times(model, x, precision, channels_last, device, st: BenchSettings):
    dtype = _amp_dtype(precision, device)
    model.eval()
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    else:
        model.to(memory_format=torch.contiguous_format)

    def call():
        with torch.inference_mode():
            if dtype is not None:
                with torch.autocast(device.type, dtype=dtype):
                    return model(x)
            return model(x)

    return _time_calls(call, 1, st.infer_repeats, device)


# --------------------------------------------------------------------------------------- data loading
def _dataload_ips(train_df, valid_df, prof, device, st: BenchSettings):
    from .data import make_dataloaders

    dls = make_dataloaders(train_df, valid_df, size=prof.size, bs=prof.batch_size, num_workers=prof.num_workers,
                           seed=prof.seed, device=device)
    per_pass = []
    for _ in range(st.dataload_passes):
        ends = []
        start = time.perf_counter()
        for xb, yb in dls.train:
            _sync(device)
            ends.append(time.perf_counter())
        if len(ends) >= 2:  # steady state: drop the first batch (iterator / worker start)
            per_pass.append(prof.batch_size * (len(ends) - 1) / (ends[-1] - ends[0]))
        elif ends:
            per_pass.append(prof.batch_size / (ends[0] - start))
    if not per_pass:
        raise RuntimeError("dataload: the training loader yielded no batch")
    return statistics.median(per_pass), min(per_pass), max(per_pass), len(dls.train)


# ------------------------------------------------------------------------------------------ sweep
def _sweep_measures(model, frames_df, prof, device, st: BenchSettings, scaling: bool) -> list[dict]:
    """Streamed robustness sweep vs ``levels`` clean passes (and, with ``scaling``, N vs 2N images)."""
    from . import evaluate as ev
    from .perturb import sweep_grid

    grid = sweep_grid(prof.alphas, prof.betas, clean=True)
    levels = len(grid)
    n = st.n_eval
    kw = dict(size=prof.size, batch_size=prof.eval_batch_size, device=device, precision=prof.precision,
              num_workers=prof.num_workers, progress=False)

    def clean_pass(df):
        return ev.evaluate(model, df, perturbations=(("clean", None),), **kw)

    def sweep(df):
        res = ev.sweep(model, df, alphas=prof.alphas, betas=prof.betas, clean=True, **kw)
        if len(res) != len(df) * levels:
            raise RuntimeError(f"sweep returned {len(res)} rows for {len(df)} images x {levels} levels")
        return res

    df_n = frames_df.iloc[:n]
    clean_pass(df_n)  # warm-up
    t_clean = statistics.median(_time_calls(lambda: clean_pass(df_n), 0, max(3, st.sweep_repeats), device))
    with _peak_memory(device) as mem_n:
        t_sweep_all = _time_calls(lambda: sweep(df_n), 0, st.sweep_repeats, device)
    t_sweep = statistics.median(t_sweep_all)
    out = [
        dict(measure="sweep_ips", value=n * levels / t_sweep, n=n, levels=levels,
             min=n * levels / max(t_sweep_all), max=n * levels / min(t_sweep_all)),
        dict(measure="sweep_overhead", value=t_sweep / (levels * t_clean), n=n, levels=levels,
             sweep_s=t_sweep, clean_pass_s=t_clean),
    ]
    if scaling:
        df_2n = frames_df.iloc[:2 * n]
        if len(df_2n) < 2 * n:
            raise ValueError(f"sweep scaling needs {2 * n} images, the bench set has {len(frames_df)}")
        with _peak_memory(device) as mem_2n:
            t_2n = statistics.median(_time_calls(lambda: sweep(df_2n), 0, st.sweep_repeats, device))
        out += [
            dict(measure="sweep_time_ratio_2x", value=t_2n / t_sweep, n=n, levels=levels, sweep_s=t_sweep,
                 sweep_2n_s=t_2n),
            dict(measure="rss_growth_mb", value=mem_2n["rss_mb"] - mem_n["rss_mb"], n=n,
                 peak_rss_n_mb=mem_n["rss_mb"], peak_rss_2n_mb=mem_2n["rss_mb"], rss_method=mem_n["rss_method"]),
        ]
    return out


# ---------------------------------------------------------------------------------------- driver
def predict_startup(model_name: str, cfg: dict, repeats: int = 3, size: tuple[int, int] = (300, 400)) -> dict:
    """What an analyst waits for: ``paper-repro predict`` of one ``size`` (H, W) JPEG in a fresh process with a
    checkpoint of ``model_name`` / ``cfg`` (random weights: the cost does not depend on them). Returns the
    median wall time over ``repeats`` runs (start-up, imports, checkpoint, inference, writing the maps) and the
    largest peak RSS of those processes: the child's own ``VmHWM`` from ``/proc/self/status`` once ``predict``
    returned (Linux; interpreter teardown not included; elsewhere ``os.wait4``'s ``ru_maxrss``).
    ``ru_maxrss`` alone is wrong here: Linux carries the high-water mark across ``exec``, so a child of the
    multi-GB bench process reported the bench's size (2290 MB for the ``cpu`` ReConWave-Net, whose ``predict``
    started from a shell peaks at 816 MB ``VmHWM``, 911 MB with teardown by ``/usr/bin/time``)."""
    import subprocess
    import tempfile

    import numpy as np
    from PIL import Image

    from .models import create

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = create(model_name, **cfg)
        torch.save({"model_name": model_name, "model_cfg": dict(cfg), "state_dict": model.state_dict(),
                    "profile": None, "metrics": {}, "stage": "detector", "seed": 0}, tmp / "final.pt")
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(tmp / "photo.jpg", quality=90)
        code = ("import sys\nfrom paper_repro.cli import main\n"
                f"rc = main(['predict', {str(tmp / 'photo.jpg')!r}, '--checkpoint', "
                f"{str(tmp / 'final.pt')!r}, '--out', {str(tmp / 'out')!r}, '--tta', 'none'])\n"
                "try:\n"
                "    hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
                "    sys.stderr.write(f'\\nVmHWM_kB {hwm[0]}\\n')\n"
                "except (OSError, IndexError):\n"
                "    pass\n"
                "raise SystemExit(rc)")
        times, rss = [], []
        for _ in range(int(repeats)):
            t0 = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _, status, usage = os.wait4(proc.pid, 0)
            times.append(time.perf_counter() - t0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            err = proc.stderr.read().decode(errors="replace")
            proc.stderr.close()
            if proc.returncode != 0:
                raise RuntimeError(f"predict failed (exit {proc.returncode}): {err.strip()[-500:]}")
            hwm = [line.split()[1] for line in err.splitlines() if line.startswith("VmHWM_kB ")]
            rss.append(float(hwm[-1]) / 1024.0 if hwm else usage.ru_maxrss / 1024.0)  # kilobytes
    return {"seconds": float(np.median(times)), "min": min(times), "max": max(times), "peak_rss_mb": max(rss),
            "repeats": int(repeats), "size": f"{size[1]}x{size[0]}"}


def default_models() -> list[str]:
    """Registered models that have a training loss (detectors, the restorer, the pipeline)."""
    from .losses import losses_available
    from .models import available

    return [m for m in available() if m in set(losses_available())]


def _peak_flops(name: str) -> tuple[str, float] | None:
    for key, peak in PEAK_FLOPS:
        if key.lower() in name.lower():
            return key, peak
    return None


def _log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run_bench(profile: str = "smoke", models: Sequence[str] | str | None = None, json: bool = False,
              out: str | os.PathLike | None = None, quick: bool = False, device: str | None = None,
              threads: int | None = None, settings: BenchSettings | None = None) -> list[dict]:
    """Measure every model in ``models`` (default :func:`default_models`) at ``profile``; return records.

    ``quick``: the smallest run that still yields every measure (32x32 inputs, batch 4, a few steps;
    for tests). ``json``: also print the records as JSON to stdout (else nothing is printed except
    progress on stderr). ``out``: append the records to that CSV. ``device``: ``"cpu"`` / ``"cuda"``
    (default fastai's choice: the GPU when there is one). ``threads``: torch intra-op threads for the
    run (default: leave torch's setting; restored afterwards). Model training logs go to stderr.
    """
    old_threads = torch.get_num_threads()
    if threads is not None:
        if int(threads) < 1:
            raise ValueError(f"bench: threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))
    try:
        return _run_bench(profile, models, json, out, quick, device, settings)
    finally:
        torch.set_num_threads(old_threads)


class _Records:
    """The records of one bench run: the run's common fields (``base``) plus one measure each."""

    def __init__(self, base: dict[str, Any]):
        self.base, self.rows = base, []

    def add(self, model: str, measure: str, value, **extra) -> dict:
        r = {**self.base, "model": model, "measure": measure, "value": float(value), "unit": MEASURES[measure],
             "loadavg_1m": _loadavg(), **extra}
        self.rows.append(r)
        return r

    def value(self, model: str, measure: str) -> float:
        return [r for r in self.rows if r["model"] == model and r["measure"] == measure][0]["value"]


def _warn_if_busy(dev: torch.device, threads: int) -> None:
    """Say so when other processes load the CPU: timings are then slow and noisy."""
    cores, load = os.cpu_count() or 1, _loadavg()
    if dev.type == "cpu" and load == load and load > 0.75 * cores:
        hint = "; --threads 1 avoids thread oversubscription" if threads > 1 else ""
        _log(f"warning: load average {load} on {cores} cores: other processes compete for the CPU, timings "
             f"will be slow and noisy{hint}")


def measure_dataload(rec: _Records, train_df, valid_df, prof, dev, st: BenchSettings) -> float:
    """``dataload_ips``: the real loaders alone over the synthetic set (steady state); returns it."""
    d_med, d_min, d_max, n_batches = _dataload_ips(train_df, valid_df, prof, dev, st)
    rec.add("data", "dataload_ips", d_med, min=d_min, max=d_max, repeats=st.dataload_passes,
            num_workers=prof.num_workers, batches_per_pass=n_batches, precision=None, channels_last=None)
    _log(f"data loading: {d_med:.1f} images/s")
    return d_med


def measure_size(rec: _Records, name: str, model: nn.Module, prof, dev, common: dict) -> float:
    """``params``, ``trainable_params`` and forward ``flops`` per image; returns the FLOPs."""
    flops = count_flops(model.to(dev), prof.size, device=dev)
    rec.add(name, "params", count_params(model), **common)
    rec.add(name, "trainable_params", count_params(model, trainable_only=True), **common)
    rec.add(name, "flops", flops, **common, counter="torch.utils.flop_counter.FlopCounterMode", mode="eval")
    return flops


def measure_training(rec: _Records, name: str, cfg: dict, prof, pool, valid, dev, st: BenchSettings, auto: str,
                     amp: str, common: dict) -> tuple[float, float, float]:
    """Training speed: the package loop against the hand-written loop at the profile's defaults, then fp32
    against AMP and NHWC against NCHW in the hand-written loop, in ``st.rounds`` interleaved rounds (order
    reversed every other round, so a change in machine load hits every variant alike). Records
    ``train_ips_*``, ``train_ratio``, ``train_overhead_ms``, ``peak_rss_mb`` (and ``peak_gpu_mem_mb``),
    ``bf16_speedup`` and ``channels_last_speedup``; returns the medians ``(package, manual, ...)`` images/s."""
    bs, lr = prof.batch_size, prof.lr[_stage_of(name)]
    other = "fp32" if auto != "fp32" else amp
    _log(f"{name}: training ({st.rounds} x 4 runs of {st.warmup}+{st.timed_steps} steps, batch {bs}, {auto})")
    runs = {
        "manual": lambda: _manual_ips(name, cfg, pool, bs, lr, auto, prof.channels_last, dev, prof.seed, st,
                                      prof.optimizer),
        "package": lambda: _package_ips(name, prof, pool, valid, bs, dev, st),
        "precision": lambda: _manual_ips(name, cfg, pool, bs, lr, other, prof.channels_last, dev, prof.seed, st,
                                         prof.optimizer),
        "layout": lambda: _manual_ips(name, cfg, pool, bs, lr, auto, not prof.channels_last, dev, prof.seed, st,
                                      prof.optimizer),
    }
    got: dict[str, list[float]] = {k: [] for k in runs}
    mems = []
    for r in range(st.rounds):
        for key in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            res = runs[key]()
            if key == "package":
                res, mem, _learn = res
                mems.append(mem)
                del _learn
            got[key] += res
    man, pkg = _stats(got["manual"]), _stats(got["package"])
    mem = max(mems, key=lambda m: m["rss_mb"])
    g = dict(repeats=st.repeats * st.rounds, steps=st.timed_steps, warmup=st.warmup, rounds=st.rounds, **common)
    rec.add(name, "train_ips_package", pkg[0], min=pkg[1], max=pkg[2], **g,
            loop="make_learner+fit (one-cycle, metrics, quiet)", optimizer=prof.optimizer)
    rec.add(name, "train_ips_manual", man[0], min=man[1], max=man[2], **g, loop="hand-written",
            optimizer=prof.optimizer)
    rec.add(name, "train_ratio", pkg[0] / man[0], target=">= 0.95", **common)
    rec.add(name, "train_overhead_ms", 1000 * bs * (1 / pkg[0] - 1 / man[0]), **common,
            note="package minus hand-written step time (fixed per-step cost of the fastai loop; noisy)")
    rec.add(name, "peak_rss_mb", mem["rss_mb"], rss_method=mem["rss_method"], rss_before_mb=mem["rss_before_mb"],
            phase="package fit (whole process: interpreter, libraries, data)", **common)
    if dev.type == "cuda":
        rec.add(name, "peak_gpu_mem_mb", max(m["gpu_mb"] for m in mems), phase="package fit", **common)

    # precision: fp32 vs AMP (bf16 autocast on CPU)
    ips_amp, ips_fp32 = (man, _stats(got["precision"])) if auto != "fp32" else (_stats(got["precision"]), man)
    sp = ips_amp[0] / ips_fp32[0]
    rec.add(name, "train_ips_manual_fp32", ips_fp32[0], min=ips_fp32[1], max=ips_fp32[2], **g | {"precision": "fp32"})
    rec.add(name, "train_ips_manual_amp", ips_amp[0], min=ips_amp[1], max=ips_amp[2], **g | {"precision": amp})
    winner = amp if sp > 1 else "fp32"
    rec.add(name, "bf16_speedup", sp, precision=amp, channels_last=prof.channels_last, winner=winner, auto=auto,
            auto_matches=(auto == winner))

    # layout: channels-last vs contiguous at the default precision
    man_cl = _stats(got["layout"])
    nhwc, nchw = (man_cl, man) if not prof.channels_last else (man, man_cl)
    cl = nhwc[0] / nchw[0]
    rec.add(name, "train_ips_manual_nhwc", nhwc[0], min=nhwc[1], max=nhwc[2], **g | {"channels_last": True})
    rec.add(name, "train_ips_manual_nchw", nchw[0], min=nchw[1], max=nchw[2], **g | {"channels_last": False})
    rec.add(name, "channels_last_speedup", cl, precision=auto, winner=bool(cl > 1),
            profile_default=prof.channels_last, auto_matches=(prof.channels_last == (cl > 1)))
    return pkg[0], man[0], sp


def measure_inference(rec: _Records, name: str, model: nn.Module, prof, dev, st: BenchSettings, auto: str,
                      amp: str, common: dict) -> float:
    """Inference speed at the default precision and layout (``infer_ips``, ``latency_ms_512``) and the
    AMP and channels-last speed-ups (``*_infer``), in interleaved rounds; returns the median images/s."""
    other = "fp32" if auto != "fp32" else amp
    xb = torch.rand(prof.eval_batch_size, 3, *prof.size, device=dev)
    t_def, t_other, t_cl = [], [], []
    for _ in range(st.rounds):
        t_def += _infer_times(model, xb, auto, prof.channels_last, dev, st)
        t_other += _infer_times(model, xb, other, prof.channels_last, dev, st)
        t_cl += _infer_times(model, xb, auto, not prof.channels_last, dev, st)
    ips_inf = [prof.eval_batch_size / t for t in t_def]
    ips = statistics.median(ips_inf)
    rec.add(name, "infer_ips", ips, min=min(ips_inf), max=max(ips_inf), repeats=st.infer_repeats * st.rounds,
            eval_batch_size=prof.eval_batch_size, **common)
    t_amp, t_fp32 = (t_def, t_other) if auto != "fp32" else (t_other, t_def)
    spi = statistics.median(t_fp32) / statistics.median(t_amp)
    rec.add(name, "bf16_speedup_infer", spi, precision=amp, channels_last=prof.channels_last,
            winner=amp if spi > 1 else "fp32", auto=auto, auto_matches=(auto == (amp if spi > 1 else "fp32")))
    t_nhwc, t_nchw = (t_cl, t_def) if not prof.channels_last else (t_def, t_cl)
    cli = statistics.median(t_nchw) / statistics.median(t_nhwc)
    rec.add(name, "channels_last_speedup_infer", cli, precision=auto, winner=bool(cli > 1),
            profile_default=prof.channels_last, auto_matches=(prof.channels_last == (cli > 1)))
    x512 = torch.rand(1, 3, st.latency_size, st.latency_size, device=dev)
    t_lat = _infer_times(model, x512, auto, prof.channels_last, dev, st)
    rec.add(name, "latency_ms_512", 1000 * statistics.median(t_lat), min=1000 * min(t_lat), max=1000 * max(t_lat),
            repeats=st.infer_repeats, **common)
    model.to(memory_format=torch.contiguous_format)
    return ips


def measure_mfu(rec: _Records, name: str, flops: float, train_ips: float, infer_ips: float, device_name: str,
                common: dict) -> None:
    """GPU only: model FLOP utilisation of training (3 x forward FLOPs) and inference against the dense
    bf16 peak of :data:`PEAK_FLOPS` (nothing when the GPU is not listed)."""
    hit = _peak_flops(device_name)
    if not hit:
        return
    key, peak = hit
    rec.add(name, "mfu_train", 3 * flops * train_ips / peak, peak_flops=peak, peak_key=key,
            note="3 x forward FLOPs x train_ips_manual / dense bf16 peak", **common)
    rec.add(name, "mfu_infer", flops * infer_ips / peak, peak_flops=peak, peak_key=key,
            note="forward FLOPs x infer_ips / dense bf16 peak", **common)


def measure_sweep(rec: _Records, name: str, model: nn.Module, frames_df, prof, dev, st: BenchSettings,
                  scaling: bool, common: dict) -> bool:
    """Detectors only (outputs with ``logits``): the streamed robustness sweep's speed and overhead, and with
    ``scaling`` its cost at 2N over N images; returns whether the model was swept."""
    with torch.inference_mode():
        probe = model.eval()(torch.rand(1, 3, *prof.size, device=dev))
    if not (isinstance(probe, dict) and "logits" in probe):
        return False
    _log(f"{name}: sweep ({st.n_eval} images x {len(prof.alphas) + len(prof.betas) + 1} levels)")
    for m in _sweep_measures(model, frames_df, prof, dev, st, scaling=scaling):
        measure, value = m.pop("measure"), m.pop("value")
        rec.add(name, measure, value, **common, **m)
    return True


def dense_matmul_rate(device: torch.device, n: int | None = None, repeats: int = 5) -> tuple[float, dict]:
    """FLOP/s of one dense ``n x n`` matrix product on ``device`` with the current threads: fp32 with ``n`` = 2048
    on a CPU, bf16 with ``n`` = 8192 on a GPU; the median of ``repeats`` timed products after one warm-up. The
    ruler a model's training rate is read against (``matmul_share``): what this machine reaches on the work it
    does best, measured in the same run, so a busy or slower machine moves both."""
    cpu = device.type == "cpu"
    n = int(n or (2048 if cpu else 8192))
    dtype = torch.float32 if cpu else torch.bfloat16
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    times = _time_calls(lambda: torch.mm(a, b), warmup=1, repeats=repeats, device=device)
    med = float(np.median(times))
    return 2.0 * n ** 3 / med, {"n": n, "dtype": str(dtype).replace("torch.", ""), "repeats": repeats}


def measure_matmul_share(rec: _Records, name: str, flops: float, train_ips: float, dense: float,
                         common: dict) -> None:
    """``train_flops_rate`` (3 x forward FLOPs x ``train_ips_manual``) and its share of the dense-matmul rate."""
    rate = 3.0 * flops * train_ips
    rec.add(name, "train_flops_rate", rate, note="3 x forward FLOPs x train_ips_manual", **common)
    rec.add(name, "matmul_share", rate / dense, dense_matmul_flops=dense,
            note="train_flops_rate / dense_matmul_flops (same run)", **common)


def measure_predict(rec: _Records, prof, quick: bool) -> None:
    """``predict_startup_s`` / ``predict_peak_rss_mb`` of one ``paper-repro predict`` in a fresh process."""
    ps = predict_startup("reconwave", prof.model_cfg("reconwave"), repeats=1 if quick else 3)
    rec.add("reconwave", "predict_startup_s", ps["seconds"], min=ps["min"], max=ps["max"], repeats=ps["repeats"],
            photo=ps["size"], precision=None, channels_last=None)
    rec.add("reconwave", "predict_peak_rss_mb", ps["peak_rss_mb"], repeats=ps["repeats"], photo=ps["size"],
            precision=None, channels_last=None)
    _log(f"predict start-up: {ps['seconds']:.2f}s, peak RSS {ps['peak_rss_mb']:.0f} MB ({ps['size']} JPEG)")


def _run_bench(profile, models, json, out, quick, device, settings) -> list[dict]:
    """:func:`run_bench`'s body: resolve the profile, models and device, then compose the measures."""
    from . import profiles
    from .models import available
    from .train.callbacks import resolve_precision

    prof = profiles.get(profile)
    if quick:
        prof = prof.replace(image_size=32, batch_size=4, eval_batch_size=4, num_workers=0)
    st = settings or settings_for(prof.name, quick)
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    names = list(models) if models else default_models()
    unknown = [m for m in names if m not in available()]
    if unknown:
        raise KeyError(f"bench: unknown model(s) {unknown}; available: {', '.join(available())}")
    dev = torch.device(device) if device else _default_device()
    env = environment(dev)
    auto = resolve_precision(prof.precision, dev)
    amp = "bf16" if dev.type == "cpu" or torch.cuda.is_bf16_supported() else "fp16"
    rec = _Records({"timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    "run_id": uuid.uuid4().hex[:8], "profile": prof.name, **env, "image_size": prof.image_size,
                    "batch_size": prof.batch_size, "quick": bool(quick)})

    with contextlib.redirect_stdout(sys.stderr):
        _log(f"profile {prof.name}{' (quick)' if quick else ''}, device {dev} ({env['device_name']}), "
             f"{env['threads']} threads, default precision {prof.precision!r} -> {auto}, "
             f"channels_last {prof.channels_last}")
        _warn_if_busy(dev, env["threads"])
        df, (train_df, valid_df) = _synthetic_frames(prof, max(st.n_synthetic, 2 * st.n_eval), quick)
        dataload = measure_dataload(rec, train_df, valid_df, prof, dev, st)
        dense, dense_cfg = dense_matmul_rate(dev, n=256 if quick else None, repeats=2 if quick else 5)
        rec.add("machine", "dense_matmul_flops", dense, precision=dense_cfg["dtype"], channels_last=None, **dense_cfg)
        _log(f"dense matmul: {dense / 1e9:.1f} GFLOP/s ({dense_cfg})")
        bs = prof.batch_size
        pool_imgs, pool_masks = _pool_tensors(df, prof.size, max(2 * bs, 8))
        pool = _Pool(pool_imgs, pool_masks, bs * (st.warmup + st.timed_steps + 1))
        valid = _Pool(pool_imgs, pool_masks, bs)
        # the N vs 2N scaling check runs once: on reconwave when measured, else on the first detector
        scaling_model = "reconwave" if "reconwave" in names else None
        for name in names:
            t_model = time.perf_counter()
            cfg = prof.model_cfg(name)
            try:
                model = _fresh_model(name, cfg, prof.seed)
            except Exception as e:  # noqa: BLE001 - report and go on with the others
                _log(f"skipping {name}: cannot build it with profile {prof.name!r} config {cfg} "
                     f"({type(e).__name__}: {e})")
                continue
            common = dict(precision=auto, channels_last=prof.channels_last)
            flops = measure_size(rec, name, model, prof, dev, common)
            del model
            package_ips, manual_ips, _ = measure_training(rec, name, cfg, prof, pool, valid, dev, st, auto, amp,
                                                          common)
            model = _fresh_model(name, cfg, prof.seed).to(dev)
            infer_ips = measure_inference(rec, name, model, prof, dev, st, auto, amp, common)
            if dev.type == "cuda":
                measure_mfu(rec, name, flops, manual_ips, infer_ips, env["device_name"], common)
            measure_matmul_share(rec, name, flops, manual_ips, dense, common)
            scaling = name == scaling_model or scaling_model is None
            if measure_sweep(rec, name, model, df, prof, dev, st, scaling, common) and scaling:
                scaling_model = name
            rec.add(name, "dataload_headroom", dataload / package_ips, dataload_ips=dataload, **common)
            del model
            _log(f"{name}: done in {time.perf_counter() - t_model:.1f}s")
        if "reconwave" in names:
            measure_predict(rec, prof, quick)

    if out is not None:
        append_csv(rec.rows, out)
    if json:
        print(_json.dumps(rec.rows, default=_json_default, indent=1))
    return rec.rows


def _json_default(o):
    if isinstance(o, (Path,)):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    return str(o)


# ---------------------------------------------------------------------------------------- output
def records_frame(records: Sequence[dict]):
    """The records as a DataFrame with :data:`CSV_COLUMNS` (other keys JSON-encoded in ``extra``)."""
    import pandas as pd

    rows = []
    for r in records:
        row = {c: r.get(c) for c in CSV_COLUMNS if c != "extra"}
        extra = {k: v for k, v in r.items() if k not in CSV_COLUMNS}
        row["extra"] = _json.dumps(extra, default=_json_default, sort_keys=True) if extra else ""
        rows.append(row)
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def append_csv(records: Sequence[dict], path: str | os.PathLike) -> Path:
    """Append ``records`` to the CSV ``path`` (created with a header if missing; an existing file with
    other columns is rewritten with the union of columns). Written atomically."""
    import pandas as pd

    path = Path(path)
    new = records_frame(records)
    if path.exists() and path.stat().st_size > 0:
        try:
            old = pd.read_csv(path, dtype=str, keep_default_na=False)
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"--out {path}: existing file is not a readable CSV ({e})") from None
        new = pd.concat([old, new.astype(str).replace({"None": "", "nan": ""})], ignore_index=True)
    from .files import atomic_write

    return atomic_write(path, lambda tmp: new.to_csv(tmp, index=False))


def format_table(records: Sequence[dict]) -> str:
    """A readable table: one row per (model, measure) with value, unit and spread."""
    import pandas as pd

    if not records:
        return "(no records)"
    df = pd.DataFrame(records)
    cols = [c for c in ("model", "measure", "value", "unit", "min", "max", "precision", "channels_last")
            if c in df.columns]
    head = records[0]
    title = (f"profile {head['profile']} | {head['device']} ({head['device_name']}) | {head['threads']} threads | "
             f"torch {head['torch']}, fastai {head['fastai']}, timm {head['timm']} | load {head.get('loadavg_1m')}")
    with pd.option_context("display.float_format", lambda v: f"{v:.4g}", "display.width", 200,
                           "display.max_rows", 1000):
        return title + "\n" + df[cols].to_string(index=False)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``bench`` options (used by ``python -m paper_repro.bench``; ``paper-repro bench`` may reuse it)."""
    parser.add_argument("--profile", default="smoke", help="smoke | cpu | paper (default smoke)")
    parser.add_argument("--models", nargs="*", default=None,
                        help="models to measure (default: every registered model with a loss); "
                             "space- or comma-separated")
    parser.add_argument("--json", action="store_true", help="print the records as JSON instead of a table")
    parser.add_argument("--out", default=None, help="append the records to this CSV file")
    parser.add_argument("--quick", action="store_true", help="smallest run with every measure (tests)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: the GPU when there is one)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's default, one per core)")
    return parser


def main(args=None) -> int:
    """Entry point of ``paper-repro bench`` (``args``: a namespace with ``profile``, ``json``, ``out``,
    ``models``) and of ``python -m paper_repro.bench`` (``args``: None or an argv list)."""
    if args is None or isinstance(args, (list, tuple)):
        args = add_arguments(argparse.ArgumentParser(prog="paper-repro bench", description=__doc__.splitlines()[0]
                                                     )).parse_args(args)
    models = getattr(args, "models", None)
    if isinstance(models, (list, tuple)):
        models = [m.strip() for item in models for m in str(item).split(",") if m.strip()] or None
    records = run_bench(profile=getattr(args, "profile", "smoke") or "smoke", models=models,
                        json=bool(getattr(args, "json", False)), out=getattr(args, "out", None),
                        quick=bool(getattr(args, "quick", False)), device=getattr(args, "device", None),
                        threads=getattr(args, "threads", None))
    if not getattr(args, "json", False):
        print(format_table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
