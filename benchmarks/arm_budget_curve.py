"""How trained is a comparison arm? The reference configuration's detector at several training budgets, scored
clean on the held-out evaluation sample, beside the shipped detector's budget.

    python benchmarks/arm_budget_curve.py --data-root ../shared/data [--steps 120 400 800] \
        [--out benchmarks/arm-budget-curve-cpu.csv]

Each budget trains ``reconwave`` with the ``cpu`` profile's recipe (the configuration of ``reconwave-table``,
training seed 0) for the given optimiser steps (the one-cycle schedule compressed to them; epochs of at most 102
batches of the training side, as the table budget has), into ``checkpoints/arm-budget/<profile>/``. It is scored
as the comparison tables score it: every image of the seeded evaluation sample of the held-out CASIA v1 side, its
own size, one pass, threshold 0.5, no restorer; F1 is the mean over the tampered images, with its 95 % bootstrap
interval. ``fraction_of_shipped`` divides by ``--shipped-f1`` (default: the committed reference run's shipped
detector on the same images, ``reference/cpu/tables/tables2_3_sweeps.csv``). Rows carry the training seconds,
commit, date and CPU.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import pandas as pd

from paper_repro.reference import provenance

BATCHES_PER_EPOCH = 102  # the cpu profile's training side in batches of 8 (see profiles.py)


def shipped_reference_f1(root: Path) -> float:
    """The reference run's shipped detector, clean F1 on the evaluation sample, no restorer."""
    t = pd.read_csv(root / "reference" / "cpu" / "tables" / "tables2_3_sweeps.csv")
    r = t[(t["method"] == "reconwave") & (t["perturbation"] == "clean") & (t["metric"] == "f1") &
          (t["dataset"] == "casia1")]
    return float(r["value"].iloc[0])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--steps", type=int, nargs="+", default=[120, 400, 800])
    ap.add_argument("--shipped-f1", type=float, default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    from paper_repro import experiments as E
    from paper_repro import profiles, stats
    from paper_repro.evaluate import evaluate
    from paper_repro.experiments.sweeps import evaluation_settings

    root = profiles.source_root() or profiles.project_root()
    shipped = args.shipped_f1 if args.shipped_f1 is not None else shipped_reference_f1(root)
    path = Path(args.out or root / "benchmarks" / f"arm-budget-curve-{args.profile}.csv")
    old = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    ckdir = str(profiles.project_root() / "checkpoints" / "arm-budget" / args.profile)
    rows = []
    for steps in args.steps:
        epochs = max(1, math.ceil(steps / BATCHES_PER_EPOCH))
        prof = E.profile_for(args.profile, args.data_root, checkpoints_dir=ckdir, epochs={"detector": epochs},
                             max_steps={"detector": steps})
        _, _, evals = E.datasets_for(prof)
        name = next(iter(evals))
        t0 = time.time()
        ckpt = E.train_or_load(prof, f"reconwave-table-{steps}-steps", "reconwave")
        seconds = time.time() - t0
        res = evaluate(ckpt, evals[name], progress=False, seed=prof.seed, **evaluation_settings(prof))
        f1 = res.loc[res["label"].astype(int) == 1, "f1"].to_numpy()
        ci = stats.bootstrap_ci(f1, n_resamples=prof.n_bootstrap, seed=prof.seed)
        rows.append({"steps": steps, "epochs": epochs, "dataset": name, "n_images": ci.n, "f1": ci.estimate,
                     "f1_low": ci.low, "f1_high": ci.high, "shipped_f1": shipped,
                     "fraction_of_shipped": ci.estimate / shipped, "train_seconds": round(seconds, 1),
                     **provenance()})
        print(rows[-1], flush=True)
        new = pd.DataFrame(rows)
        keep = old[~old["steps"].isin(new["steps"])] if len(old) else old
        out = pd.concat([keep, new], ignore_index=True).sort_values("steps", ignore_index=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        out.to_csv(path, index=False)  # after every budget: an interrupted run keeps what it measured
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
