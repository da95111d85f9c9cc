"""Our numbers beside the published ones: the tidy columns, the ``paper`` / ``diff`` columns, and views by condition.

:func:`attach_paper` adds the paper's value and ``diff = ours - paper`` to a tidy table
(:func:`paper_repro.paper.beside`); :func:`paper_view` and :func:`paper_comparison` show those rows by
condition (``clean``, ``alpha=+0.5``, ``beta=2``, ``mean``); :func:`paper_baselines` lists the published
models' numbers that ReConWave-Net's Tables 2-3 report (never re-run here).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from .. import paper as _paper
from .. import perturb as P


TIDY_COLUMNS = ["method", "dataset", "manipulation", "perturbation", "level", "metric", "value", "n_images",
                "paper", "diff"]


def attach_paper(df: pd.DataFrame, table: str | Sequence[str], paper: str = "reconwave",
                  on: Sequence[str] = ("method", "dataset", "manipulation", "perturbation", "level", "metric"),
                  rename_methods: dict | None = None) -> pd.DataFrame:
    """Add ``paper`` / ``diff`` columns from :func:`paper.beside` for one or several published tables (the
    first that has a row wins). Where a table does not name its dataset (ReConWave-Net Tables 1, 4-8), only
    the rows of our first evaluation set (CASIA v1 in the ``cpu`` / ``paper`` profiles) are matched, without
    the dataset key. ``attrs["paper_missing"]`` holds the reason when a table has no published numbers,
    ``attrs["paper_notes"]`` the paper's values flagged in :data:`paper.SUSPECT_VALUES`."""
    df = df.reset_index(drop=True).copy()
    if "manipulation" not in df.columns:
        df["manipulation"] = "all"
    keyed = df.copy()
    if rename_methods:
        keyed["method"] = keyed["method"].map(lambda m: rename_methods.get(m, m))
    keyed["manipulation"] = keyed["manipulation"].fillna("all").replace({"splicing": "splice",
                                                                         "copy-move": "copy_move"})
    ours = [d for d in dict.fromkeys(keyed["dataset"]) if d not in ("mean", "(paper)")]
    df["paper"], df["diff"] = math.nan, math.nan
    missing, notes = [], []
    for t in ([table] if isinstance(table, str) else list(table)):
        try:
            ref = _paper.paper_numbers(paper, t)
        except KeyError as err:
            missing.append(_paper.MISSING_TABLES.get(f"{paper}/{t}") or _paper.MISSING_TABLES.get(f"{paper}/table")
                           or str(err))
            continue
        keys, rows = list(on), np.ones(len(keyed), dtype=bool)
        if "dataset" in keys and set(ref["dataset"]) == {"unspecified"}:
            keys.remove("dataset")
            rows = (keyed["dataset"] == ours[0]).to_numpy() if ours else rows & False
        if not rows.any():
            continue
        b = _paper.beside(keyed[rows], t, on=keys, paper=paper)
        idx = np.flatnonzero(rows)
        empty = df.loc[idx, "paper"].isna().to_numpy()
        df.loc[idx[empty], "paper"] = b["paper"].to_numpy()[empty]
        df.loc[idx[empty], "diff"] = b["diff"].to_numpy()[empty]
        notes += [why for (tt, *_), why in _paper.SUSPECT_VALUES.items() if tt == t]
    if missing:
        df.attrs["paper_missing"] = " | ".join(missing)
    if notes:
        df.attrs["paper_notes"] = notes
    return df


def paper_order(df: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    cols = list(extra) + [c for c in TIDY_COLUMNS if c not in extra]
    for c in cols:
        if c not in df.columns:
            df[c] = math.nan if c in ("paper", "diff", "value", "level") else None
    return df[cols + [c for c in df.columns if c not in cols]].reset_index(drop=True)


def condition_label(perturbation: str, level) -> str:
    """A tidy row's condition label: ``clean`` / ``mean`` / ``typical``, ``<sweep> mean`` for a sweep's
    aggregate (level NaN), else :func:`report.level_label` (``alpha=+0.5``, ``beta=2``)."""
    if pd.isna(level):
        return perturbation if perturbation in ("clean", "mean", "typical") else f"{perturbation} mean"
    return P.level_label(perturbation, level)


def paper_view(tidy: pd.DataFrame, metric: str, index: Sequence[str] = ("method", "manipulation"),
               dataset: str | None = None) -> pd.DataFrame:
    """Ours beside the paper for one ``metric``: rows ``index``, columns (condition, ``ours`` / ``paper``) with
    conditions labelled as in :func:`paper_comparison` (``alpha=+0.5``, ``beta=2``, ``mean``). Rows of the
    paper-only methods (``dataset="(paper)"``) are kept; ``dataset`` picks ours (default: the first)."""
    t = tidy[tidy["metric"] == metric].copy()
    ours = [d for d in dict.fromkeys(t["dataset"]) if d != "(paper)"]
    dataset = dataset or (ours[0] if ours else None)
    t = t[t["dataset"].isin([dataset, "(paper)"])]
    t["condition"] = [condition_label(p, lv) for p, lv in zip(t["perturbation"], t["level"])]
    conds = list(dict.fromkeys(t["condition"]))
    idx = list(index)
    v = t.pivot_table(index=idx, columns="condition", values=["value", "paper"], aggfunc="first", sort=False,
                      dropna=False)
    v = v.rename(columns={"value": "ours"}, level=0).swaplevel(0, 1, axis=1)
    v = v.reindex(columns=pd.MultiIndex.from_product([conds, ["ours", "paper"]]))
    v.columns.names = ["condition", None]
    return v.dropna(how="all")


def paper_comparison(tidy: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of a table function's output that have a published counterpart: ``method`` (+ the table's
    own columns), ``dataset``, ``manipulation``, ``condition`` (``clean``, ``alpha=+0.5``, ``beta=2``, ``mean``,
    ``brightness mean`` ...), ``metric``, ``ours`` (with ``ci_low`` / ``ci_high`` where the table has them),
    ``paper``, ``diff`` (= ours - paper)."""
    t = tidy[tidy["paper"].notna()].copy()
    if metrics is not None:
        t = t[t["metric"].isin(list(metrics))]
    t["condition"] = [condition_label(p, lv) for p, lv in zip(t["perturbation"], t["level"])]
    shown_elsewhere = ("condition", "ci_low", "ci_high", "vs_ref", "vs_ref_low", "vs_ref_high", "steps", "params",
                       "encoder", "extra_steps")
    own = [c for c in t.columns if c not in TIDY_COLUMNS and c not in shown_elsewhere]
    ci = [c for c in ("ci_low", "ci_high") if c in t.columns]
    cols = ["method", *own, "dataset", "manipulation", "condition", "metric", "value", *ci, "paper", "diff"]
    return t[cols].rename(columns={"value": "ours"}).reset_index(drop=True)


def paper_baselines(tables: Sequence[str] = ("table2", "table3"), metric: str = "f1") -> pd.DataFrame:
    """The published models' numbers as ReConWave-Net's Tables 2 and 3 report them (never re-run here):
    rows method, columns (dataset, condition) for the clean column and each sweep's mean of five columns."""
    ref = pd.concat([_paper.paper_numbers("reconwave", t) for t in tables], ignore_index=True)
    ref = ref[(ref["metric"] == metric) & ~ref["column"].str.startswith("level ")]
    ref = ref.assign(condition=[p if p == "clean" else f"{p} mean" for p in ref["perturbation"]])
    ref = ref.drop_duplicates(["method", "dataset", "condition"])
    # the paper's own row is ReConWave-Net as the paper reports it, not a run of ours: it carries the paper's name
    ref = ref.assign(method=ref["method"].replace({"reconwave+restorer": "ReConWave-Net (the paper's)"}))
    w = ref.pivot_table(index="method", columns=["dataset", "condition"], values="value", sort=False)
    w.attrs["note"] = ("numbers reported by Yu et al. 2026 (Tables 2-3) for published models, not re-run here; "
                       f"metric {metric}")
    return w
