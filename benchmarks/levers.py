"""Which lever gives what: ReConWave-Net's detector, one change at a time, at equal optimiser steps.

    python benchmarks/levers.py --data-root ../shared/data [--steps 400] [--only NAME ...]
        [--out benchmarks/lever-study-cpu.csv]

Every setup changes one thing from one of two recipes. Both: ReConWave-Net (DWFEL + pixel contrastive, Haar) on
the ImageNet EfficientNet-Lite0 encoder, decoder width 16; BCE (``pos_weight`` 3) + Dice + 0.1 x contrastive;
Adam, one-cycle schedule peaking at 1e-3; batches of 8 crops of 256x256 on the 8-pixel JPEG grid; 10 % of the
authentic photos kept as negatives; no brightness / contrast disturbance. The *on-the-fly recipe* (the first
block of :data:`SETUPS`, rows named "cpu recipe") trains on CASIA v1's training side alone with a third of each
epoch's items fresh splices / copy-moves of its authentic photos; the *photos-synthetic recipe* (the second block,
the ``cpu`` profile's recipe today) trains on CASIA v1's training side and ``photos-synthetic`` (object-shaped
forgeries of BSDS500's train / val photos) with no on-the-fly items. A setup's difference is read against the
seeds of its own recipe.

Each setup trains through the package's cached training (:func:`paper_repro.experiments.train_or_load`,
checkpoints under ``checkpoints/levers/``) for ``--steps`` steps on the training part of the grouped CASIA v1
split and is scored on the tampered CASIA v1 images of its *validation* part (a fifth of the training side,
grouped by source photo, never trained on; the same images for every setup, whatever else a setup trains on),
whole images at their own size, one pass: mean per-image F1 / IoU and AUC, beside the all-tampered mask on the
same images. The held-out split is not read: a recipe is chosen here and its held-out number is measured once,
by ``benchmarks/heldout_predict.py``. Each setup is also scored on the out-of-distribution test set
(``photos-ood``: splices, copy-moves and removals made from BSDS500's test photos and Kodak24, which nothing
trains on; ``ood_*`` columns, per kind beside the all-tampered mask), a check of what a lever does outside CASIA
v1, not a criterion of the choice.

``--main SETUP`` trains that one setup at the profile's main budget (the shipped detector's: 2400 steps in
``cpu``) into ``checkpoints/levers/<profile>/main-<setup>/final.pt``, prints the path and the training time, and
writes nothing to the table; ``benchmarks/heldout_predict.py --checkpoint PATH`` then measures it on the held-out
split and the out-of-distribution set.

Rows accumulate: a run with ``--only`` replaces those setups' rows of the CSV and keeps the others, so the
table can be filled a few setups at a time. ``train_seconds`` is the wall time of the training on the CPU named
in ``cpu`` (equal steps are not equal time: a larger crop or encoder costs more per step); a setup loaded from
the cache keeps the time of the run that trained it. The CSV (default ``benchmarks/lever-study-<profile>.csv``)
is what notebook 02 shows (:func:`paper_repro.experiments.lever_results`).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from paper_repro.reference import provenance

#: the recipe the study started from (the ``cpu`` profile's before it took photos-synthetic): CASIA v1's training
#: side alone, a third of each epoch's items fresh on-the-fly splices / copy-moves of its authentic photos
ONTHEFLY_RECIPE = {"train_datasets": ("casia1:train",), "onthefly_tampering": 1 / 3}
#: photos-synthetic's object-shaped forgeries in place of the blob-shaped on-the-fly ones (cheaper steps): the
#: ``cpu`` profile's recipe now, so the same as the profile's defaults
PHOTOS_INSTEAD_OF_ONTHEFLY = {"train_datasets": ("photos-synthetic", "casia1:train"), "onthefly_tampering": 0.0}


#: recipe row -> its profile overrides: every setup changes one of them
RECIPES = {"cpu recipe": ONTHEFLY_RECIPE, "photos-synthetic instead of on-the-fly": PHOTOS_INSTEAD_OF_ONTHEFLY}


def _from(recipe: str, **change) -> dict:
    """A setup: the recipe row ``recipe``'s profile overrides with ``change`` (``profile=``, ``model=``, ``loss=``,
    ``seed=``) applied."""
    return {**change, "recipe": recipe, "profile": {**RECIPES[recipe], **change.get("profile", {})}}


#: setup -> dict(recipe=<the recipe row it changes>, profile=<profile overrides>, model=<model_cfg>,
#: loss=<loss_cfg>, seed=<training seed>, epochs_factor=<times the epochs, default 1>); one change each. The first
#: block changes the on-the-fly recipe, the second the photos-synthetic one (the ``cpu`` profile's).
ONTHEFLY, PHOTOS = RECIPES  # the two recipes' names
SETUPS = {
    "cpu recipe": _from(ONTHEFLY),
    "cpu recipe, training seed 1": _from(ONTHEFLY, seed=1),  # the noise a lever's difference is read against
    "cpu recipe, training seed 2": _from(ONTHEFLY, seed=2),
    "plain U-Net (no DWFEL, no contrastive)": _from(ONTHEFLY, model={"dwfel": False, "contrastive": False}),
    "no on-the-fly tampering": _from(ONTHEFLY, profile={"onthefly_tampering": 0.0}),
    "half of the items on-the-fly": _from(ONTHEFLY, profile={"onthefly_tampering": 0.5}),
    "BCE only (no Dice)": _from(ONTHEFLY, loss={"dice_weight": 0.0}),
    "focal + Dice": _from(ONTHEFLY, loss={"segmentation": "focal"}),
    "class weight 1": _from(ONTHEFLY, loss={"pos_weight": 1.0}),
    "peak lr 3e-3": _from(ONTHEFLY, profile={"lr": {"detector": 3e-3}}),
    "AdamW 5e-4, constant": _from(ONTHEFLY, profile={"optimizer": "adamw", "lr": {"detector": 5e-4},
                                                     "schedule": "constant"}),
    "frozen encoder batch norm": _from(ONTHEFLY, model={"freeze_bn": True}),
    "EMA of weights (0.99)": _from(ONTHEFLY, profile={"ema": 0.99}),
    "brightness / contrast augmentation": _from(ONTHEFLY, profile={"detector_disturbance": {}}),
    "+ photos-synthetic (BSDS500 train / val)": _from(ONTHEFLY, profile={"train_datasets": ("photos-synthetic",
                                                                                           "casia1:train")}),
    "photos-synthetic instead of on-the-fly": _from(PHOTOS),
    "photos-synthetic instead of on-the-fly, training seed 1": _from(PHOTOS, seed=1),
    "photos-synthetic instead of on-the-fly, training seed 2": _from(PHOTOS, seed=2),
    "photos-synthetic recipe, crop 384": _from(PHOTOS, profile={"image_size": 384}),
    # an epoch holds a fixed number of crops, so a batch of 16 needs twice the epochs for the same steps
    "photos-synthetic recipe, batch 16": _from(PHOTOS, profile={"batch_size": 16}, epochs_factor=2),
    "photos-synthetic recipe, batch 16, half the steps": _from(PHOTOS, profile={"batch_size": 16}),  # same crops
    "photos-synthetic recipe, encoder Lite1": _from(PHOTOS, model={"encoder": "efficientnet-lite1"}),
    "photos-synthetic recipe, encoder Lite2": _from(PHOTOS, model={"encoder": "efficientnet-lite2"}),
}

KINDS = ("splicing", "copy-move", "removal")
COLUMNS = ["setup", "recipe", "steps", "train_seconds", "n_images", "valid_f1", "valid_iou", "valid_auc",
           "all_tampered_f1", "ood_f1", "ood_auc", *[f"ood_f1_{k}" for k in KINDS],
           *[f"ood_all_tampered_f1_{k}" for k in KINDS], "cpu", "commit", "date"]


def ood_scores(ckpt, ood, ref, prof, evaluate) -> dict:
    """F1 / AUC on the tampered images of the out-of-distribution set, overall and per kind, and the all-tampered
    mask's F1 per kind (``ref``: its per-image scores on the same images)."""
    res = evaluate(ckpt, ood, size=prof.eval_size, batch_size=8, precision=prof.precision, progress=False)
    kinds = ood["manipulation"].to_numpy()
    out = {"ood_f1": res["f1"].mean(), "ood_auc": res["auc"].mean()}
    for k in KINDS:
        out[f"ood_f1_{k}"] = res["f1"][kinds == k].mean()
        out[f"ood_all_tampered_f1_{k}"] = ref["f1"][kinds == k].mean()
    return out


def setup_profile(base, setup: dict, budget: str):
    """``base`` with the setup's profile overrides, and its detector epochs times ``epochs_factor`` in the budget
    it trains at (``"table"``: the study's ``--epochs``; ``"main"``: the profile's main budget)."""
    prof = base.replace(**setup["profile"])
    factor = setup.get("epochs_factor", 1)
    if factor == 1:
        return prof
    if budget == "main":
        main = prof.main_budget["detector"]
        return prof.replace(main_budget={"detector": {**main, "epochs": main["epochs"] * factor}})
    return prof.replace(epochs={"detector": prof.epochs["detector"] * factor})


def slug(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in ".-" else "-" for c in name.lower())
    return "lever-" + "-".join(p for p in keep.split("-") if p)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--only", nargs="+", default=None, help="setup names to run (default: all)")
    ap.add_argument("--out", default=None, help="default: benchmarks/lever-study-<profile>.csv")
    ap.add_argument("--main", default=None, metavar="SETUP", help="train this setup at the main budget and stop")
    args = ap.parse_args(argv)
    unknown = sorted((set(args.only or ()) | ({args.main} if args.main else set())) - set(SETUPS))
    if unknown:
        ap.error(f"unknown setup(s) {unknown}; setups: {list(SETUPS)}")

    from paper_repro import experiments as E
    from paper_repro import profiles
    from paper_repro.bench import cpu_model
    from paper_repro.evaluate import evaluate

    ckdir = str(profiles.project_root() / "checkpoints" / "levers" / args.profile)
    if args.main:
        setup = SETUPS[args.main]
        prof = setup_profile(E.profile_for(args.profile, args.data_root, checkpoints_dir=ckdir), setup, "main")
        t0 = time.time()
        ckpt = E.train_or_load(prof, "main-" + slug(args.main)[len("lever-"):], "reconwave",
                               model_cfg=setup.get("model"), loss_cfg=setup.get("loss"), budget="main",
                               seed=setup.get("seed"))
        print(f"{args.main}: {prof.stage('detector', 'main')} -> {ckpt} ({time.time() - t0:.0f} s on {cpu_model()})")
        return 0
    base = E.profile_for(args.profile, args.data_root, checkpoints_dir=ckdir, epochs={"detector": args.epochs},
                         max_steps={"detector": args.steps})
    _, valid, _ = E.datasets_for(base)
    valid = valid[(valid["label"].astype(int) == 1) & (valid["dataset"] == "casia1")].reset_index(drop=True)
    print(f"validation: {len(valid)} tampered CASIA v1 images of the training side's validation part", flush=True)
    ref = evaluate("all-tampered", valid, size=None, batch_size=8, progress=False, auc=False)
    ood = E.photos_ood(base.resolved_data_root(), base.name)
    ood = ood[ood["label"].astype(int) == 1].reset_index(drop=True)
    ood_ref = evaluate("all-tampered", ood, size=None, batch_size=8, progress=False, auc=False)

    path = Path(args.out or profiles.project_root() / "benchmarks" / f"lever-study-{args.profile}.csv")
    old = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=COLUMNS)
    rows = []
    for name, setup in SETUPS.items():
        if args.only and name not in args.only:
            continue
        prof = setup_profile(base, setup, "table")
        t0 = time.time()
        ckpt = E.train_or_load(prof, slug(name), "reconwave", model_cfg=setup.get("model"),
                               loss_cfg=setup.get("loss"), seed=setup.get("seed"))
        seconds = time.time() - t0
        if seconds < 30 and name in set(old["setup"]):  # loaded from the cache: keep the training time
            seconds = float(old.loc[old["setup"] == name, "train_seconds"].iloc[0])
        res = evaluate(ckpt, valid, size=prof.eval_size, batch_size=8, precision=prof.precision, progress=False)
        steps = json.loads((Path(ckpt).parent / "budget.json").read_text())["steps"]  # the optimiser steps taken
        rows.append({"setup": name, "recipe": setup["recipe"], "steps": steps, "train_seconds": round(seconds, 1),
                     "n_images": int(res["f1"].notna().sum()), "valid_f1": res["f1"].mean(),
                     "valid_iou": res["iou"].mean(), "valid_auc": res["auc"].mean(),
                     "all_tampered_f1": ref["f1"].mean(), **ood_scores(ckpt, ood, ood_ref, prof, evaluate),
                     **provenance()})
        print(rows[-1], flush=True)
        new = pd.DataFrame(rows, columns=COLUMNS)
        out = pd.concat([old[~old["setup"].isin(new["setup"])], new], ignore_index=True)
        out["order"] = out["setup"].map({n: i for i, n in enumerate(SETUPS)})
        out = out.sort_values("order").drop(columns="order").reset_index(drop=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        out.to_csv(path, index=False)  # after every setup: an interrupted study keeps what it measured
    print(pd.read_csv(path).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
