"""Each compared detector's decision threshold, chosen on the validation split, then scored once on the held-out one.

    python benchmarks/decision_threshold.py --data-root ../shared/data [--profile cpu]
        [--methods reconwave-table lpclnet ncl mpc] [--thresholds 0.2 0.3 0.4 0.5]
        [--out benchmarks/decision-threshold-cpu.csv]

Pixel F1 is taken at one threshold, 0.5 everywhere in the tables. A detector whose loss makes it less confident
(MPC's focal-loss head) ranks tampered pixels as well as the others (AUC) while fewer of them cross 0.5, so its
F1 measures its calibration. This script takes the comparison rows' trained detectors (the run keys of the
method comparison at the table budget; trained first if the profile's cache does not hold them), scores the
tampered images of the training side's *validation* part (whole images at their own size, one pass, clean, no
restorer) at each threshold, picks the best validation F1 per method, and scores the held-out evaluation sample
at that threshold and at 0.5. The held-out split chooses nothing. Columns: ``method, split, threshold, f1,
chosen, all_tampered`` (the all-tampered mask's F1 on the same images).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

METHODS = ("reconwave-table", "lpclnet", "ncl", "mpc")


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--thresholds", nargs="+", type=float, default=[0.2, 0.3, 0.4, 0.5])
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import paper_repro.experiments as E
    from paper_repro.evaluate import evaluate

    P = E.profile_for(args.profile, data_root=args.data_root)
    _, valid, evals = E.datasets_for(P)
    valid_t = valid[valid["label"].astype(int) == 1]
    test = next(iter(evals.values()))
    kw = dict(size=P.eval_size, progress=False, precision=P.precision, num_workers=P.num_workers)

    def f1(path, df, t):
        r = evaluate(path, df, threshold=t, **kw)
        return float(r.loc[r["label"].astype(int) == 1, "f1"].mean())

    trivial = {"validation": f1("all-tampered", valid_t, 0.5), "held-out": f1("all-tampered", test, 0.5)}
    rows = []
    for method in args.methods:
        t0 = time.time()
        path = E.checkpoint(P, method)
        scores = {t: f1(path, valid_t, t) for t in args.thresholds}
        best = max(scores, key=scores.get)
        rows += [dict(method=method, split="validation", threshold=t, f1=v, chosen=t == best)
                 for t, v in scores.items()]
        rows += [dict(method=method, split="held-out", threshold=t, f1=f1(path, test, t), chosen=t == best)
                 for t in sorted({best, 0.5})]
        print(f"{method}: validation threshold {best} ({time.time() - t0:.0f} s)", flush=True)
    out = pd.DataFrame(rows)
    out["all_tampered"] = out["split"].map(trivial)
    dest = Path(args.out or Path(__file__).with_name(f"decision-threshold-{P.name}.csv"))
    out.to_csv(dest, index=False, float_format="%.4f")
    print(out.round(3).to_string(index=False))
    return out


if __name__ == "__main__":
    main()
