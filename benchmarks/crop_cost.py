"""What a training crop costs at several batch sizes: the step time of a detector in the hand-written loop.

    python benchmarks/crop_cost.py [--profile cpu] [--model reconwave] [--batch-sizes 8 12 16] [--rounds 3] \
        [--out benchmarks/crop-cost-cpu.csv] [--quick]

Spending a faster training step on the shipped detector can mean more crops per step or more steps. When a crop
costs the same at every batch size, both buy the same number of crops in the same wall time, and the choice
between them is one of optimisation alone. This script measures that cost: for each batch size the profile's model
(its size, widths, precision with ``"auto"`` resolved on this machine, layout and optimiser) trains
:func:`paper_repro.bench.manual_fit` on the bench's synthetic crops, ``warmup`` untimed and ``repeats x group``
timed steps (:func:`paper_repro.bench.settings_for`), a fresh model per run. The batch sizes are interleaved in
each round, the order reversed every other round, so a change in machine load hits each alike.

One CSV row per round and batch size: ``seconds_per_step`` (median of the timed groups), ``images_per_second``
and ``ms_per_crop``, with the run's precision, layout, image size and provenance (``commit``, ``date``, ``cpu``).
The summary printed at the end is the median over rounds per batch size and its cost per crop over the smallest
batch size's.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(profile: str, model: str, batch_sizes: list[int], rounds: int, quick: bool = False) -> list[dict]:
    """One row per round and batch size (see the module docstring)."""
    import torch

    from paper_repro import bench, profiles
    from paper_repro.train.callbacks import resolve_precision

    prof = profiles.get(profile)
    st = bench.settings_for(prof.name, quick=quick)
    dev = torch.device("cpu")
    precision = resolve_precision(prof.precision, dev)
    cfg = prof.model_cfg(model)
    df, _ = bench._synthetic_frames(prof, max(st.n_synthetic, 2 * st.n_eval), False)
    imgs, masks = bench._pool_tensors(df, prof.size, max(2 * max(batch_sizes), 8))
    rows = []
    for r in range(rounds):
        for bs in (batch_sizes if r % 2 == 0 else batch_sizes[::-1]):
            pool = bench._Pool(imgs, masks, bs * (st.warmup + st.timed_steps + 1))
            ips = bench._manual_ips(model, cfg, pool, bs, prof.lr[bench._stage_of(model)], precision,
                                    prof.channels_last, dev, prof.seed, st, prof.optimizer)
            med = statistics.median(ips)
            rows.append(dict(model=model, profile=prof.name, round=r, batch_size=bs, image_size=prof.image_size,
                             precision=precision, channels_last=prof.channels_last, threads=torch.get_num_threads(),
                             timed_steps=st.timed_steps, seconds_per_step=bs / med, images_per_second=med,
                             ms_per_crop=1000 / med))
            print(f"round {r} batch {bs}: {bs / med:.3f} s/step, {1000 / med:.1f} ms/crop", file=sys.stderr,
                  flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--model", default="reconwave")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 12, 16])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None, help="append the rows to this CSV")
    ap.add_argument("--quick", action="store_true", help="the bench's smallest settings (a check that it runs)")
    args = ap.parse_args(argv)
    if any(b < 1 for b in args.batch_sizes) or args.rounds < 1:
        ap.error("--batch-sizes and --rounds must be positive")

    sys.path.insert(0, str(ROOT))
    import pandas as pd

    from paper_repro.reference import provenance

    prov = provenance(ROOT)
    rows = [dict(row, **prov) for row in measure(args.profile, args.model, args.batch_sizes, args.rounds, args.quick)]
    df = pd.DataFrame(rows)
    if args.out:
        out = Path(args.out)
        old = pd.read_csv(out) if out.is_file() else None
        (df if old is None else pd.concat([old, df], ignore_index=True)).to_csv(out, index=False)
    summary = df.groupby("batch_size")[["seconds_per_step", "images_per_second", "ms_per_crop"]].median()
    summary["cost per crop / smallest batch's"] = summary["ms_per_crop"] / summary["ms_per_crop"].iloc[0]
    print(summary.round(3).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
