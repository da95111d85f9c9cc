"""Each compared detector's decision threshold, chosen on the validation split, then scored once on the held-out one.

    python benchmarks/decision_threshold.py --data-root ../shared/data [--profile cpu]
        [--methods reconwave-table lpclnet ncl mpc] [--out benchmarks/decision-threshold-cpu.csv]

Pixel F1 is taken at one threshold. A detector whose loss makes it less confident (MPC's focal-loss head) ranks
tampered pixels as well as the others (AUC) while fewer of them cross 0.5, so at 0.5 its F1 measures its
calibration. The method comparison (notebook 08) therefore scores each method at the threshold that
:func:`paper_repro.experiments.decision_threshold` chooses among the profile's ``decision_thresholds`` on the
tampered images of the training side's *validation* part (clean, no restorer, one pass scoring every
candidate). This script shows that choice beside what it does on the held-out evaluation sample: the
validation F1 of every candidate, and the held-out F1 (clean, no restorer) at the chosen threshold and at 0.5.
The held-out split chooses nothing. Models and scores come from the profile's cache (trained first if absent).
Columns: ``method, split, threshold, f1, chosen, all_tampered`` (the all-tampered mask's F1 on the same images).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from paper_repro.reference import provenance

METHODS = ("reconwave-table", "lpclnet", "ncl", "mpc")


def _tampered_f1(results: pd.DataFrame) -> float:
    return float(results.loc[results["label"].astype(int) == 1, "f1"].mean())


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import paper_repro.experiments as E

    P = E.profile_for(args.profile, data_root=args.data_root)
    _, valid, evals = E.datasets_for(P)
    test_name = next(iter(evals))
    clean = [("clean", None)]

    def held_out(key, t):
        return _tampered_f1(E.sweep_results(P, key, None, datasets=[test_name], grid=clean, threshold=t))

    trivial_valid = E.decision_threshold(P, "all-tampered")[1]["f1"].iloc[-1]
    trivial = {"validation": float(trivial_valid), "held-out": held_out("all-tampered", 0.5)}
    rows = []
    for method in args.methods:
        t0 = time.time()
        best, scores = E.decision_threshold(P, method)
        rows += [dict(method=method, split="validation", threshold=t, f1=v, chosen=t == best)
                 for t, v in zip(scores["threshold"], scores["f1"])]
        rows += [dict(method=method, split="held-out", threshold=t, f1=held_out(method, t), chosen=t == best)
                 for t in sorted({best, 0.5})]
        print(f"{method}: validation threshold {best} ({time.time() - t0:.0f} s)", flush=True)
    out = pd.DataFrame(rows)
    out["all_tampered"] = out["split"].map(trivial)
    for k, v in provenance().items():
        out[k] = v
    dest = Path(args.out or Path(__file__).with_name(f"decision-threshold-{P.name}.csv"))
    out.to_csv(dest, index=False, float_format="%.4f")
    print(out.round(3).to_string(index=False))
    return out


if __name__ == "__main__":
    main()
