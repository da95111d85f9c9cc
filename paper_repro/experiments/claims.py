"""A verdict per comparative claim: what the paper says one row beats, checked with a paired interval.

Each :class:`Claim` names two rows of a results table (A, claimed better, and B), a metric and a condition.
:func:`claims_table` measures ``ours`` = mean(A) - mean(B) on the same held-out images with its paired
bootstrap interval (:func:`paper_repro.stats.paired_difference`), puts the paper's difference beside it
(``paper``; NaN where the paper has no such pair) and gives the verdict of :func:`paper_repro.stats.verdict`:
``supported`` only when the interval excludes 0 in the claimed direction *and* the difference exceeds twice
the seed-to-seed standard deviation of that metric (:func:`~paper_repro.experiments.tables.seed_noise`; used
for detector claims, whose rows are trained models; restorer PSNR claims have no seed repeats and use 0).

The claims of ReConWave-Net's Tables 1 and 4-8 are read off its published tables (the direction in which the
paper's numbers differ); the package's own (ReConWave-Net against LPCLNet / NCL / MPC, restoration against
augmentation) claim "A is better".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from .. import paper as _paper
from .. import profiles as _profiles
from .. import stats
from .intervals import RESTORATION_COLUMNS, paired
from .paper_view import _condition
from .runs import RUNS
from .sweeps import _paper_grid, _restoration_scores, ablation_grid, restoration_per_image, sweep_results
from .tables import METHODS, TABLE_DETECTOR, TABLE_RESTORER, method_sweeps, seed_noise

__all__ = ["Claim", "CLAIMS", "claims_table", "CLAIM_COLUMNS"]

CLAIM_COLUMNS = ["claim", "table", "metric", "condition", "a", "b", "paper", "ours", "ci_low", "ci_high",
                 "noise_sd", "n_images", "verdict", "reason"]


@dataclass(frozen=True)
class Claim:
    """"``a`` beats ``b`` in ``metric`` at ``condition``".

    ``a`` / ``b``: ``(detector, restorer)`` run pairs for detection metrics (restorer ``None``: none in
    front), restorer keys for ``psnr`` / ``ssim`` (``restore-none``: unrestored). ``paper_a`` / ``paper_b``:
    the rows of the paper's ``table`` that give its difference (``None``: the paper has none). ``grid``:
    ``"ablation"`` (clean, alpha = 0.5, beta = 2.0) or ``"paper"`` (clean and the paper's four levels), the
    columns the table was evaluated at."""

    claim: str
    table: str
    metric: str
    condition: tuple[str, float | None]
    a: tuple | str
    b: tuple | str
    paper_a: str | None = None
    paper_b: str | None = None
    grid: str = "ablation"
    paper_table: str | None = None

    @property
    def restoration(self) -> bool:
        return self.metric in ("psnr", "ssim")


_R = "restorer"  # the shipped restorer in front of every detector of Tables 4 and 5
_CLEAN, _A05, _B20, _MEAN = ("clean", None), ("brightness", 0.5), ("contrast", 2.0), ("mean", None)
_LEVELS = {"clean": _CLEAN, "alpha=0.5": _A05, "beta=2.0": _B20}

#: The comparative claims checked by :func:`claims_table` (ReConWave-Net's Tables 1 and 4-8, then ours).
CLAIMS: tuple[Claim, ...] = (
    *(Claim(f"DWFEL improves F1 ({n})", "table4", "f1", c, ("reconwave-dwfel", _R), ("reconwave-plain", _R),
            "reconwave-dwfel", "reconwave-plain") for n, c in _LEVELS.items()),
    *(Claim(f"contrastive learning improves F1 ({n})", "table4", "f1", c, ("reconwave-contrastive", _R),
            ("reconwave-plain", _R), "reconwave-contrastive", "reconwave-plain") for n, c in _LEVELS.items()),
    Claim("both modules beat DWFEL alone (clean)", "table4", "f1", _CLEAN, (TABLE_DETECTOR, _R),
          ("reconwave-dwfel", _R), "reconwave", "reconwave-dwfel"),
    Claim("both modules beat contrastive alone (clean)", "table4", "f1", _CLEAN, (TABLE_DETECTOR, _R),
          ("reconwave-contrastive", _R), "reconwave", "reconwave-contrastive"),
    Claim("Haar beats Biorthogonal4.4 (clean)", "table5", "f1", _CLEAN, (TABLE_DETECTOR, _R),
          ("reconwave-bior4.4", _R), "reconwave", "reconwave-bior4.4"),
    Claim("Biorthogonal4.4 beats Symlet4 (clean)", "table5", "f1", _CLEAN, ("reconwave-bior4.4", _R),
          ("reconwave-sym4", _R), "reconwave-bior4.4", "reconwave-sym4"),
    *(Claim(f"restoration on beats off ({n})", "table6", "f1", c, ("reconwave", "restorer"), ("reconwave", None),
            "reconwave+restorer", "reconwave") for n, c in _LEVELS.items()),
    Claim("Swin attention beats ViT (F1, alpha=0.5)", "table7", "f1", _A05, ("reconwave", TABLE_RESTORER),
          ("reconwave", "restorer-vit"), "restorer", "restorer-vit"),
    Claim("ViT attention beats deformable (F1, alpha=0.5)", "table7", "f1", _A05, ("reconwave", "restorer-vit"),
          ("reconwave", "restorer-deformable"), "restorer-vit", "restorer-deformable"),
    Claim("Swin attention beats ViT (PSNR, mean of the paper's levels)", "table7", "psnr", _MEAN, TABLE_RESTORER,
          "restorer-vit"),
    Claim("forensic loss beats L1 (PSNR, mean of the paper's levels)", "table8", "psnr", _MEAN, TABLE_RESTORER,
          "restorer-l1"),
    Claim("forensic loss beats L1 (F1, alpha=0.5)", "table8", "f1", _A05, ("reconwave", TABLE_RESTORER),
          ("reconwave", "restorer-l1"), "restorer", "restorer-l1"),
    Claim("the restorer beats no restoration (PSNR, mean)", "table1", "psnr", _MEAN, "restorer", "restore-none",
          "reconwave_restorer", "unrestored", paper_table="abstract"),
    Claim("the restorer beats the classical correction (PSNR, mean)", "table1", "psnr", _MEAN, "restorer",
          "restore-classical"),
    *(Claim(f"ReConWave-Net beats {name} (clean F1)", "methods", "f1", _CLEAN, (TABLE_DETECTOR, TABLE_RESTORER),
            (key, None)) for name, key in (("LPCLNet", "lpclnet"), ("NCL", "ncl"), ("MPC", "mpc"))),
    *(Claim(f"restoration beats augmentation ({n})", "augmentation", "f1", c, (TABLE_DETECTOR, TABLE_RESTORER),
            ("reconwave-table-augmented", None)) for n, c in (("alpha=0.5", _A05), ("beta=2.0", _B20))),
)


def _paper_difference(c: Claim) -> float:
    """The paper's A - B for the claim's metric and condition (NaN when the paper has no such pair)."""
    if c.paper_a is None or c.paper_b is None:
        return math.nan
    try:
        ref = _paper.paper_numbers("reconwave", c.paper_table or c.table)
    except KeyError:
        return math.nan
    p, lv = c.condition
    sel = ref[(ref["metric"] == c.metric) & (ref["perturbation"] == p)]
    if lv is not None:
        sel = sel[pd.to_numeric(sel["level"], errors="coerce").astype(float).round(6) == round(float(lv), 6)]
    if "manipulation" in sel.columns and (sel["manipulation"] == "all").any():
        sel = sel[sel["manipulation"] == "all"]
    va = sel.loc[sel["method"] == c.paper_a, "value"]
    vb = sel.loc[sel["method"] == c.paper_b, "value"]
    if va.empty or vb.empty:
        return math.nan
    return float(va.astype(float).mean() - vb.astype(float).mean())


def _results(profile, c: Claim, side):
    """Per-image results of one side of a claim, with the per-image column of its metric."""
    if c.restoration:
        scores = restoration_per_image(_restoration_scores(profile, side, _paper_grid()))
        return scores, RESTORATION_COLUMNS[c.metric]
    grid = ablation_grid(profile) if c.grid == "ablation" else [("clean", None)] + _paper_grid()
    if c.table == "methods":  # the comparison's own per-image results (each method at its chosen threshold)
        name = next(m for m, s in METHODS.items() if s == tuple(side))
        return method_sweeps(profile, {name: METHODS[name]}), None
    det, res = side
    return sweep_results(profile, det, res, grid=grid), None


def claims_table(profile, claims=CLAIMS) -> pd.DataFrame:
    """One row per claim: :data:`CLAIM_COLUMNS` (``ours`` = A - B on the first evaluation set, its paired
    95 % interval, the seed noise floor ``noise_sd`` and the ``verdict``; ``reason`` says why a claim is
    ``not testable``). Every model involved is trained (cached) if needed."""
    profile = _profiles.get(profile)
    noise = seed_noise(profile)
    first = noise["dataset"].iloc[0] if len(noise) else None
    rows = []
    for c in claims:
        reason = None
        ra, col = _results(profile, c, c.a)
        rb, _ = _results(profile, c, c.b)
        if first is not None:
            ra, rb = ra[ra["dataset"] == first], rb[rb["dataset"] == first]
        d = paired(ra, rb, c.metric, *c.condition, column=col, n_resamples=profile.n_bootstrap, seed=profile.seed)
        sd = 0.0
        if not c.restoration:
            p, lv = c.condition
            m = noise[(noise["metric"] == c.metric) & (noise["perturbation"] == p)
                      & ((noise["level"].isna()) if lv is None else (noise["level"].round(6) == round(lv, 6)))]
            if first is not None:
                m = m[m["dataset"] == first]
            sd = float(m["sd"].iloc[0]) if len(m) and pd.notna(m["sd"].iloc[0]) else 0.0
        if d.n == 0:
            reason = "no image scored by both rows"
        paper = _paper_difference(c)
        rows.append({"claim": c.claim, "table": c.table, "metric": c.metric,
                     "condition": _condition(*c.condition), "a": _side_label(c.a), "b": _side_label(c.b),
                     "paper": paper, "ours": d.estimate, "ci_low": d.low, "ci_high": d.high, "noise_sd": sd,
                     "n_images": d.n,
                     "verdict": stats.verdict(d.low, d.high, d.estimate, paper=paper, noise_sd=sd, reason=reason),
                     "reason": reason or ""})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def _side_label(side) -> str:
    if isinstance(side, str):
        return side
    det, res = side
    return det if res is None else f"{det}+{res}"


def _check_runs() -> None:
    """Every run a claim names exists (import-time check: a renamed run fails loudly, not as NaN)."""
    known = set(RUNS) | {"restore-none", "restore-classical", None}
    for c in CLAIMS:
        for side in (c.a, c.b):
            keys = [side] if isinstance(side, str) else list(side)
            missing = [k for k in keys if k not in known]
            if missing:
                raise KeyError(f"claim {c.claim!r} names unknown run(s) {missing}")


_check_runs()
