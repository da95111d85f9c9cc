"""The method comparison: ReConWave-Net beside every run marked ``compare=True`` (LPCLNet, NCL, MPC) and the
all-tampered reference, at one budget."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Sequence

import pandas as pd

from ... import paper as _paper
from ... import profiles as _profiles
from ..intervals import add_intervals
from ..paper_view import attach_paper, paper_order
from ..runs import RUNS, run_budget
from ..sweeps import ablation_grid, decision_threshold, sweep_results, tidy_sweep
from .common import REFERENCE, TABLE_DETECTOR, TABLE_RESTORER, with_budget


class ComparedMethods(Mapping):
    """The methods of the comparison, all at the table budget: name -> (detector run, restorer run or None).
    ReConWave-Net is its restorer and detector (the restorer trains its own table budget on top), then every
    run of :data:`~paper_repro.experiments.runs.RUNS` marked ``compare=True``, in that order (LPCLNet, NCL,
    MPC: its head trains on the backbone of its ``init_from`` run, ``mpc-pretrain``). Read afresh at every
    access, so a run added to ``RUNS`` joins the comparison."""

    def _methods(self) -> dict[str, tuple[str, str | None]]:
        return {RECONWAVE_METHOD: (TABLE_DETECTOR, TABLE_RESTORER),
                **{k: (k, None) for k, r in RUNS.items() if r.compare}}

    def __getitem__(self, name):
        return self._methods()[name]

    def __iter__(self):
        return iter(self._methods())

    def __len__(self):
        return len(self._methods())


RECONWAVE_METHOD = f"{TABLE_DETECTOR}+{TABLE_RESTORER}"
METHODS = ComparedMethods()


def extra_run(method: str) -> str | None:
    """What ``method`` trains besides its detector (the ``extra_steps`` column of the comparison):
    ReConWave-Net's restorer, a compared run's ``init_from`` (MPC's pretraining), else nothing."""
    if method == RECONWAVE_METHOD:
        return TABLE_RESTORER
    return RUNS[method].init_from if method in RUNS else None


def method_sweeps(profile, methods: dict[str, tuple[str, str | None]] | None = None,
                  choose_thresholds: bool = True) -> pd.DataFrame:
    """Per-image sweep results of every method in ``methods`` (default :data:`METHODS` and the all-tampered
    reference), ``method`` and ``threshold`` columns set. ``choose_thresholds``: each method's pixel F1 / IoU at
    its own threshold, chosen on the training side's validation images
    (:func:`~paper_repro.experiments.sweeps.decision_threshold`); ``False``: 0.5 for all. Our choice: the
    methods' losses calibrate their probabilities differently (MPC's focal loss lowers them), and one fixed
    threshold would score that calibration rather than what each method separates; the held-out images choose
    nothing. The all-tampered reference's F1 does not depend on the threshold."""
    methods = {**METHODS, REFERENCE: (REFERENCE, None)} if methods is None else methods
    grid = ablation_grid(profile)
    parts = []
    for m, (d, r) in methods.items():
        t = decision_threshold(profile, d)[0] if choose_thresholds and d != REFERENCE else 0.5
        parts.append(sweep_results(profile, d, r, method=m, grid=grid, threshold=t))
    return pd.concat(parts, ignore_index=True)


def operating_points(results: pd.DataFrame, perturbation: str = "clean") -> pd.DataFrame:
    """Per method, at one condition, over the tampered images: mean pixel precision, recall and F1 at the
    method's threshold (column ``threshold``) beside the threshold-free AUC and the mean image score (the
    highest pixel probability). A method whose AUC ranks with the others while its recall trails them ranks
    pixels as well but scores them lower, so fewer cross the threshold: its F1 is set by its calibration, not
    by what it separates. ``results``: per-image
    frames of :func:`method_sweeps` / :func:`~paper_repro.experiments.sweeps.sweep_results`."""
    r = results[(results["perturbation"] == perturbation) & (results["label"].astype(int) == 1)]
    cols = [c for c in ("precision", "recall", "f1", "auc", "image_score") if c in r.columns]
    out = r.groupby("method", sort=False)[cols].mean()
    if "threshold" in r.columns:
        out.insert(0, "threshold", r.groupby("method", sort=False)["threshold"].first())
    out["n_images"] = r.groupby("method", sort=False).size()
    return out.reset_index()


def method_comparison(profile, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """ReConWave-Net (restorer + detector), LPCLNet, NCL and MPC (stage-1 pretraining, then the stage-2
    head on the frozen backbone), trained on the same split at the table budget with the same class weighting
    and evaluated at the same columns, F1 / IoU at each method's validation-chosen pixel threshold (column
    ``threshold``, :func:`method_sweeps`); ``vs_ref`` is each row minus ReConWave-Net's
    (``reconwave-table+restorer-table``). ``steps`` counts the
    detector's (or MPC head's) optimiser steps, ``extra_steps`` what the method trains besides (ReConWave-Net's
    restorer, MPC's pretraining). ``paper`` holds the papers' headline numbers where dataset / condition match
    (LPCLNet's clean CASIA v1 F1, ...). ``methods``: names of :data:`METHODS` to compare with ReConWave-Net
    (default: all of them); the all-tampered reference is always a row."""
    profile = _profiles.get(profile)
    names = list(METHODS) if methods is None else [RECONWAVE_METHOD, *[m for m in methods if m != RECONWAVE_METHOD]]
    res = method_sweeps(profile, {**{m: METHODS[m] for m in names}, REFERENCE: (REFERENCE, None)})
    parts = []
    for m, g in res.groupby("method", sort=False):
        t = tidy_sweep(g)
        det = METHODS.get(m, (None,))[0]
        t = with_budget(profile, t, det)
        extra = extra_run(m)
        t["extra_steps"] = run_budget(profile, extra)["steps"] if extra else 0
        t["threshold"] = float(g["threshold"].iloc[0])
        parts.append(t)
    out = pd.concat(parts, ignore_index=True)
    out["manipulation"] = "all"
    out = add_intervals(out, res, reference=RECONWAVE_METHOD, n_resamples=profile.n_bootstrap, seed=profile.seed)
    merged = None
    for paper in ("reconwave", "lpclnet"):
        try:
            b = attach_paper(out, "abstract", paper=paper)
        except ValueError:  # ambiguous keys in a paper's list: skip it
            continue
        merged = b if merged is None else merged.assign(paper=merged["paper"].fillna(b["paper"]),
                                                        diff=merged["diff"].fillna(b["diff"]))
    out = merged if merged is not None else out
    out.attrs["paper_missing"] = " | ".join(_paper.MISSING_TABLES[k]
                                            for k in ("ncl/table", "mpc/table", "lpclnet/table"))
    return paper_order(out)


