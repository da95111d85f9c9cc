"""Score ``paper-repro predict`` on every held-out tampered image of a profile, as an analyst would run it.

    python benchmarks/heldout_predict.py --profile cpu --data-root ../shared/data \
        [--checkpoint checkpoints/cpu/reconwave/final.pt] [--restorer checkpoints/cpu/restorer/final.pt]

1. the held-out evaluation set of the profile's first evaluation spec (``casia1:test``: the grouped split,
   no source photo shared with training) is listed; its tampered images are passed to ONE
   ``paper-repro predict`` process (the command an analyst runs), writing ``*_prob.png`` / ``*_mask.png``;
2. each written map is read back and scored against the ground truth at the image's own size: per-image F1
   / IoU of the binary mask, pixel AUC of the probability map (:func:`paper_repro.metrics.pixel_scores`);
3. beside them, the all-tampered mask's F1 / IoU (``2p / (1 + p)``), the reference any detector must beat.

``--dataset photos-ood`` scores the out-of-distribution test set instead (splices, copy-moves and removals
generated from BSDS500's test photos and Kodak24, which no profile trains on; regenerated from its fixed seed
into the cache on first use), with the all-tampered reference per kind.

Prints one JSON record (means over the tampered held-out images, F1 and AUC with 95 % bootstrap intervals over
images) and writes the per-image CSV next to the predictions. ``--against DIR`` reads another run's per-image CSV
(``DIR/scores.csv``, e.g. another checkpoint's run on the same images) and adds the paired difference of F1 and AUC
(this run minus that one, same resampled images). Nothing here is specific to ReConWave-Net: pass any detector
checkpoint.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--checkpoint", default=None, help="default: <profile checkpoints>/reconwave/final.pt")
    ap.add_argument("--restorer", default=None)
    ap.add_argument("--out", default=None, help="default: runs/<profile>/heldout_predict")
    ap.add_argument("--max-images", type=int, default=None)
    ap.add_argument("--dataset", default=None, choices=(None, "photos-ood"),
                    help="default: the profile's first evaluation set (the held-out CASIA v1 split)")
    ap.add_argument("--tta", default="flips", choices=("none", "hflip", "flips"),
                    help="passed to paper-repro predict (default: predict's default, flips)")
    ap.add_argument("--against", default=None, metavar="DIR",
                    help="another run's output folder (its scores.csv): paired F1 / AUC difference on the same images")
    args = ap.parse_args(argv)

    from paper_repro import experiments as E
    from paper_repro.data import read_pair
    from paper_repro.metrics import pixel_scores
    from paper_repro.stats import bootstrap_ci, paired_difference

    prof = E.profile_for(args.profile, args.data_root).replace(max_eval_images=None)  # every held-out image
    if args.dataset == "photos-ood":
        name, df = "photos-ood", E.photos_ood(prof.resolved_data_root(), prof.name)
    else:
        _, _, evals = E.datasets_for(prof)
        name, df = next(iter(evals.items()))
    df = df[df["label"].astype(int) == 1].reset_index(drop=True)
    if args.max_images:
        df = df.iloc[: args.max_images]
    ckpt = Path(args.checkpoint or prof.checkpoints_dir / "reconwave" / "final.pt")
    out = Path(args.out or Path("runs") / prof.name / ("heldout_predict" + (f"-{args.dataset}" if args.dataset else "")))
    out.mkdir(parents=True, exist_ok=True)
    cmd = [str(Path(sys.executable).parent / "paper-repro"), "predict", *df["image"], "--checkpoint", str(ckpt),
           "--out", str(out)]
    if args.restorer:
        cmd += ["--restorer", args.restorer]
    cmd += ["--tta", args.tta]
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    seconds = time.time() - t0

    rows = []
    for _, r in df.iterrows():
        image, mask = read_pair(r)
        stem = Path(r["image"]).stem
        prob = np.asarray(Image.open(out / f"{stem}_prob.png"), dtype=np.float32) / 255.0
        binary = np.asarray(Image.open(out / f"{stem}_mask.png")) > 127
        s = pixel_scores(prob, mask)
        b = pixel_scores(binary.astype(np.float32), mask, auc=False)
        p = float(mask.mean())
        rows.append({"image": Path(r["image"]).name, "manipulation": r.get("manipulation"), "f1": b["f1"],
                     "iou": b["iou"], "auc": s["auc"], "tampered_fraction": p,
                     "all_tampered_f1": 2 * p / (1 + p), "all_tampered_iou": p})
    per = pd.DataFrame(rows)
    per.to_csv(out / "scores.csv", index=False)
    rec = {"dataset": name, "checkpoint": str(ckpt), "restorer": args.restorer, "tta": args.tta, "n_images": len(per),
           "f1": per["f1"].mean(), "iou": per["iou"].mean(), "auc": per["auc"].mean(),
           "all_tampered_f1": per["all_tampered_f1"].mean(), "all_tampered_iou": per["all_tampered_iou"].mean(),
           "by_manipulation": per.groupby("manipulation")[["f1", "iou", "auc", "all_tampered_f1"]].mean().round(4)
           .to_dict("index"),
           "predict_seconds": round(seconds, 1)}
    for m in ("f1", "auc"):
        ci = bootstrap_ci(per[m])
        rec[f"{m}_low"], rec[f"{m}_high"] = ci.low, ci.high
    if args.against:
        other = pd.read_csv(Path(args.against) / "scores.csv").set_index("image")
        missing = sorted(set(per["image"]) - set(other.index))
        if missing:
            raise SystemExit(f"--against {args.against}: {len(missing)} of these images are not in its scores.csv, "
                             f"e.g. {missing[:3]}")
        rec["against"] = str(args.against)
        for m in ("f1", "auc"):
            d = paired_difference(per[m].to_numpy(), other.loc[per["image"], m].to_numpy())
            rec[f"{m}_minus_against"], rec[f"{m}_minus_against_low"], rec[f"{m}_minus_against_high"] = \
                d.estimate, d.low, d.high
    print(json.dumps(rec, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
