"""A verdict per comparative claim: what the paper says one row beats, checked against the paper's own size.

Each :class:`Claim` names two rows of a results table (A, claimed better, and B), a metric and a condition.
:func:`claims_table` measures ``ours`` = mean(A) - mean(B) on the same held-out images and gives it one interval
that holds both sources of uncertainty (:func:`paper_repro.stats.combined_difference`):

- *images*: a cluster bootstrap over source-photo groups (the held-out split is grouped by source photo, so
  images made from one photo are drawn together);
- *training*: each arm is the mean over its training seeds (:data:`~paper_repro.experiments.runs.ARM_SEEDS`),
  and its seed-to-seed spread is its training noise; an arm trained once takes the spread of the reference arm
  of its kind (``reconwave-table``'s seeds for detectors, ``restorer-table``'s for restorers), said in ``noise``.

The verdict (:func:`paper_repro.stats.effect_verdict`) compares our interval with 0 *and* with the paper's
difference: reproduced, smaller than claimed, not reproduced (the paper's size is ruled out, no effect is
shown), contradicted, inconclusive; ``p`` is the two-sided probability of no difference and ``p_holm`` its Holm
adjustment over the claims tested together. Claims the paper does not make (no difference in its tables:
ours against LPCLNet / NCL / MPC, restoration against augmentation, restorer PSNR in Tables 7-8, the classical
correction) form the separate :func:`further_comparisons` family.

Conditions that carry the same information are marked, not counted twice: under the multiplicative contrast
convention, beta = 2.0 is alpha = +0.5 followed by an exact affine map (:mod:`paper_repro.perturb`), so a claim
at beta = 2.0 names its alpha = +0.5 twin in ``same_information_as``. What is not tested, and why, is in
:data:`OMITTED`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from .. import paper as _paper
from .. import profiles as _profiles
from .. import stats
from .intervals import RESTORATION_COLUMNS, condition_values, per_image
from .paper_view import condition_label
from .runs import ARM_SEEDS, RUNS
from .sweeps import paper_grid, cached_restoration_scores, ablation_grid, restoration_per_image, sweep_results
from .tables import METHODS, TABLE_DETECTOR, TABLE_RESTORER, method_sweeps, seed_noise

__all__ = ["Claim", "CLAIMS", "claims_table", "further_comparisons", "paper_claims", "CLAIM_COLUMNS", "OMITTED"]

CLAIM_COLUMNS = ["claim", "table", "metric", "condition", "a", "b", "paper", "ours", "ci_low", "ci_high", "se_images",
                 "sd_training", "p", "p_holm", "seeds_a", "seeds_b", "noise", "arm_f1_fraction", "n_images",
                 "n_groups", "family", "same_information_as", "verdict", "reason"]

#: Pairs and metrics of the paper's tables that no claim tests, and why.
OMITTED = {
    "IoU (Tables 4-8)": "per image IoU = F1 / (2 - F1) for binary masks, so a difference in mean IoU follows the one "
                        "in mean F1 and its verdict repeats F1's",
    "Table 4: DWFEL against contrastive alone": "the paper claims each module over the plain U-Net and both over "
                                                "each, not one module over the other",
    "Tables 5, 7, 8 at the disturbed columns": "Table 5 is tested clean, Tables 7-8 at alpha = +0.5 (the restorer's "
                                               "condition); beta = 2.0 carries the same information as alpha = +0.5",
    "Table 7 deformable against Swin in F1": "tested in PSNR (further comparisons); in F1 the paper ranks Swin over ViT "
                                             "over deformable, tested pairwise",
}


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
    Claim("both modules beat the plain U-Net (clean)", "table4", "f1", _CLEAN, (TABLE_DETECTOR, _R),
          ("reconwave-plain", _R), "reconwave", "reconwave-plain"),
    Claim("Haar beats Symlet4 (clean)", "table5", "f1", _CLEAN, (TABLE_DETECTOR, _R),
          ("reconwave-sym4", _R), "reconwave", "reconwave-sym4"),
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
    Claim("Swin attention beats deformable (PSNR, mean of the paper's levels)", "table7", "psnr", _MEAN,
          TABLE_RESTORER, "restorer-deformable"),
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
        scores = restoration_per_image(cached_restoration_scores(profile, side, paper_grid()))
        return scores, RESTORATION_COLUMNS[c.metric]
    grid = ablation_grid(profile) if c.grid == "ablation" else [("clean", None)] + paper_grid()
    if c.table == "methods":  # the comparison's own per-image results (each method at its chosen threshold)
        name = next(m for m, s in METHODS.items() if s == tuple(side))
        return method_sweeps(profile, {name: METHODS[name]}), None
    det, res = side
    return sweep_results(profile, det, res, grid=grid), None


def _variants(c: Claim, side) -> list:
    """The trained versions of one side of a claim that its mean is taken over: the detector's seed runs, or
    (the detector trained once) the restorer's. The method comparison scores each method once, at its own
    validation-chosen threshold."""
    if c.table == "methods":
        return [side]
    if isinstance(side, str):
        return list(ARM_SEEDS.get(side, (side,)))
    det, res = side
    if len(ARM_SEEDS.get(det, (det,))) > 1:
        return [(d, res) for d in ARM_SEEDS[det]]
    if res is not None and len(ARM_SEEDS.get(res, (res,))) > 1:
        return [(det, r) for r in ARM_SEEDS[res]]
    return [side]


def _values(profile, c: Claim, side, dataset, condition=None) -> pd.Series:
    """Per-image values (index: image) of one trained version of a side at the claim's (or ``condition``'s)
    metric and condition, on ``dataset``."""
    r, col = _results(profile, c, side)
    if dataset is not None:
        r = r[r["dataset"] == dataset]
    p, lv = condition or c.condition
    v = condition_values(per_image(r, c.metric, col), p, lv)
    return v if v is not None else pd.Series(dtype=float)


def _arm(profile, c: Claim, side, dataset, condition=None) -> tuple[pd.Series, float, int]:
    """One side of a claim: its per-image values averaged over its trained versions, the standard deviation of
    that mean from their spread (NaN with one version), and the number of versions."""
    vals = [_values(profile, c, v, dataset, condition) for v in _variants(c, side)]
    common = vals[0].index
    for v in vals[1:]:
        common = common.intersection(v.index)
    frame = pd.concat([v.loc[common] for v in vals], axis=1)
    means = frame.mean(axis=0, skipna=True)
    sd = float(means.std(ddof=1)) / math.sqrt(len(vals)) if len(vals) > 1 else math.nan
    return frame.mean(axis=1, skipna=False), sd, len(vals)


#: The sides a claim may name that train nothing: no restorer, the unrestored and the classical baseline.
_UNTRAINED = frozenset({None, "restore-none", "restore-classical"})


def _own_part(c: Claim, side):
    """What one side trains that the other side does not: ``"detector"``, ``"restorer"`` or ``None`` (the
    differing part is untrained: no restorer, the unrestored or classical baseline)."""
    other = c.b if side is c.a else c.a
    if isinstance(side, str):
        return None if side in _UNTRAINED else "restorer"
    if side[0] != other[0]:
        return "detector"
    return "restorer" if side[1] not in _UNTRAINED else None


def _pool(profile, c: Claim, part: str, dataset) -> tuple[float, int, str]:
    """The training noise of one trained run of ``part``'s kind: the seed spread of ``reconwave-table``
    (detectors, behind the shipped restorer as in Table 4) or ``restorer-table`` (restorers; behind the shipped
    detector for detection metrics), at the claim's metric and condition."""
    if part == "detector":
        ref, side = "reconwave-table", ("reconwave-table", _R)
    else:
        ref = "restorer-table"
        side = ref if c.restoration else ("reconwave", ref)
    probe = replace(c, table="pool", a=side, b=side)
    _, sd_mean, n = _arm(profile, probe, side, dataset)
    return sd_mean * math.sqrt(n), n, f"pooled from {ref}'s {n} seeds"


def _group_of(profile, dataset) -> dict:
    """Image path -> source-photo group of the evaluation set (each image its own group where no ids exist)."""
    from ..data.splits import source_groups
    from .splits import datasets_for

    _, _, evals = datasets_for(profile)
    df = evals.get(dataset) if dataset is not None else next(iter(evals.values()))
    if df is None or "sources" not in df.columns:
        return {}
    return dict(zip(df["image"].astype(str), source_groups(df)))


def _is_reconwave(side) -> bool:
    det = side if isinstance(side, str) else side[0]
    run = RUNS.get(det)
    return run is not None and run.model == "reconwave"


def claims_table(profile, claims=CLAIMS) -> pd.DataFrame:
    """One row per claim (:data:`CLAIM_COLUMNS`): ``ours`` = A - B on the evaluation sample, its combined 95 %
    interval, the two parts of its uncertainty, ``p`` and ``p_holm`` (Holm within the claim's ``family``:
    ``paper`` for the paper's claims, ``further`` for ours), the seeds each arm's mean covers, how the training
    noise was obtained (``noise``), ``arm_f1_fraction`` (the weaker arm's clean F1 over the shipped detector's, for
    ReConWave-Net arms: how trained the compared models are) and the verdict. Every model involved is trained
    (cached) if needed."""
    profile = _profiles.get(profile)
    noise = seed_noise(profile)
    first = noise["dataset"].iloc[0] if len(noise) else None
    groups = _group_of(profile, first)
    shipped = sweep_results(profile, "reconwave", "restorer", grid=ablation_grid(profile))
    if first is not None:
        shipped = shipped[shipped["dataset"] == first]
    shipped_f1 = condition_values(per_image(shipped, "f1"), "clean", None)
    shipped_f1 = float(shipped_f1.mean()) if shipped_f1 is not None else math.nan
    pools: dict[tuple, tuple[float, int, str]] = {}  # one pooled spread per part, metric, condition and grid
    rows = []
    for c in claims:
        va, sda, na = _arm(profile, c, c.a, first)
        vb, sdb, nb = _arm(profile, c, c.b, first)
        both = va.index.intersection(vb.index)
        how = []
        seeds = []
        for side, sd, n in ((c.a, sda, na), (c.b, sdb, nb)):
            part = _own_part(c, side)
            if n > 1:
                how.append(f"measured on {n} seeds")
                seeds.append((sd, n))
            elif part is None:
                how.append("no trained part of its own")
                seeds.append((0.0, None))
            else:
                key = (part, c.metric, c.condition, c.restoration, c.grid)
                if key not in pools:
                    pools[key] = _pool(profile, c, part, first)
                pool_sd, pool_n, text = pools[key]
                how.append(text)
                seeds.append((pool_sd, pool_n))
        d = stats.combined_difference(va.loc[both].to_numpy(), vb.loc[both].to_numpy(),
                                      [groups.get(str(i), str(i)) for i in both], sd_a=seeds[0][0],
                                      sd_b=seeds[1][0], n_resamples=profile.n_bootstrap, seed=profile.seed,
                                      seeds_a=seeds[0][1], seeds_b=seeds[1][1])
        reason = "no image scored by both rows" if d.n == 0 else None
        fraction = math.nan
        if not c.restoration and _is_reconwave(c.a) and _is_reconwave(c.b) and shipped_f1 > 0:
            clean = [float(_arm(profile, c, side, first, ("clean", None))[0].mean())
                     if c.metric == "f1" else math.nan for side in (c.a, c.b)]
            fraction = min(clean) / shipped_f1
        paper = _paper_difference(c)
        rows.append({"claim": c.claim, "table": c.table, "metric": c.metric,
                     "condition": condition_label(*c.condition), "a": _side_label(c.a), "b": _side_label(c.b),
                     "paper": paper, "ours": d.estimate, "ci_low": d.low, "ci_high": d.high,
                     "se_images": d.se_images, "sd_training": d.sd_training, "p": d.p,
                     "seeds_a": na, "seeds_b": nb, "noise": "A " + how[0] + "; B " + how[1],
                     "arm_f1_fraction": fraction, "n_images": d.n, "n_groups": d.groups,
                     "family": "paper" if c.paper_a is not None else "further",
                     "same_information_as": _twin(c, claims),
                     "verdict": stats.effect_verdict(d.low, d.high, paper, reason=reason),
                     "reason": reason or ""})
    out = pd.DataFrame(rows, columns=[k for k in CLAIM_COLUMNS if k != "p_holm"])
    out.insert(out.columns.get_loc("p") + 1, "p_holm", math.nan)
    for fam, idx in out.groupby("family").groups.items():
        out.loc[idx, "p_holm"] = stats.holm(out.loc[idx, "p"].to_numpy())
    return out


def _twin(c: Claim, claims) -> str:
    """The alpha = +0.5 claim that a beta = 2.0 claim repeats (same rows and metric), else ``""``."""
    if c.condition != _B20:
        return ""
    for o in claims:
        if o.condition == _A05 and (o.a, o.b, o.metric, o.table) == (c.a, c.b, c.metric, c.table):
            return o.claim
    return ""


def paper_claims(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`claims_table` that are the paper's claims (its tables give the difference)."""
    return table[table["family"] == "paper"].reset_index(drop=True)


def further_comparisons(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`claims_table` that the paper does not claim: comparisons of ours."""
    return table[table["family"] == "further"].reset_index(drop=True)


def _side_label(side) -> str:
    if isinstance(side, str):
        return side
    det, res = side
    return det if res is None else f"{det}+{res}"


def _check_runs() -> None:
    """Every run a claim names exists (import-time check: a renamed run fails loudly, not as NaN)."""
    known = set(RUNS) | _UNTRAINED
    for c in CLAIMS:
        for side in (c.a, c.b):
            keys = [side] if isinstance(side, str) else list(side)
            missing = [k for k in keys if k not in known]
            if missing:
                raise KeyError(f"claim {c.claim!r} names unknown run(s) {missing}")


_check_runs()
