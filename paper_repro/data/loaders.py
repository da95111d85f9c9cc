"""fastai ``DataLoaders`` over two manifests: the training items (with on-the-fly tampering when asked) and
the validation items, batched in a seeded order. The items are those of
:class:`~paper_repro.data.tamper_dataset.TamperDataset`.
"""
from __future__ import annotations

import random

import pandas as pd

from .onthefly import OnTheFlyTampering
from .tamper_dataset import TamperDataset

__all__ = ["make_dataloaders", "loader_workers"]


def loader_workers(num_workers: int, cache: bool) -> int:
    """Worker processes a loader really uses: none with ``cache`` (workers would drop their cache each epoch)."""
    return 0 if cache else int(num_workers)


def onthefly_items(n_real: int, share: float) -> int:
    """How many on-the-fly tamperings make ``share`` of an epoch of ``n_real`` stored items (:func:`make_dataloaders`)."""
    return int(round(n_real * share / (1 - share)))


def make_dataloaders(train_df: pd.DataFrame, valid_df: pd.DataFrame, size=(256, 256), bs: int = 8,
                     policy: str = "resize", num_workers: int = 0, seed: int = 0, device=None,
                     valid_policy: str | None = None, cache: bool = False, grid: int = 1,
                     onthefly: float = 0.0, photos: pd.DataFrame | None = None):
    """fastai ``DataLoaders`` (train shuffled + drop_last, valid in order) over two manifests.

    ``valid_policy`` defaults to ``policy``, except ``"random_crop"`` -> ``"center_crop"`` for validation.
    ``device=None`` lets fastai choose (GPU when available). ``cache=True``: both datasets keep their
    sized items in memory (see :class:`TamperDataset`) and loading runs in the main process. ``grid``: crop
    offsets on this pixel grid (8 = JPEG blocks) for the crop policies. ``onthefly`` > 0: that share of each
    training epoch's items are fresh tamperings of ``photos`` (authentic training images; see
    :class:`paper_repro.data.onthefly.OnTheFlyTampering`).
    """
    from fastai.data.core import DataLoaders

    if valid_policy is None:
        valid_policy = "center_crop" if policy == "random_crop" else policy
    train_ds = TamperDataset(train_df, size=size, policy=policy, train=True, seed=seed, cache=cache, grid=grid)
    if onthefly:
        if not 0 < onthefly < 1:
            raise ValueError(f"onthefly must be a fraction in (0, 1), got {onthefly}")
        if photos is None or len(photos) < 2:
            raise ValueError("on-the-fly tampering needs photos=... (at least 2 authentic training images)")
        train_ds = OnTheFlyTampering(train_ds, photos, onthefly_items(len(train_ds), onthefly), seed=seed)
    valid_ds = TamperDataset(valid_df, size=size, policy=valid_policy, train=False, seed=seed, cache=cache, grid=grid)
    num_workers = loader_workers(num_workers, cache)
    if len(train_ds) < bs:
        raise ValueError(f"train set has {len(train_ds)} items < bs={bs}; with drop_last no batch "
                         f"would be produced: lower bs")
    if len(valid_ds) == 0:
        raise ValueError("valid set is empty")
    dls = DataLoaders.from_dsets(train_ds, valid_ds, bs=bs, num_workers=num_workers, device=device)
    dls.train.rng = random.Random(seed)
    dls.valid.rng = random.Random(seed + 1)
    return dls
