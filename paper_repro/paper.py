"""Published numbers of the seed papers, as tidy long-format tables, and a helper to put ours beside them.

Data live in the package-data CSVs ``paper_repro/paper_numbers/{reconwave,others}.csv`` (one row per
published number; columns :data:`COLUMNS`, ``others.csv`` adds a leading ``paper`` column). Every value was
read from a public copy of the paper (journal page / abstract); nothing is interpolated. What could not be
retrieved is listed in :data:`MISSING_TABLES` and :data:`PARTIAL_TABLES`.

ReConWave-Net: Yu X., Shan W., Qiu J., Lin Y., Yang R., Tian M., "Image tampering localization and detection
network under brightness-contrast disturbances", J. Computer Applications 2026, 46(6): 1893-1903,
doi:10.11772/j.issn.1001-9081.2025050655. What the retrieved text says about the setup is in
:data:`RECONWAVE_DETAILS`; training hyper-parameters were *not* retrievable (see ``missing`` in that dict).

Vocabulary (lower-case, ``_`` for separators): ``perturbation`` in :data:`PERTURBATIONS` (``typical`` = the
abstract's unspecified "typical disturbances"); ``level`` is the additive brightness ``alpha`` or the contrast
factor ``beta`` (empty for clean/mean/typical); ``metric`` in :data:`METRICS`; F1/IoU/AUC on the 0-1 scale;
``dataset`` one of :data:`DATASETS` (``unspecified`` where the paper's table does not say, ``mean`` for an
average over benchmarks, described in ``note``).
"""
from __future__ import annotations

from importlib import resources
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

COLUMNS = ("table", "caption", "method", "dataset", "manipulation", "perturbation", "level", "metric", "value", "note")
#: Documented join keys for :func:`beside`.
KEYS = ("method", "dataset", "manipulation", "perturbation", "level", "metric")
PERTURBATIONS = ("clean", "brightness", "contrast", "mean", "typical")
METRICS = ("f1", "iou", "auc", "psnr", "ssim")
DATASETS = ("casia1", "columbia", "coverage", "dso", "nist16", "unspecified", "mean")
PAPERS = ("reconwave", "lpclnet", "ncl", "mpc")
_FILES = {"reconwave": "reconwave.csv", "others": "others.csv"}

#: Perturbation levels each ReConWave-Net table reports (only tables actually retrieved).
#: Table 1 header: alpha = 0.5, -0.5 (additive brightness); beta = 0.7, 2.0 (contrast factor).
PAPER_LEVELS: dict[str, dict[str, tuple[float, ...]]] = {
    "table1": {"brightness": (0.5, -0.5), "contrast": (0.7, 2.0)},
}

_NOT_STORED = ("not retrievable: the only stored copy of the article page (www.joca.cn, EN/Y2026/V46/I6/1893) "
               "holds its opening only, which ends inside Table 1; searches for the table's caption/contents found "
               "no other copy")
#: ``"paper/table" -> reason`` for tables that could not be found (captions as given in the lead's brief).
MISSING_TABLES: dict[str, str] = {
    "reconwave/table2": "brightness sweep, F1/IoU on CASIA/Columbia/COVERAGE/DSO: " + _NOT_STORED,
    "reconwave/table3": "contrast sweep, F1/IoU: " + _NOT_STORED,
    "reconwave/table4": "ablation (DWFEL, contrastive learning): " + _NOT_STORED,
    "reconwave/table5": "wavelet basis (Haar/Symlet/Biorthogonal): " + _NOT_STORED,
    "reconwave/table6": "restoration-module ablation: " + _NOT_STORED,
    "reconwave/table7": "backbone (Swin/ViT/deformable): " + _NOT_STORED,
    "reconwave/table8": "forensic loss: " + _NOT_STORED,
    "ncl/table": "NCL (Zhou et al., ICCV 2023) result tables: stored copies (arXiv/abstract pages, official repo "
                 "README) show no per-dataset numbers",
    "mpc/table": "MPC (Lou et al., TIFS 2025) result tables: stored copies (arXiv HTML opening, official repo "
                 "README) show no per-dataset numbers",
    "lpclnet/table": "LPCLNet full tables not found; only the abstract's headline numbers are recorded",
}
#: Tables recorded only in part.
PARTIAL_TABLES: dict[str, str] = {
    "reconwave/table1": "copy-move block complete (4 methods x 4 levels + mean); splicing: 'unrestored' row complete, "
                        "'retinexformer' row only alpha=0.5 PSNR/SSIM and alpha=-0.5 PSNR; MSEC-Net and the paper's "
                        "restorer rows for splicing (and any further blocks) are missing",
}

#: What the retrieved text states about ReConWave-Net's setup (abstract + Table 1 header). Training details
#: were not found; they are listed under ``missing`` and must be chosen (and documented) by the training code.
RECONWAVE_DETAILS: dict = {
    "doi": "10.11772/j.issn.1001-9081.2025050655",
    "venue": "Journal of Computer Applications 2026, 46(6): 1893-1903",
    "modules": ("classification-guided restoration (restores according to the predicted disturbance category)",
                "tampering localization with multi-scale wavelet features and contrastive learning"),
    "restoration_metric_region": "tampered region (abstract: 'PSNR in tampered regions')",
    "table1_levels": PAPER_LEVELS["table1"],
    "table1_methods": ("unrestored", "retinexformer", "msec_net", "reconwave_restorer"),
    "table1_manipulations": ("copy_move", "splice"),
    "headline": {"psnr_unrestored": 10.86, "psnr_restored": 31.57, "ssim_unrestored": 0.40, "ssim_restored": 0.92,
                 "f1_typical": 0.730, "iou_typical": 0.653},
    "missing": ("image size", "epochs", "learning rate / optimizer", "batch size", "loss weights",
                "contrastive temperature", "train/test datasets and splits", "Table 2/3 level grids",
                "number of disturbance classes"),
}


def _read(name: str) -> pd.DataFrame:
    path = resources.files("paper_repro").joinpath("paper_numbers", _FILES[name])
    with resources.as_file(path) as p:
        df = pd.read_csv(p, dtype={"level": float, "value": float}, keep_default_na=False, na_values={"level": [""]})
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


__all__ = ["COLUMNS", "KEYS", "PERTURBATIONS", "METRICS", "DATASETS", "PAPERS", "PAPER_LEVELS", "MISSING_TABLES",
           "PARTIAL_TABLES", "RECONWAVE_DETAILS", "paper_numbers", "beside"]
