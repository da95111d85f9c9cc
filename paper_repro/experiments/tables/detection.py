"""The detection tables: ReConWave-Net Tables 2-3 (robustness sweeps), 4 (modules), 5 (wavelets), 6
(restoration on / off), the restoration-or-augmentation study, the seed noise, the shipped detector and the
lever table."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ... import paper as _paper
from ... import profiles as _profiles
from ..identity import frame_fingerprint
from ..runs import SEED_RUNS, model_ref
from ..splits import datasets_for, photos_ood
from ..sweeps import cached_frame, evaluation_key, evaluation_settings, ablation_grid, sweep_results, tidy_sweep
from .common import REFERENCE, TABLE_DETECTOR, TABLE_RESTORER, with_budget, sweep_table


def tables23_sweeps(profile, restore: bool = True, detector: str = "reconwave", restorer: str = "restorer",
                    reference: bool = True) -> pd.DataFrame:
    """ReConWave-Net Tables 2 (brightness) and 3 (contrast): F1 / IoU of the shipped detector per evaluation set
    over the profile's alpha and beta grids, clean included, with per-sweep and overall averages (and a
    ``dataset="mean"`` block over datasets). ``restore=True`` puts the shipped restorer in front
    (``method`` = ``reconwave+restorer``), ``False`` feeds the perturbed image straight to the detector.
    Extra column ``restoration``. ``reference`` appends the all-tampered rows (pass ``False`` to one of two
    calls whose tables are concatenated, so they appear once)."""
    v = {"detector": detector, "restorer": restorer if restore else None, "restoration": bool(restore)}
    name = f"{detector}+{restorer}" if restore else detector
    out = sweep_table(profile, {name: v}, ("table2", "table3"), ["restoration"], reference=reference)
    out.attrs["paper_partial"] = (_paper.PARTIAL_TABLES["reconwave/table2"] + " | "
                                  + _paper.PARTIAL_TABLES["reconwave/table3"])
    return out



def table4_modules(profile, restore: bool = True) -> pd.DataFrame:
    """ReConWave-Net Table 4: the detector with DWFEL and the pixel-contrastive head on/off (4 rows:
    U-Net baseline, + DWFEL, + contrastive, both = ReConWave-Net), all trained at the table budget on the same
    split, evaluated at the table's columns (clean, alpha = 0.5, beta = 2.0); ``restore=True`` (default, our
    choice: the full system) puts the shipped restorer in front of every variant. Extra columns ``dwfel``,
    ``contrastive``; ``vs_ref`` is each row minus the full model (``reconwave-table``)."""
    rs = "restorer" if restore else None
    variants = {
        "reconwave-plain": dict(detector="reconwave-plain", restorer=rs, dwfel=False, contrastive=False),
        "reconwave-dwfel": dict(detector="reconwave-dwfel", restorer=rs, dwfel=True, contrastive=False),
        "reconwave-contrastive": dict(detector="reconwave-contrastive", restorer=rs, dwfel=False, contrastive=True),
        TABLE_DETECTOR: dict(detector=TABLE_DETECTOR, restorer=rs, dwfel=True, contrastive=True),
    }
    return sweep_table(profile, variants, "table4", ["dwfel", "contrastive"], grid=ablation_grid(profile),
                        reference_row=TABLE_DETECTOR, rename={TABLE_DETECTOR: "reconwave"})


def table5_wavelets(profile, restore: bool = True) -> pd.DataFrame:
    """ReConWave-Net Table 5: DWFEL's wavelet basis, Haar (= ``reconwave-table``, Table 4's full model) /
    Symlet4 / Biorthogonal4.4, all at the table budget, F1 / IoU at the table's columns (shipped restorer in
    front when ``restore``). Extra column ``wavelet``; ``vs_ref`` is each row minus Haar."""
    rs = "restorer" if restore else None
    variants = {TABLE_DETECTOR: dict(detector=TABLE_DETECTOR, restorer=rs, wavelet="haar"),
                "reconwave-sym4": dict(detector="reconwave-sym4", restorer=rs, wavelet="sym4"),
                "reconwave-bior4.4": dict(detector="reconwave-bior4.4", restorer=rs, wavelet="bior4.4")}
    return sweep_table(profile, variants, "table5", ["wavelet"], grid=ablation_grid(profile),
                        reference_row=TABLE_DETECTOR, rename={TABLE_DETECTOR: "reconwave"})


def table6_restoration_onoff(profile) -> pd.DataFrame:
    """ReConWave-Net Table 6: the shipped detector without restoration, behind the classical moment-matching
    correction (``restore-classical``) and behind the shipped restorer; one detector, so the rows differ only
    in what stands in front of it. Extra column ``restoration`` (``none`` / ``classical`` / ``learned``);
    ``vs_ref`` is each row minus the learned restorer's."""
    variants = {"reconwave": dict(detector="reconwave", restorer=None, restoration="none"),
                "reconwave+restore-classical": dict(detector="reconwave", restorer="restore-classical",
                                                    restoration="classical"),
                "reconwave+restorer": dict(detector="reconwave", restorer="restorer", restoration="learned")}
    return sweep_table(profile, variants, "table6", ["restoration"], grid=ablation_grid(profile),
                        reference_row="reconwave+restorer")


def restoration_vs_augmentation(profile) -> pd.DataFrame:
    """Restoration against augmentation (Table 6 extended; no paper has this table): ReConWave-Net's detector
    trained without (``reconwave-table``) and with (``reconwave-table-augmented``) brightness / contrast
    disturbance of its training images (the restorer's training distribution), each evaluated without and
    with the restorer (``restorer-table``, the same budget) in front, at the ablation tables' columns (clean,
    alpha = +0.5, beta = 2.0). Extra columns ``augmentation``, ``restoration``; ``vs_ref`` is each row minus
    restoration alone (unaugmented detector behind the restorer)."""
    grid = ablation_grid(profile)
    variants = {
        TABLE_DETECTOR: dict(detector=TABLE_DETECTOR, restorer=None, augmentation=False, restoration=False),
        f"{TABLE_DETECTOR}+{TABLE_RESTORER}": dict(detector=TABLE_DETECTOR, restorer=TABLE_RESTORER,
                                                   augmentation=False, restoration=True),
        "reconwave-table-augmented": dict(detector="reconwave-table-augmented", restorer=None, augmentation=True,
                                          restoration=False),
        f"reconwave-table-augmented+{TABLE_RESTORER}": dict(detector="reconwave-table-augmented",
                                                            restorer=TABLE_RESTORER, augmentation=True,
                                                            restoration=True),
    }
    out = sweep_table(profile, variants, "table6", ["augmentation", "restoration"], grid=grid,
                       reference_row=f"{TABLE_DETECTOR}+{TABLE_RESTORER}")
    out["paper"], out["diff"] = math.nan, math.nan  # the paper trains one detector: no published counterpart
    out.attrs["paper_missing"] = "no published table: the paper does not compare restoration with augmentation"
    return out


def seed_noise(profile, restore: bool = True) -> pd.DataFrame:
    """Training noise at the table budget: the reference configuration (``reconwave-table``) trained with each
    seed of :data:`~paper_repro.experiments.runs.SEED_RUNS`, evaluated as in Table 4 (clean, alpha = 0.5,
    beta = 2.0; shipped restorer in front when ``restore``). One row per (dataset, condition, metric): the
    per-seed values, their ``mean`` and ``sd`` (sample standard deviation over seeds, the verdicts' noise
    floor) and ``n_seeds``."""
    profile = _profiles.get(profile)
    rs = "restorer" if restore else None
    rows = []
    for key in SEED_RUNS:
        t = tidy_sweep(sweep_results(profile, key, rs, method=key, grid=ablation_grid(profile)))
        rows.append(t.assign(seed_run=key))
    t = pd.concat(rows, ignore_index=True)
    t = t[t["level"].notna() | (t["perturbation"] == "clean")]
    t = t.assign(level=t["level"].fillna(-999.0))
    w = t.pivot_table(index=["dataset", "perturbation", "level", "metric"], columns="seed_run", values="value",
                      aggfunc="first", sort=False).reset_index()
    w["level"] = w["level"].replace(-999.0, np.nan)
    w.columns.name = None
    vals = w[[k for k in SEED_RUNS if k in w.columns]]
    w["mean"], w["sd"], w["n_seeds"] = vals.mean(axis=1), vals.std(axis=1, ddof=1), vals.notna().sum(axis=1)
    return w



def shipped_detector(profile, detector: str = "reconwave", tta: Sequence[str] = ("none", "flips")) -> pd.DataFrame:
    """The detector ``predict`` ships, on every tampered image of the held-out split (the whole split, not the
    comparison tables' sample) and, where the photos are present, on the out-of-distribution set ``photos-ood``
    (BSDS500's test photos and Kodak24, which nothing trains on): clean images, one pass (``tta="none"``) and
    with flip averaging (``"flips"``, ``predict``'s default), whole images at their own size.

    One row per (dataset, manipulation, tta); ``manipulation="all"`` pools the kinds. ``f1`` / ``iou`` / ``auc``
    are means over images with 95 % bootstrap intervals (``*_low`` / ``*_high``; ``profile.n_bootstrap``
    resamples, seeded); ``all_tampered_f1`` is the trivial mask's F1 on the same images and ``margin`` the
    detector's F1 minus it, with its paired interval (the same resampled images for both). Per-image scores
    are cached with the sweeps'."""
    from ... import stats
    from ...evaluate import evaluate

    profile = _profiles.get(profile)
    _, _, evals = datasets_for(profile.replace(max_eval_images=None))
    name, held = next(iter(evals.items()))
    sets = {name: held}
    root = profile.resolved_data_root()
    if name != "synthetic" and root is not None and (Path(root) / "photos").is_dir():
        sets["photos-ood"] = photos_ood(root, profile.name)
    det_path, det_id = model_ref(profile, detector)
    rows = []
    for dname, df in sets.items():
        df = df[df["label"].astype(int) == 1].reset_index(drop=True)
        ref = evaluate(REFERENCE, df, size=profile.eval_size, batch_size=profile.eval_batch_size, progress=False,
                       auc=False)
        for mode in tta:
            what = {"kind": "shipped", "det": det_id, "data": frame_fingerprint(df), "tta": mode,
                    **evaluation_key(profile)}

            def compute(df=df, mode=mode):
                return evaluate(det_path, df, tta=mode, progress=True, **evaluation_settings(profile))

            res = cached_frame(profile, what, compute)
            kinds = res["manipulation"].astype(str).to_numpy()
            for kind in ["all", *dict.fromkeys(kinds)]:
                sel = np.ones(len(res), bool) if kind == "all" else kinds == kind
                row = dict(dataset=dname, manipulation=kind, tta=mode, n_images=int(sel.sum()))
                for metric in ("f1", "iou", "auc"):
                    ci = stats.bootstrap_ci(res[metric].to_numpy()[sel], n_resamples=profile.n_bootstrap,
                                            seed=profile.seed)
                    row.update({metric: ci.estimate, f"{metric}_low": ci.low, f"{metric}_high": ci.high})
                row["all_tampered_f1"] = float(ref["f1"].to_numpy()[sel].mean())
                gap = stats.paired_difference(res["f1"].to_numpy()[sel], ref["f1"].to_numpy()[sel],
                                              n_resamples=profile.n_bootstrap, seed=profile.seed)
                row.update(margin=gap.estimate, margin_low=gap.low, margin_high=gap.high)
                rows.append(row)
    return with_budget(profile, pd.DataFrame(rows), detector)


def lever_results(profile, benchmarks: Path | str | None = None) -> pd.DataFrame:
    """Which lever gives what (``benchmarks/levers.py``, committed as ``benchmarks/lever-study-<profile>.csv``):
    validation F1 / IoU / AUC of ReConWave-Net's detector per setup at equal optimiser steps, one change at a
    time from a recipe, with the all-tampered mask's F1 on the same images. ``recipe`` names the setup a row
    changes (the recipe's own row; a table without the column has one recipe, ``cpu recipe``);
    ``recipe_f1`` is the mean validation F1 of that recipe's training seeds (its row and the rows named
    ``"<recipe>, training seed N"``) and ``f1_vs_recipe`` a row's F1 minus it. Raises ``FileNotFoundError``
    naming the command when the study has not been run for this profile. ``benchmarks``: the folder of the
    committed benchmark tables (default: the source checkout's ``benchmarks/``, also under ``$PAPER_REPRO_HOME``)."""
    profile = _profiles.get(profile)
    folder = Path(benchmarks) if benchmarks else (_profiles.source_root() or _profiles.project_root()) / "benchmarks"
    path = folder / f"lever-study-{profile.name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `python benchmarks/levers.py --profile {profile.name} "
                                f"--data-root <data>` to measure the levers")
    t = pd.read_csv(path)
    missing = {"setup", "steps", "valid_f1", "valid_iou", "valid_auc", "all_tampered_f1"} - set(t.columns)
    if missing:
        raise ValueError(f"{path}: not a lever table (missing columns {sorted(missing)})")
    if "recipe" not in t.columns:
        t["recipe"] = "cpu recipe"
    t["recipe"] = t["recipe"].fillna("cpu recipe")

    def seeds_mean(recipe: str) -> float:
        seeds = t[(t["setup"] == recipe) | t["setup"].str.startswith(recipe + ", training seed ")]
        return float(seeds["valid_f1"].mean()) if len(seeds) else float("nan")

    t["recipe_f1"] = t["recipe"].map({r: seeds_mean(r) for r in t["recipe"].unique()})
    t["f1_vs_recipe"] = t["valid_f1"] - t["recipe_f1"]
    return t


def lever_noise(levers: pd.DataFrame) -> pd.DataFrame:
    """What the lever table is read against, per recipe of :func:`lever_results`: its training seeds (count,
    mean and standard deviation of their validation F1), the range of its setups' training times (minutes), and
    the setups whose ``f1_vs_recipe`` exceeds twice that standard deviation either way (``beyond_noise``)."""
    rows = []
    for recipe, g in levers.groupby("recipe", sort=False):
        seeds = g[(g["setup"] == recipe) | g["setup"].str.startswith(recipe + ", training seed ")]
        sd = float(seeds["valid_f1"].std(ddof=1)) if len(seeds) > 1 else float("nan")
        others = g[~g.index.isin(seeds.index)]
        beyond = others[others["f1_vs_recipe"].abs() > 2 * sd] if sd == sd else others.iloc[:0]
        rows.append({"recipe": recipe, "seeds": len(seeds), "seed_mean_f1": float(seeds["valid_f1"].mean()),
                     "seed_sd": sd, "train_min_low": float(g["train_seconds"].min()) / 60,
                     "train_min_high": float(g["train_seconds"].max()) / 60,
                     "beyond_noise": "; ".join(f"{s} ({v:+.3f})" for s, v in zip(beyond["setup"], beyond["f1_vs_recipe"]))})
    return pd.DataFrame(rows)


