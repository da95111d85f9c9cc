"""Published numbers of the seed papers, as tidy long-format tables, and a helper to put ours beside them.

Data live in the package-data CSVs ``paper_repro/paper_numbers/{reconwave,others}.csv`` (one row per
published number; columns :data:`COLUMNS`, ``others.csv`` adds a leading ``paper`` column). Nothing is
interpolated.

ReConWave-Net: Yu X., Shan W., Qiu J., Lin Y., Yang R., Tian M., "Image tampering localization and detection
network under brightness-contrast disturbances", J. Computer Applications 2026, 46(6): 1893-1903,
doi:10.11772/j.issn.1001-9081.2025050655. All eight of its tables (1: restoration PSNR / SSIM in tampered
regions; 2, 3: brightness / contrast sweeps on CASIA, Columbia, COVERAGE, DSO-1 with five published
baselines; 4-8: ablations) and its abstract's headline numbers are recorded, transcribed from the article's
tables (:func:`from_published_table` maps a transcription to this vocabulary). Its method text is not
public: :data:`RECONWAVE_DETAILS` lists what the abstract and tables state and what they leave open.

What the tables leave open, kept honest here:

- Tables 2 and 3 report a clean column, four perturbation levels whose values are not in the article's text
  (``column`` = ``level 1 of 4`` ... in the paper's order, ``level`` NaN: they can be shown but never
  matched to one of our levels), and a mean of those five columns (clean included), recorded as the sweep's
  aggregate (``perturbation`` ``brightness`` / ``contrast``, ``level`` NaN), which is how our tidy sweep
  tables name the same average;
- Tables 1 and 4-8 do not name their dataset (``dataset`` = ``unspecified``);
- Table 5's Symlet4 clean IoU (0.694) exceeds its F1 (0.662), which per-image means cannot give: most likely
  a typo in the paper; the published value is kept and :data:`SUSPECT_VALUES` flags it.

Vocabulary (lower-case, ``_`` for separators): ``perturbation`` in :data:`PERTURBATIONS` (``typical`` = the
abstract's unspecified "typical disturbances"); ``level`` is the additive brightness ``alpha`` or the contrast
factor ``beta`` (NaN for clean / mean / typical and for the unpublished levels); ``column`` is the paper's
column as printed; ``metric`` in :data:`METRICS`; F1/IoU/AUC on the 0-1 scale; ``dataset`` one of
:data:`DATASETS`. Method names are ours where we train the same thing (``reconwave+restorer`` = the full
system, ``reconwave-plain`` = Table 4's U-Net, ``restorer-vit`` = Table 7's ViT row, ...: :data:`METHOD_NAMES`);
the baselines of Tables 1-3 keep their own names and are reported numbers, never re-run here.
"""
from __future__ import annotations

import os
from importlib import resources
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

COLUMNS = ("table", "caption", "method", "dataset", "manipulation", "perturbation", "level", "column", "metric",
           "value", "note")
#: Documented join keys for :func:`beside`.
KEYS = ("method", "dataset", "manipulation", "perturbation", "level", "metric")
PERTURBATIONS = ("clean", "brightness", "contrast", "mean", "typical")
METRICS = ("f1", "iou", "auc", "psnr", "ssim")
DATASETS = ("casia1", "columbia", "coverage", "dso1", "nist16", "unspecified", "mean")
PAPERS = ("reconwave", "lpclnet", "ncl", "mpc")
_FILES = {"reconwave": "reconwave.csv", "others": "others.csv"}

#: Perturbation levels each ReConWave-Net table reports (Table 1's header: alpha = 0.5, -0.5 additive
#: brightness; beta = 0.7, 2.0 contrast factor; Tables 4-8: clean, alpha = 0.5, beta = 2.0).
PAPER_LEVELS: dict[str, dict[str, tuple[float, ...]]] = {
    "table1": {"brightness": (0.5, -0.5), "contrast": (0.7, 2.0)},
    **{f"table{n}": {"brightness": (0.5,), "contrast": (2.0,)} for n in range(4, 9)},
}

#: Captions (translated) of ReConWave-Net's tables.
CAPTIONS: dict[str, str] = {
    "table1": "Restoration quality (PSNR dB / SSIM in tampered regions) under brightness/contrast disturbance",
    "table2": "Localization F1 / IoU under brightness disturbance (clean, four levels, mean of the five columns)",
    "table3": "Localization F1 / IoU under contrast disturbance (clean, four levels, mean of the five columns)",
    "table4": "Ablation of the detection modules (DWFEL, contrastive learning)",
    "table5": "Ablation of the wavelet basis of DWFEL",
    "table6": "Ablation of the restoration module",
    "table7": "Ablation of the restorer's attention",
    "table8": "Ablation of the forensics-oriented loss",
}

#: The paper's row labels (as transcribed) -> our method names (ours where we train the same thing).
METHOD_NAMES: dict[str, str] = {
    "unrestored": "unrestored", "Retinexformer": "retinexformer", "MSEC-Net": "msec_net",
    "ReConWave-Net restorer": "reconwave_restorer",
    "ReConWave-Net": "reconwave+restorer", "MVSS-Net": "mvss_net", "PSCC-Net": "pscc_net", "TruFor": "trufor",
    "MGQFormer": "mgqformer", "SAFIRE": "safire",
    "U-Net": "reconwave-plain", "U-Net+DWFEL": "reconwave-dwfel", "U-Net+contrastive": "reconwave-contrastive",
    "U-Net+DWFEL+contrastive": "reconwave",
    "Haar": "reconwave", "Symlet4": "reconwave-sym4", "Biorthogonal4.4": "reconwave-bior4.4",
    "with restoration module": "reconwave+restorer", "without restoration module": "reconwave",
    "Swin Transformer attention": "restorer", "ViT attention": "restorer-vit",
    "Deformable DETR attention": "restorer-deformable",
    "with forensics-oriented loss": "restorer", "without forensics-oriented loss": "restorer-l1",
}
_DATASET_NAMES = {"CASIA": "casia1", "Columbia": "columbia", "COVERAGE": "coverage", "DSO-1": "dso1",
                  "not stated": "unspecified"}
_FORGERY_NAMES = {"copy-move": "copy_move", "splicing": "splice", "removal": "removal", "all": "all"}
_METRIC_NAMES = {"PSNR_dB": "psnr", "SSIM": "ssim", "F1": "f1", "IoU": "iou"}

#: Published values that cannot be right as printed (kept as published, flagged):
#: ``(table, method, perturbation, level or None, metric) -> why``.
SUSPECT_VALUES: dict[tuple, str] = {
    ("table5", "reconwave-sym4", "clean", None, "iou"): (
        "Table 5's Symlet4 clean IoU 0.694 is above its F1 0.662, which per-image means cannot give "
        "(IoU <= F1 per image): most likely a typo in the paper"),
}

#: ``"paper/table" -> reason`` for tables with no published numbers in this package.
MISSING_TABLES: dict[str, str] = {
    "ncl/table": "NCL (Zhou et al., ICCV 2023): no per-dataset numbers of its tables are recorded in this package "
                 "(its abstract and official repository README give none)",
    "mpc/table": "MPC (Lou et al., IEEE TIFS 2025): no per-dataset numbers of its tables are recorded in this "
                 "package (its abstract and official repository README give none)",
    "lpclnet/table": "LPCLNet full tables not found; only the abstract's headline numbers are recorded",
}
#: Tables recorded only in part: the four perturbed columns of Tables 2 and 3 have no level values.
PARTIAL_TABLES: dict[str, str] = {
    "reconwave/table2": "the four brightness levels' alpha values are not in the article's text: their columns "
                        "are shown as 'level k of 4' and cannot be matched to ours; clean and the mean of the five "
                        "columns are matched",
    "reconwave/table3": "the four contrast levels' beta values are not in the article's text: their columns are "
                        "shown as 'level k of 4' and cannot be matched to ours; clean and the mean of the five "
                        "columns are matched",
}

#: What ReConWave-Net's public abstract and tables state about its setup; ``not_stated`` lists what they leave
#: open (our choices for those are documented where they are made, and are parameters).
RECONWAVE_DETAILS: dict = {
    "doi": "10.11772/j.issn.1001-9081.2025050655",
    "venue": "Journal of Computer Applications 2026, 46(6): 1893-1903",
    "modules": ("classification-guided restoration (restores according to the predicted disturbance category)",
                "tampering localization with multi-scale wavelet features and contrastive learning"),
    "restoration_metric_region": "tampered region (abstract: 'PSNR in tampered regions')",
    "table1_levels": PAPER_LEVELS["table1"],
    "table1_methods": ("unrestored", "retinexformer", "msec_net", "reconwave_restorer"),
    "table1_manipulations": ("copy_move", "splice", "removal"),
    "tables23_datasets": ("casia1", "columbia", "coverage", "dso1"),
    "tables23_baselines": ("mvss_net", "pscc_net", "trufor", "mgqformer", "safire"),
    "ablations": {"table4": "DWFEL / contrastive learning", "table5": "wavelet basis (Haar, Symlet4, "
                  "Biorthogonal4.4)", "table6": "restoration module on / off", "table7": "restorer attention "
                  "(Swin, ViT, deformable DETR)", "table8": "forensics-oriented loss on / off"},
    "headline": {"psnr_unrestored": 10.86, "psnr_restored": 31.57, "ssim_unrestored": 0.40, "ssim_restored": 0.92,
                 "f1_typical": 0.730, "iou_typical": 0.653},
    "not_stated": ("image size", "epochs", "learning rate / optimizer", "batch size", "loss weights",
                   "contrastive temperature", "train/test datasets and splits", "Table 2/3 level values",
                   "dataset of Tables 1 and 4-8", "number of disturbance classes",
                   "brightness / contrast formulas", "architecture details of every module"),
}


def from_published_table(path: str | os.PathLike) -> pd.DataFrame:
    """A transcription of ReConWave-Net's tables (columns ``table, dataset, forgery, method, perturbation,
    level, metric, value, note``, as in ``shared/paper/reconwave_net_tables.csv``) -> rows in this module's
    vocabulary (:data:`COLUMNS`), values unchanged. Used to build ``paper_numbers/reconwave.csv`` and, in the
    tests, to check it value for value."""
    src = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = []
    for r in src.itertuples(index=False):
        table = f"table{int(r.table)}"
        pert, level, column = r.perturbation, np.nan, r.perturbation
        if pert in ("brightness", "contrast"):
            if r.level.startswith("level "):
                column = r.level  # "level k of 4": value not in the article's text
            else:
                level = float(r.level)
                column = f"{'alpha' if pert == 'brightness' else 'beta'}={r.level}"
        elif pert.startswith("mean"):
            column = r.perturbation
            if table in ("table2", "table3"):  # mean of clean + the four levels = the sweep's aggregate
                pert = "brightness" if table == "table2" else "contrast"
            else:
                pert = "mean"
        rows.append({"table": table, "caption": CAPTIONS[table], "method": METHOD_NAMES[r.method],
                     "dataset": _DATASET_NAMES[r.dataset], "manipulation": _FORGERY_NAMES[r.forgery],
                     "perturbation": pert, "level": level, "column": column, "metric": _METRIC_NAMES[r.metric],
                     "value": float(r.value), "note": r.note or ""})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _read(name: str) -> pd.DataFrame:
    path = resources.files("paper_repro").joinpath("paper_numbers", _FILES[name])
    with resources.as_file(path) as p:
        df = pd.read_csv(p, dtype={"level": float, "value": float}, keep_default_na=False, na_values={"level": [""]})
    if "column" in df.columns:
        df["column"] = df["column"].astype(str)
    return df


def paper_numbers(paper: str = "reconwave", table: str | None = None) -> pd.DataFrame:
    """Published numbers of ``paper`` (``reconwave``, ``lpclnet``, ``ncl``, ``mpc`` or ``others``), optionally one ``table``.

    Returns the long-format frame (columns :data:`COLUMNS`, plus ``paper`` for the non-ReConWave papers).
    Raises ``KeyError`` naming the reason when the table is listed in :data:`MISSING_TABLES`.
    """
    paper = str(paper).lower()
    if paper == "reconwave":
        df = _read("reconwave")
    elif paper in ("others", *PAPERS[1:]):
        df = _read("others")
        if paper != "others":
            df = df[df["paper"] == paper]
    else:
        raise ValueError(f"paper must be one of {PAPERS + ('others',)}, got {paper!r}")
    if table is not None:
        sub = df[df["table"] == table]
        if sub.empty:
            key = f"{paper}/{table}"
            reason = MISSING_TABLES.get(key) or MISSING_TABLES.get(f"{paper}/table")
            avail = sorted(df["table"].unique())
            raise KeyError(f"no published numbers for {key!r}" + (f" ({reason})" if reason else "")
                           + f"; available tables: {avail}")
        df = sub
    return df.reset_index(drop=True)


def _norm_str(s: pd.Series) -> pd.Series:
    return s.astype(str).str.strip().str.lower().str.replace(r"[\s\-]+", "_", regex=True)


def _keyed(df: pd.DataFrame, on: Sequence[str]) -> pd.DataFrame:
    out = df.copy()
    for k in on:
        if k == "level":
            lv = pd.to_numeric(out[k], errors="raise").astype(float)
            # NaN (no level) must match NaN, and 0.5 must match 0.5000000001: join on a rounded text key.
            out["_level_key"] = lv.round(6).map(lambda v: "" if np.isnan(v) else repr(float(v)))
        else:
            out[k] = _norm_str(out[k])
    return out


def beside(ours: pd.DataFrame, table: str, on: Iterable[str] = KEYS, metric: str | Sequence[str] | None = None,
           paper: str = "reconwave", value_col: str = "value", how: str = "left") -> pd.DataFrame:
    """Put our results next to the paper's ``table``: returns ``on`` columns + ``ours``, ``paper``, ``diff = ours - paper``.

    ``ours`` is long-format with the ``on`` columns (default :data:`KEYS`: method, dataset, manipulation,
    perturbation, level, metric) and a ``value_col``. String keys are compared case-insensitively with
    spaces/hyphens read as ``_`` (``"Copy-Move"`` == ``"copy_move"``); levels are compared to 6 decimals and an
    empty level matches an empty level. ``how="left"`` keeps our rows without a published counterpart
    (``paper``/``diff`` NaN); ``how="inner"`` keeps matched rows only. ``metric`` filters both sides.
    """
    on = list(on)
    if not on:
        raise ValueError("beside: `on` must name at least one join key")
    bad = [k for k in on if k not in KEYS]
    if bad:
        raise ValueError(f"beside: unknown join keys {bad}; documented keys are {list(KEYS)}")
    if not isinstance(ours, pd.DataFrame):
        raise TypeError(f"beside: `ours` must be a pandas DataFrame, got {type(ours).__name__}")
    missing = [c for c in on + [value_col] if c not in ours.columns]
    if missing:
        raise ValueError(f"beside: `ours` lacks columns {missing} (has {list(ours.columns)})")
    ref = paper_numbers(paper, table)
    if "column" in ref.columns:  # unpublished levels ("level k of 4") can match none of ours
        ref = ref[~ref["column"].str.startswith("level ")]
    mine = ours.copy()
    if metric is not None:
        wanted = {metric} if isinstance(metric, str) else set(metric)
        wanted = {m.lower() for m in wanted}
        ref = ref[ref["metric"].str.lower().isin(wanted)]
        if "metric" in mine.columns:
            mine = mine[_norm_str(mine["metric"]).isin(wanted)]
    keys = [("_level_key" if k == "level" else k) for k in on]
    ref_k = _keyed(ref, on)
    dup = ref_k.duplicated(keys, keep=False)
    if dup.any():
        raise ValueError(f"beside: join keys {on} do not identify the paper's rows uniquely in {table!r} "
                         f"({int(dup.sum())} ambiguous rows); add keys")
    mine_k = _keyed(mine, on)
    mine_k = mine_k.rename(columns={value_col: "ours"})
    ref_k = ref_k[keys + ["value"]].rename(columns={"value": "paper"})
    merged = mine_k.merge(ref_k, on=keys, how=how, validate="many_to_one")
    merged["ours"] = pd.to_numeric(merged["ours"], errors="coerce")
    merged["diff"] = merged["ours"] - merged["paper"]
    return merged[on + ["ours", "paper", "diff"]].reset_index(drop=True)


__all__ = ["COLUMNS", "KEYS", "PERTURBATIONS", "METRICS", "DATASETS", "PAPERS", "PAPER_LEVELS", "CAPTIONS",
           "METHOD_NAMES", "SUSPECT_VALUES", "MISSING_TABLES", "PARTIAL_TABLES", "RECONWAVE_DETAILS",
           "from_published_table", "paper_numbers", "beside"]
