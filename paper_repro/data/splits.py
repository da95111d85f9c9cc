"""Train / held-out splits of a manifest: by image (stratified), or by source photo so that nothing leaks.

CASIA v1's tampered images are made from its own authentic photos; :func:`group_split` keeps every photo
(and every image made from it) on one side. :func:`split` is the stratified split by image.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["split", "group_split", "source_groups", "SPLIT_RULES"]


def strata_of(values: pd.Series) -> np.ndarray:
    """String class keys for stratification; missing values (e.g. authentic rows' manipulation) form
    their own class instead of failing inside scikit-learn."""
    return np.array(["<missing>" if pd.isna(v) else str(v) for v in values], dtype=object)


def split(df: pd.DataFrame, valid_pct: float = 0.2, seed: int = 0,
          stratify: str | Sequence | None = "label") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deterministic train / valid split (same ``seed`` -> same split), stratified on ``stratify`` when
    that column exists and every class has at least 2 rows; rows keep their original order."""
    from sklearn.model_selection import train_test_split

    if not 0 < valid_pct < 1:
        raise ValueError(f"valid_pct must be in (0, 1), got {valid_pct}")
    if len(df) < 2:
        raise ValueError(f"cannot split {len(df)} rows")
    strat = None
    if isinstance(stratify, str) and stratify in df.columns:
        strat = strata_of(df[stratify])
    elif stratify is not None and not isinstance(stratify, str):
        strat = strata_of(pd.Series(list(stratify)))
    if strat is not None:
        counts = pd.Series(strat).value_counts()
        n_valid = int(np.ceil(valid_pct * len(df)))
        if counts.min() < 2 or n_valid < len(counts) or len(df) - n_valid < len(counts):
            strat = None
    idx = np.arange(len(df))
    tr, va = train_test_split(idx, test_size=valid_pct, random_state=seed, stratify=strat)
    train_df = df.iloc[np.sort(tr)].reset_index(drop=True)
    valid_df = df.iloc[np.sort(va)].reset_index(drop=True)
    train_df.attrs, valid_df.attrs = dict(df.attrs), dict(df.attrs)
    return train_df, valid_df


#: ``"grouped"`` (default): no source photo on both sides (:func:`group_split`); ``"random"``: by image
#: (:func:`split`), which leaks on datasets such as CASIA v1 whose tampered images reuse its authentic photos.
SPLIT_RULES = ("grouped", "random")


def source_groups(df: pd.DataFrame, column: str = "sources") -> np.ndarray:
    """One group number per row: rows are joined when they share a source photo id (``column``, ids
    ``";"``-joined), transitively (connected components, union-find). Rows without ids are their own group."""
    parent: dict[str, str] = {}

    def find(a):
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    keys = []
    values = df[column] if column in df.columns else pd.Series([None] * len(df), index=df.index)
    for pos, v in enumerate(values):
        ids = [] if v is None or (isinstance(v, float) and np.isnan(v)) else [t for t in str(v).split(";") if t]
        ids = ids or [f"\0row{pos}"]  # no ids: a group of its own
        for other in ids[1:]:
            parent[find(other)] = find(ids[0])
        keys.append(ids[0])
    roots = [find(k) for k in keys]
    numbers = {r: i for i, r in enumerate(dict.fromkeys(roots))}
    return np.array([numbers[r] for r in roots], dtype=int)


def group_split(df: pd.DataFrame, valid_pct: float = 0.2, seed: int = 0, column: str = "sources"
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deterministic train / valid split in which no source photo id (``column``, see
    :func:`source_groups`) appears on both sides. Whole groups are drawn in a seeded random order into
    the valid part until it holds at least ``valid_pct`` of the rows (a group that would overshoot by more
    than 2 % of the rows is skipped; a ``ValueError`` when the groups are too large for any such split);
    rows keep their original order.
    Rows without ids are single-row groups, so on a dataset without ids this is a random split by image."""
    if not 0 < valid_pct < 1:
        raise ValueError(f"valid_pct must be in (0, 1), got {valid_pct}")
    if len(df) < 2:
        raise ValueError(f"cannot split {len(df)} rows")
    groups = source_groups(df, column)
    sizes = np.bincount(groups)
    if len(sizes) < 2:
        raise ValueError(f"cannot split: all {len(df)} rows share source photos (one group)")
    order = np.random.default_rng(seed).permutation(len(sizes))
    target = valid_pct * len(df)
    slack = max(1.0, 0.02 * len(df))  # a group that would overshoot the target by more is skipped
    chosen, n = [], 0
    for g in order:
        if n >= target:
            break
        if n + sizes[g] > target + slack or n + sizes[g] > len(df) - 1:
            continue
        chosen.append(g)
        n += sizes[g]
    if n < 0.5 * target:
        raise ValueError(f"cannot split by source photo: the largest group of rows sharing photos holds "
                         f"{int(sizes.max())} of {len(df)} rows, so no valid part near {valid_pct:.0%} exists; "
                         f"use split_rule='random' knowing that it leaks")
    in_valid = np.isin(groups, chosen)
    train_df = df[~in_valid].reset_index(drop=True)
    valid_df = df[in_valid].reset_index(drop=True)
    train_df.attrs, valid_df.attrs = dict(df.attrs), dict(df.attrs)
    return train_df, valid_df
