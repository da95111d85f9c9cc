"""The restoration tables: ReConWave-Net Table 1 (restoration quality), its gap to the known-disturbance
inverse, the classifier's accuracy, the clean identity, the brightness / contrast conventions, Tables 7
(attention) and 8 (forensic loss)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ... import paper as _paper
from ... import perturb as P
from ... import profiles as _profiles
from ..identity import frame_fingerprint
from ..intervals import RESTORATION_COLUMNS, add_intervals
from ..paper_view import attach_paper, paper_order
from ...models import load as load_model
from ..runs import model_ref
from ..splits import datasets_for
from ..sweeps import (ablation_grid, cached_frame, cached_restoration_scores, evaluation_grid, paper_grid,
                      restoration_per_image, sweep_results, tidy_restoration, tidy_sweep)
from .common import REFERENCE, TABLE_RESTORER, with_budget


def table1_restoration(profile, restorer: str = "restorer") -> pd.DataFrame:
    """ReConWave-Net Table 1: PSNR / SSIM inside the tampered regions, per forgery type and disturbance
    (the paper's levels alpha = +-0.5, beta = 0.7 / 2.0, plus their ``mean``), for no restoration
    (``restore-none``, the paper's "unrestored"), the classical correction (``restore-classical``) and our
    trained restorer (``method`` names as in the paper where it has the row: ``unrestored``,
    ``reconwave_restorer``; ``classical`` is ours; ``oracle`` is the exact inverse of the known disturbance,
    :func:`paper_repro.perturb.invert`, the ceiling of any restorer). The disturbed images are rounded to
    8 bits, as a stored photo is. Retinexformer and MSEC-Net appear with the paper's
    numbers only (``value`` NaN). ``manipulation`` ``all`` = over every tampered image."""
    profile = _profiles.get(profile)
    grid = paper_grid()
    names = {"restore-none": "unrestored", "restore-classical": "classical", restorer: "reconwave_restorer",
             "restore-oracle": "oracle"}
    scores = [cached_restoration_scores(profile, r, grid) for r in names]
    ours = pd.concat([tidy_restoration(sc) for sc in scores], ignore_index=True)
    ours["method"] = ours["method"].map(names)
    per_image = pd.concat([restoration_per_image(sc) for sc in scores], ignore_index=True)
    per_image["method"] = per_image["method"].map(names)
    ours = add_intervals(ours, per_image, reference="reconwave_restorer", keys=("method", "dataset", "manipulation"),
                         columns=RESTORATION_COLUMNS, n_resamples=profile.n_bootstrap, seed=profile.seed)
    ours = attach_paper(ours, "table1", on=("method", "manipulation", "perturbation", "level", "metric"))
    ref = _paper.paper_numbers("reconwave", "table1")
    ref = ref[ref["method"].isin(["retinexformer", "msec_net"])]
    only = pd.DataFrame({"method": ref["method"], "dataset": "(paper)",
                         "manipulation": ref["manipulation"].replace({"copy_move": "copy-move", "splice": "splicing"}),
                         "perturbation": ref["perturbation"], "level": ref["level"].astype(float),
                         "metric": ref["metric"], "value": math.nan, "n_images": 0, "paper": ref["value"],
                         "diff": math.nan})
    out = pd.concat([ours, only], ignore_index=True)
    out.attrs["paper_missing"] = _paper.PARTIAL_TABLES.get("reconwave/table1", "")
    return paper_order(out)


#: :func:`table1_gap`'s rows: (method, restorer key, teacher, what the row is given besides the disturbed photo)
GAP_ROWS = (("reconwave_restorer", None, None, "nothing"),
            ("restorer_true_class", None, "class", "the disturbance class"),
            ("restorer_true_disturbance", None, "class+strength", "the class and the strength"),
            ("known_inverse", "restore-known", None, "class and strength; clipped pixels at their interval's middle"),
            ("oracle", "restore-oracle", None, "class and strength; clipped pixels at the clean photo's mean"))


def table1_gap(profile, restorer: str = "restorer") -> pd.DataFrame:
    """Where the restorer's Table 1 gap to the oracle comes from: the tampered-region PSNR at the paper's four
    levels (and their ``mean``) of the trained restorer on its own, given the true disturbance class, given the
    class and the true strength (:func:`paper_repro.evaluate.restoration_scores`' ``teacher``), of the exact
    inverse with the truth whose clipped pixels get the middle of their interval (``known_inverse``: the
    restorer's analytic step with the truth, before its U-Net refines it) and of the oracle (clipped pixels at
    the clean photo's mean). ``vs_ref`` (paired interval ``vs_ref_low`` / ``vs_ref_high``) is each row minus
    the oracle; successive rows' differences split the gap into the class decision, the strength estimate,
    what the restorer does beyond the midpoint inverse given the truth (its fill of clipped pixels from the
    training photos' values and its U-Net) and what the disturbed photo no longer holds (``known_inverse`` -
    ``oracle``: the clipped pixels' own mean, which only the oracle knows).
    Column ``given``: what the row knows besides the disturbed photo. Held-out tampered images as Table 1."""
    profile = _profiles.get(profile)
    grid = paper_grid()
    tidy, per_image = [], []
    for method, key, teacher, given in GAP_ROWS:
        sc = cached_restoration_scores(profile, key or restorer, grid, teacher=teacher).assign(method=method)
        t = tidy_restoration(sc, by_manipulation=False)
        tidy.append(t[t["metric"] == "psnr"].assign(given=given))
        per_image.append(restoration_per_image(sc).assign(manipulation="all"))
    out = add_intervals(pd.concat(tidy, ignore_index=True), pd.concat(per_image, ignore_index=True),
                        reference="oracle", keys=("method", "dataset", "manipulation"), columns=RESTORATION_COLUMNS,
                        n_resamples=profile.n_bootstrap, seed=profile.seed)
    return out.reset_index(drop=True)


def gap_components(gap: pd.DataFrame) -> pd.DataFrame:
    """:func:`table1_gap` as one row per condition: the restorer's gap to the oracle (dB, negative = below it)
    and its parts, which sum to it: ``class decision`` (own class vs the true one), ``strength`` (own strength
    vs the true one), ``fill and refinement`` (the restorer given the truth vs the midpoint inverse given the
    truth: its prior fill of clipped pixels and its U-Net) and ``clipped pixels`` (the midpoint fill vs the
    clean photo's own mean there, which no estimate from the disturbed photo recovers)."""
    g = gap.assign(level=gap["level"].fillna(np.inf))  # the levels' ``mean`` row has no level: keep it a key
    v = g.pivot_table(index=["perturbation", "level"], columns="method", values="value", sort=False)
    out = pd.DataFrame({
        "restorer - oracle": v["reconwave_restorer"] - v["oracle"],
        "class decision": v["reconwave_restorer"] - v["restorer_true_class"],
        "strength": v["restorer_true_class"] - v["restorer_true_disturbance"],
        "fill and refinement": v["restorer_true_disturbance"] - v["known_inverse"],
        "clipped pixels": v["known_inverse"] - v["oracle"],
    }).reset_index()
    out["level"] = out["level"].where(np.isfinite(out["level"]))
    return out


def clean_identity(profile, restorer: str = "restorer") -> pd.DataFrame:
    """What the restorer does to photos that were never disturbed: every held-out tampered image, stored at 8
    bits and restored, against the original, inside the tampered region (as Table 1 scores). One row per
    method (``unrestored``: the 8-bit photo itself; ``reconwave_restorer``) with the mean PSNR (capped at 100
    dB) and its bootstrap interval, the median, the 5th percentile, mean SSIM, and ``left_unchanged``: the
    share of photos the restorer returned as they came in (decided clean)."""
    from ...stats import bootstrap_ci

    profile = _profiles.get(profile)
    names = {"restore-none": "unrestored", restorer: "reconwave_restorer"}
    scores = {names[r]: restoration_per_image(cached_restoration_scores(profile, r, [("clean", None)])) for r in names}
    rows = []
    for method, s in scores.items():
        p = s["psnr_tampered"].to_numpy(dtype=float)
        ci = bootstrap_ci(p, n_resamples=profile.n_bootstrap, seed=profile.seed)
        # both frames hold the same images in the same order: an equal PSNR is a photo returned as it came in
        same = np.isclose(p, scores["unrestored"]["psnr_tampered"].to_numpy(dtype=float), rtol=0, atol=1e-6)
        rows.append(dict(method=method, dataset=",".join(sorted(s["dataset"].unique())), psnr=ci.estimate,
                         ci_low=ci.low, ci_high=ci.high, psnr_median=float(np.nanmedian(p)),
                         psnr_p05=float(np.nanpercentile(p, 5)), ssim=float(np.nanmean(s["ssim_tampered"])),
                         left_unchanged=float(np.mean(same)), n_images=int(np.isfinite(p).sum())))
    return pd.DataFrame(rows)


def _disturbance_predictions(profile, restorer: str = "restorer") -> pd.DataFrame:
    """One row per (image, grid level): the true and the decided class and the strength error (cached)."""
    import torch

    from ...data import TamperDataset
    from ...inference import decided_disturbance

    profile = _profiles.get(profile)
    _, _, evals = datasets_for(profile)
    path, rid = model_ref(profile, restorer)
    grid = evaluation_grid(profile)

    def compute():
        model = load_model(path)
        rows = []
        for name, df in evals.items():
            ds = TamperDataset(df, size=profile.size, policy="resize")
            dl = torch.utils.data.DataLoader(ds, batch_size=profile.eval_batch_size, shuffle=False)
            for x, _ in dl:
                x = P.store8(x)  # the resized photo stored at 8 bits, as photos are
                for pert, lv in grid:
                    xp = P.store8(P.apply(pert, x, lv))  # and the disturbed one
                    label = P.disturbance_label(pert, lv)
                    with torch.no_grad():
                        out = model(xp)
                    pred = decided_disturbance(out["disturbance_logits"], model).tolist()
                    est = out.get("strength_per_class")
                    est = (est[:, label] if est is not None else out["strength"].reshape(-1)).float().tolist()
                    truth = P.signed_strength(pert, lv)
                    rows += [dict(dataset=name, perturbation=pert, level=math.nan if lv is None else float(lv),
                                  true_class=P.DISTURBANCE_CLASSES[label], pred_class=P.DISTURBANCE_CLASSES[p],
                                  strength_error=abs(e - truth)) for p, e in zip(pred, est)]
        return pd.DataFrame(rows)

    what = {"kind": "disturbance", "res": rid, "data": [frame_fingerprint(d) for d in evals.values()], "grid": grid,
            "size": list(profile.size)}
    preds = cached_frame(profile, what, compute)
    return preds.assign(correct=preds["true_class"] == preds["pred_class"])


def disturbance_accuracy(profile, restorer: str = "restorer") -> tuple[pd.DataFrame, pd.DataFrame]:
    """How well the restorer's classifier names the disturbance (our five classes: the paper's count is not public).

    Every evaluation image, resized and stored at 8 bits, is perturbed at each level of the profile's grid
    (clean included), stored at 8 bits again and classified; the class is the one the restorer acts on (:func:`paper_repro.inference.decided_disturbance`:
    "none" below its ``clean_threshold``). Returns ``(accuracy, confusion)``: accuracy per (dataset,
    perturbation, level, true class) plus an ``all`` row per dataset, and the confusion counts (rows true
    class, columns predicted). ``strength_mae``: the mean absolute error of the strength the restorer estimates
    for the true class (``alpha`` for brightness, ``beta`` for contrast, 0 for clean photos), the estimate on
    its own, whatever the class decision.
    """
    preds = _disturbance_predictions(profile, restorer)
    acc = (preds.groupby(["dataset", "perturbation", "level", "true_class"], sort=False, dropna=False)
           .agg(accuracy=("correct", "mean"), strength_mae=("strength_error", "mean"), n_images=("correct", "size"))
           .reset_index())
    total = (preds.groupby("dataset", sort=False)
             .agg(accuracy=("correct", "mean"), strength_mae=("strength_error", "mean"), n_images=("correct", "size"))
             .reset_index())
    total["perturbation"], total["level"], total["true_class"] = "all", math.nan, "all"
    acc = pd.concat([acc, total[acc.columns]], ignore_index=True)
    conf = pd.crosstab(pd.Categorical(preds["true_class"], P.DISTURBANCE_CLASSES),
                       pd.Categorical(preds["pred_class"], P.DISTURBANCE_CLASSES), dropna=False,
                       rownames=["true"], colnames=["predicted"])
    return acc, conf


def disturbance_confusion_by_level(profile, restorer: str = "restorer") -> pd.DataFrame:
    """The confusion per level of the grid: for each condition (``clean``, ``alpha=-0.5``, ...) and its true
    class, the share of images decided as each class (rows sum to 1), over every evaluation set."""
    preds = _disturbance_predictions(profile, restorer)
    condition = [P.level_label(p, lv) for p, lv in zip(preds["perturbation"], preds["level"])]
    order = list(dict.fromkeys(condition))
    out = pd.crosstab(pd.Categorical(condition, order), pd.Categorical(preds["pred_class"], P.DISTURBANCE_CLASSES),
                      dropna=False, normalize="index", rownames=["condition"], colnames=["decided"])
    truth = dict(zip(condition, preds["true_class"]))
    out.insert(0, "true", [truth[c] for c in out.index])
    return out

_PAPER_FORGERY = {"copy-move": "copy_move", "splicing": "splice"}


def convention_table(profile, max_images: int | None = None, round8: Sequence[bool] = (True,)) -> pd.DataFrame:
    """Which brightness / contrast convention did ReConWave-Net use? For every convention of
    :data:`paper_repro.perturb.CONVENTIONS`, with and without 8-bit rounding, the unrestored PSNR / SSIM inside
    the tampered regions of the first evaluation set's tampered images (resized to the profile size, as in
    Table 1) at the four Table 1 levels, per manipulation and ``all``, beside the paper's unrestored row for
    that forgery type (``paper``; ``all`` gets the mean of the paper's three types) and ``diff`` = ours - paper.
    ``gap`` (per convention, rounding and metric) is the mean absolute ``diff`` over the levels and the forgery
    types we have (CASIA v1: copy-move, splicing); the smallest gap is the convention closest to the paper.
    ``max_images``: a seeded sample of that many tampered images (all when ``None``); ``round8``: which of
    8-bit rounding / none to tabulate (on the ``cpu`` profile's 269 images the two differed by < 0.001 dB).
    SSIM makes this slow on a CPU (about 25 ms per image, convention and level)."""
    import torch

    from ...data import TamperDataset
    from ...metrics import psnr, ssim

    profile = _profiles.get(profile)
    _, _, evals = datasets_for(profile)
    name, df = next(iter(evals.items()))
    df = df[df["label"].astype(int) == 1].reset_index(drop=True)
    if max_images and max_images < len(df):
        df = df.sample(n=int(max_images), random_state=profile.seed).reset_index(drop=True)
    grid = paper_grid()
    round8 = [bool(r) for r in round8]

    def compute():
        ds = TamperDataset(df, size=profile.size, policy="resize")
        dl = torch.utils.data.DataLoader(ds, batch_size=profile.eval_batch_size, shuffle=False)
        rows, i = [], 0
        for x, m in dl:
            manips = list(df["manipulation"].iloc[i:i + len(x)])
            i += len(x)
            masks = (m.reshape(len(x), *x.shape[-2:]) > 0.5)
            # stored at 8 bits: the resized clean photo as well as the disturbed one
            clean = {r8: P.store8(x) if r8 else x for r8 in round8}
            for conv in P.CONVENTIONS:
                for r8 in round8:
                    x0 = clean[r8]
                    for pert, lv in grid:
                        y = P.apply_convention(conv, pert, x0, lv, round8=r8)
                        for j in range(len(x)):
                            if not masks[j].any():
                                continue
                            rows.append(dict(convention=conv, round8=r8, manipulation=manips[j],
                                             perturbation=pert, level=lv,
                                             psnr=float(psnr(y[j], x0[j], mask=masks[j])),
                                             ssim=float(ssim(y[j], x0[j], mask=masks[j]))))
        return pd.DataFrame(rows)

    what = {"kind": "conventions", "data": frame_fingerprint(df), "grid": grid, "size": list(profile.size),
            "conventions": list(P.CONVENTIONS), "round8": round8, "clean8": True}
    per = cached_frame(profile, what, compute)
    per = per.assign(psnr=per["psnr"].clip(upper=100.0))
    keys = ["convention", "round8", "perturbation", "level"]
    parts = [per.groupby(keys + ["manipulation"], sort=False)[["psnr", "ssim"]].mean().reset_index(),
             per.groupby(keys, sort=False)[["psnr", "ssim"]].mean().reset_index().assign(manipulation="all")]
    tab = pd.concat(parts, ignore_index=True).melt(id_vars=keys + ["manipulation"], value_vars=["psnr", "ssim"],
                                                   var_name="metric", value_name="value")
    ref = _paper.paper_numbers("reconwave", "table1")
    ref = ref[ref["method"] == "unrestored"].assign(level=lambda r: r["level"].astype(float))
    paper_by = {(r.manipulation, r.perturbation, float(r.level), r.metric): r.value for r in ref.itertuples()}
    paper_all = ref.groupby(["perturbation", "level", "metric"])["value"].mean().to_dict()

    def paper_value(r):
        if r["manipulation"] == "all":
            return paper_all.get((r["perturbation"], float(r["level"]), r["metric"]), math.nan)
        return paper_by.get((_PAPER_FORGERY.get(r["manipulation"], r["manipulation"]), r["perturbation"],
                             float(r["level"]), r["metric"]), math.nan)

    tab["paper"] = tab.apply(paper_value, axis=1)
    tab["diff"] = tab["value"] - tab["paper"]
    typed = tab[tab["manipulation"] != "all"]
    gap = typed.groupby(["convention", "round8", "metric"], sort=False)["diff"].apply(lambda d: d.abs().mean())
    tab["gap"] = [gap.get((c, r, m), math.nan) for c, r, m in zip(tab["convention"], tab["round8"], tab["metric"])]
    tab.insert(0, "dataset", name)
    tab["n_images"] = len(df)
    return tab


def _restorer_ablation(profile, variants: dict[str, dict], table: str, extra: str) -> pd.DataFrame:
    """Restoration quality (psnr/ssim in tampered regions at the paper's levels, ``manipulation="all"``) and
    downstream F1 / IoU (the shipped ``reconwave`` detector behind each restorer, at the table's columns) of
    restorer variants trained at the table budget, with the all-tampered reference's F1 / IoU (``<extra>`` =
    ``"reference"``). Intervals and the paired difference from :data:`TABLE_RESTORER` as in every table; the
    budget columns are the restorers'."""
    profile = _profiles.get(profile)
    boot = dict(n_resamples=profile.n_bootstrap, seed=profile.seed)
    scores, sweeps, parts = [], [], []
    for key, v in variants.items():
        sc = cached_restoration_scores(profile, key, paper_grid())
        scores.append(restoration_per_image(sc))
        res = sweep_results(profile, "reconwave", key, method=key, grid=ablation_grid(profile))
        sweeps.append(res)
        rest = tidy_restoration(sc, by_manipulation=False)
        loc = tidy_sweep(res)
        loc["manipulation"] = "all"
        rest["method"], loc["method"] = key, key
        parts.append((with_budget(profile, rest, key).assign(**{extra: v[extra]}),
                      with_budget(profile, loc, key).assign(**{extra: v[extra]})))
    ref_res = sweep_results(profile, REFERENCE, None, method=REFERENCE, grid=ablation_grid(profile))
    ref = tidy_sweep(ref_res)
    ref = with_budget(profile, ref[ref["metric"] != "auc"], None).assign(manipulation="all", **{extra: "reference"})
    rest = add_intervals(pd.concat([r for r, _ in parts], ignore_index=True), pd.concat(scores, ignore_index=True),
                         reference=TABLE_RESTORER, keys=("method", "dataset", "manipulation"),
                         columns=RESTORATION_COLUMNS, **boot)
    loc = add_intervals(pd.concat([lo for _, lo in parts] + [ref], ignore_index=True),
                        pd.concat(sweeps + [ref_res], ignore_index=True), reference=TABLE_RESTORER, **boot)
    out = attach_paper(pd.concat([rest, loc], ignore_index=True), table, rename_methods={TABLE_RESTORER: "restorer"})
    return paper_order(out, [extra])


def table7_attention(profile) -> pd.DataFrame:
    """ReConWave-Net Table 7: the restorer's bottleneck attention, Swin (``restorer-table``) / ViT / deformable,
    all at the table budget: PSNR / SSIM in tampered regions and the shipped detector's downstream F1 / IoU.
    Extra column ``attention``."""
    return _restorer_ablation(profile, {TABLE_RESTORER: {"attention": "swin"}, "restorer-vit": {"attention": "vit"},
                                        "restorer-deformable": {"attention": "deformable"}}, "table7", "attention")


def table8_forensic_loss(profile) -> pd.DataFrame:
    """ReConWave-Net Table 8: the restorer trained with the forensics-oriented loss (``restorer-table``) vs plain
    L1 (``restorer-l1``), both at the table budget: PSNR / SSIM in tampered regions and downstream F1 / IoU.
    Extra column ``loss``."""
    return _restorer_ablation(profile, {TABLE_RESTORER: {"loss": "forensic"}, "restorer-l1": {"loss": "l1"}},
                              "table8", "loss")


