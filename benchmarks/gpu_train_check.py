"""A few hundred steps of the `paper` profile's ReConWave-Net on the GPU (part of benchmarks/gpu_check.sh).

Trains through the package's own path (:func:`paper_repro.experiments.train_or_load`: fastai loop, AMP,
channels-last, uncached loader with workers, resumable checkpoints) on the built-in synthetic set at the
profile's 512x512 and batch size, then checks that the loss fell (mean of the last 50 steps below 0.9 x the
first 50) and writes one CSV row: steps, seconds per step, images/s, peak GPU memory, first / last loss.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--out", default="benchmarks/gpu-check-train.csv")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_train_check: no CUDA device", file=sys.stderr)
        return 2
    from paper_repro import experiments as E
    from paper_repro import profiles

    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    prof = profiles.get("paper", train_datasets=("synthetic",), eval_datasets=("synthetic",), n_synthetic=512,
                        synthetic_size=512, epochs={"detector": 3}, max_steps={"detector": args.steps},
                        checkpoints_dir=tmp / "ck", results_dir=tmp / "res", figures_dir=tmp / "fig")
    torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    final = E.train_or_load(prof, "reconwave", "reconwave", stage="detector")
    seconds = time.time() - t0
    losses = pd.read_csv(final.parent / "losses.csv")["loss"].to_numpy()
    first, last = float(losses[:50].mean()), float(losses[-50:].mean())
    row = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "model": "reconwave",
           "profile": "paper", "image_size": prof.image_size, "batch_size": prof.batch_size, "steps": len(losses),
           "seconds": round(seconds, 1), "s_per_step": round(seconds / max(len(losses), 1), 4),
           "images_per_s": round(len(losses) * prof.batch_size / seconds, 1),
           "peak_gpu_mem_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1),
           "loss_first50": round(first, 4), "loss_last50": round(last, 4), "loss_fell": last < 0.9 * first}
    pd.DataFrame([row]).to_csv(args.out, index=False)
    print(row)
    return 0 if row["loss_fell"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
