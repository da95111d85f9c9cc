"""Learning rate and class weight of every compared detector, chosen on the validation split, never the held-out one.

    python benchmarks/hparam_search.py --data-root ../shared/data [--lrs 1e-3 3e-3] [--weights 1 3]
        [--methods reconwave lpclnet ncl mpc] [--out benchmarks/hparam-search-cpu.csv]

Every method of the method comparison gets the same small grid at the ``cpu`` profile's table budget (the
steps, batch, crops, encoder, data and seed of its comparison row):

- learning rate: the peak of the one-cycle schedule (the profile's ``model_lr`` of the method's model: the
  ``detector`` stage, or ``finetune`` for MPC's head, whose pixel-contrastive pretraining is shared and not
  searched);
- class weight ``w``: tampered pixels weigh ``w`` times an authentic one, BCE ``pos_weight = w`` for
  ReConWave-Net, LPCLNet and NCL, focal-loss ``alpha = w / (1 + w)`` for MPC (``w = 3``: 0.75).

Each configuration trains through the package's cached training (:func:`paper_repro.experiments.train_or_load`,
checkpoints under ``checkpoints/hparam-search/``) on the training part of the grouped CASIA v1 split and is
scored on the tampered images of its *validation* part (a fifth of the training side, grouped by source photo,
never trained on), whole images at their own size, one pass: mean per-image F1 / IoU and AUC, beside the
all-tampered mask on the same images. ``chosen`` marks the best validation F1 per method. The held-out split is
not read. A run with ``--methods`` replaces those methods' rows of the CSV and keeps the others'.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from paper_repro.reference import provenance

#: method -> (run key of the comparison row, model, training stage, the loss option the class weight sets)
METHODS = {
    "reconwave": ("reconwave-table", "reconwave", "detector", "pos_weight"),
    "lpclnet": ("lpclnet", "lpclnet", "detector", "pos_weight"),
    "ncl": ("ncl", "ncl", "detector", "pos_weight"),
    "mpc": ("mpc", "mpc-finetune", "finetune", "alpha"),
}


def loss_option(option: str, weight: float) -> float:
    """The loss setting for a class weight ``w``: ``pos_weight = w``; focal ``alpha = w / (1 + w)``."""
    return float(weight) if option == "pos_weight" else float(weight) / (1.0 + float(weight))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--lrs", nargs="+", type=float, default=[1e-3, 3e-3])
    ap.add_argument("--weights", nargs="+", type=float, default=[1.0, 3.0])
    ap.add_argument("--out", default=None, help="default: benchmarks/hparam-search-<profile>.csv")
    args = ap.parse_args(argv)

    from paper_repro import experiments as E
    from paper_repro import profiles
    from paper_repro.evaluate import evaluate

    base = E.profile_for(args.profile, args.data_root,
                         checkpoints_dir=str(profiles.project_root() / "checkpoints" / "hparam-search" / args.profile))
    _, valid, _ = E.datasets_for(base)
    valid = valid[valid["label"].astype(int) == 1].reset_index(drop=True)
    print(f"validation: {len(valid)} tampered images of the training side's validation part", flush=True)
    ref = evaluate("all-tampered", valid, size=None, batch_size=8, progress=False, auc=False)
    rows = []
    for method in args.methods:
        run_key, model, stage, option = METHODS[method]
        run = E.RUNS[run_key]
        for lr in args.lrs:
            for w in args.weights:
                prof = base.replace(model_lr={model: lr}, loss_kwargs={model: {option: loss_option(option, w)}})
                init = E.checkpoint(base, run.init_from) if run.init_from else None
                key = f"{method}-lr{lr:g}-w{w:g}"
                t0 = time.time()
                ckpt = E.train_or_load(prof, key, model, run.model_cfg, stage, run.loss_cfg, init_from=init)
                seconds = time.time() - t0
                res = evaluate(ckpt, valid, size=prof.eval_size, batch_size=prof.eval_batch_size,
                               precision=prof.precision, progress=False)
                rows.append({"method": method, "lr": lr, "class_weight": w, option: loss_option(option, w),
                             "steps": prof.stage(stage, model=model)["max_steps"],
                             "train_seconds": round(seconds, 1), "n_images": int(res["f1"].notna().sum()),
                             "valid_f1": res["f1"].mean(), "valid_iou": res["iou"].mean(),
                             "valid_auc": res["auc"].mean(), "all_tampered_f1": ref["f1"].mean(),
                             **provenance()})
                print(rows[-1], flush=True)
    path = Path(args.out or profiles.project_root() / "benchmarks" / f"hparam-search-{args.profile}.csv")
    out = pd.DataFrame(rows)
    if path.is_file():  # the methods searched now replace their rows; the others' rows are kept
        old = pd.read_csv(path)
        out = pd.concat([old[~old["method"].isin(out["method"])], out], ignore_index=True)
        out = out.sort_values("method", key=lambda m: m.map(list(METHODS).index), kind="stable", ignore_index=True)
    out["chosen"] = out["valid_f1"] == out.groupby("method")["valid_f1"].transform("max")
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)
    print(out.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
