"""Which lever gave what: ReConWave-Net's detector at equal optimiser steps on the grouped CASIA v1 split.

    python benchmarks/levers.py --data-root ../shared/data [--steps 400] [--out results/cpu/levers.csv]

Each setup trains the ``reconwave`` detector (DWFEL + contrastive, Haar) through the package's own cached
training (:func:`paper_repro.experiments.train_or_load`, checkpoints under ``checkpoints/levers/``) for the
same number of steps (batch 8) on ``casia1:train`` of the grouped split, then is evaluated on EVERY tampered
image of the held-out part (no source photo shared with training), clean, by
:func:`paper_repro.evaluate.evaluate` at the setup's own evaluation size:

- ``today``: the previous ``cpu`` setup: scratch U-Net (width 8), images resized to 128x128, lr 5e-3, BCE
  pos_weight 5;
- ``+ native crops``: 256x256 crops at the stored resolution on the 8-pixel JPEG grid, predicted on the
  whole image at its own size;
- ``+ forensic stem``: SRM + Bayar noise views beside RGB;
- ``+ pretrained encoder``: ImageNet EfficientNet-Lite0 (from its PyPI wheel), width 16, lr 1e-3, pos_weight 3;
- ``pretrained + stem``: both;
- ``pretrained + on-the-fly tampering``: a third of each epoch's items are fresh splices / copy-moves of the
  authentic training photos, JPEG re-saved (:class:`paper_repro.data.onthefly.OnTheFlyTampering`).

Every setup starts from the ``cpu`` profile with on-the-fly tampering off unless it says so. The chosen
combination (pretrained encoder + native crops + on-the-fly tampering, the ``cpu`` profile's detector) is the
last setup. Training seconds are reported per setup (the budget is equal in steps, not in time). The CSV
(default ``results/cpu/levers.csv``, read by notebook 02 through :func:`paper_repro.experiments.lever_results`)
holds one row per setup with F1 / IoU / AUC means and the all-tampered reference.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

SETUPS = {
    "today": dict(profile=dict(image_size=128, size_policy="resize", crop_grid=1, lr={"detector": 5e-3},
                               loss_kwargs={"reconwave": {"pos_weight": 5.0}}),
                  model=dict(width=8, depth=4, embed_dim=32, encoder="scratch")),
    "+ native crops": dict(profile=dict(lr={"detector": 5e-3}, loss_kwargs={"reconwave": {"pos_weight": 5.0}}),
                           model=dict(width=8, depth=4, embed_dim=32, encoder="scratch")),
    "+ forensic stem": dict(profile=dict(lr={"detector": 5e-3}, loss_kwargs={"reconwave": {"pos_weight": 5.0}}),
                            model=dict(width=8, depth=4, embed_dim=32, encoder="scratch", stem="srm+bayar")),
    "+ pretrained encoder": dict(profile={}, model=dict(width=16, embed_dim=32, encoder="efficientnet-lite0")),
    "pretrained + stem": dict(profile={}, model=dict(width=16, embed_dim=32, encoder="efficientnet-lite0",
                                                     stem="srm+bayar")),
    "pretrained + on-the-fly tampering (chosen)": dict(profile=dict(onthefly_tampering=1 / 3),
                                                       model=dict(width=16, embed_dim=32, encoder="efficientnet-lite0")),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--only", nargs="+", default=None, help="setup names to run")
    ap.add_argument("--out", default=None, help="default: <cpu profile results>/levers.csv")
    args = ap.parse_args(argv)

    from paper_repro import experiments as E
    from paper_repro import profiles
    from paper_repro.evaluate import evaluate

    rows = []
    for name, setup in SETUPS.items():
        if args.only and name not in args.only:
            continue
        key = "lever-" + name.replace("+ ", "").replace(" ", "-")
        cfg = {"onthefly_tampering": 0.0, "max_eval_images": None, **setup["profile"]}
        prof = E.profile_for("cpu", args.data_root, checkpoints_dir=str(profiles.project_root() / "checkpoints"
                                                                        / "levers"),
                             epochs={"detector": args.epochs}, max_steps={"detector": args.steps}, **cfg)
        train, valid, evals = E.datasets_for(prof)
        held = next(iter(evals.values()))
        held = held[held["label"].astype(int) == 1]
        t0 = time.time()
        ckpt = E.train_or_load(prof, key, "reconwave", model_cfg=setup["model"], stage="detector")
        seconds = time.time() - t0
        res = evaluate(ckpt, held, size=prof.eval_size, batch_size=8, precision=prof.precision, progress=False)
        rows.append({"setup": name, "steps": args.steps, "train_seconds": round(seconds, 1),
                     "n_images": int(res["f1"].notna().sum()), "f1": res["f1"].mean(), "iou": res["iou"].mean(),
                     "auc": res["auc"].mean(),
                     "eval_size": "native" if prof.eval_size is None else f"{prof.image_size}x{prof.image_size}"})
        print(rows[-1], flush=True)
    ref = evaluate("all-tampered", held, size=None, batch_size=8, progress=False, auc=False)
    rows.append({"setup": "all-tampered reference", "steps": 0, "train_seconds": 0.0,
                 "n_images": int(ref["f1"].notna().sum()), "f1": ref["f1"].mean(), "iou": ref["iou"].mean(),
                 "auc": float("nan"), "eval_size": "native"})
    out = pd.DataFrame(rows)
    path = Path(args.out or E.profile_for("cpu", args.data_root).results_dir / "levers.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)
    print(out.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
