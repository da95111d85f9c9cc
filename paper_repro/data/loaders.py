"""Torch dataset + fastai ``DataLoaders`` over a manifest (see :func:`paper_repro.data.manifest`).

Items are ``(image (3, H, W) float in [0, 1], mask (1, H, W) float in {0, 1})`` at a fixed ``size``,
so ``Learner(dls, model, loss_func=...)`` receives batches ``(xb, yb)`` = (images, masks), the model I/O
contract of :mod:`paper_repro.models`.

Size policies (the papers train on fixed-size inputs but do not all say how they got them, so this is a
parameter; ``"resize"`` is the common choice in the IML literature):

* ``"resize"``: bilinear (antialiased) image, nearest-neighbour mask;
* ``"random_crop"``: pad when smaller (image: reflect, mask: 0), then a random crop at the stored
  resolution (native-resolution training); ``grid=8`` puts crop offsets on the 8-pixel JPEG block grid and
  pads at the bottom / right only, so a crop keeps the file's JPEG blocks aligned with the network;
* ``"center_crop"``: same padding, centre crop (deterministic; offsets rounded down to ``grid``);
* ``"pad"``: shrink to fit only when larger (aspect kept), then pad bottom/right with zeros (letterbox).

``train=True`` adds a random horizontal flip (p = 0.5).

``cache=True`` keeps each item's decoded, sized tensors in memory after its first read (before the random
flip / crop), so later epochs skip JPEG decoding and resizing: about ``N * 3 * H * W * 4`` bytes (1,600
images at 128 x 128 take 315 MB). :func:`make_dataloaders` then loads in the main process
(``num_workers=0``), because worker processes would lose their cache at the end of each epoch.
"""
from __future__ import annotations

import random
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .io import image_size, read_pair

__all__ = ["TamperDataset", "make_dataloaders", "loader_workers", "split", "group_split", "source_groups",
           "SPLIT_RULES", "POLICIES"]

POLICIES = ("resize", "random_crop", "center_crop", "pad")


def _as_size(size) -> tuple[int, int]:
    if isinstance(size, int):
        size = (size, size)
    if len(size) != 2 or any(int(s) <= 0 for s in size):
        raise ValueError(f"size must be a positive int or (H, W), got {size!r}")
    return int(size[0]), int(size[1])


class TamperDataset(Dataset):
    """Map-style dataset over manifest rows -> ``(image (3,H,W), mask (1,H,W))`` float tensors at ``size``.

    ``original_size(i)`` gives the file's (H, W) (header read lazily, cached). Randomness (crops, flips)
    comes from a generator seeded with ``seed`` (re-seeded per DataLoader worker).
    """

    n_inp = 1

    def __init__(self, df: pd.DataFrame, size=(256, 256), policy: str = "resize", train: bool = False,
                 seed: int = 0, threshold: float = 0.5, cache: bool = False, grid: int = 1):
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        if not isinstance(df, pd.DataFrame) or "image" not in df.columns:
            raise ValueError("df must be a manifest DataFrame with an 'image' column")
        self.df = df.reset_index(drop=True)
        self.size, self.policy, self.train = _as_size(size), policy, bool(train)
        self.seed, self.threshold = int(seed), float(threshold)
        self._rng = np.random.default_rng(self.seed)
        self._worker = None
        self._sizes: dict[int, tuple[int, int]] = {}
        self.cache = bool(cache)
        self._cache: dict[int, tuple] = {}
        if int(grid) < 1:
            raise ValueError(f"grid must be >= 1, got {grid}")
        self.grid = int(grid)

    def __len__(self) -> int:
        return len(self.df)

    def original_size(self, i: int) -> tuple[int, int]:
        """(H, W) of item ``i`` as stored on disk."""
        if i not in self._sizes:
            self._sizes[i] = image_size(self.df.loc[i, "image"])
        return self._sizes[i]

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Full-size ``(image HxWx3 float32, mask HxW bool)`` of item ``i``."""
        image, mask = read_pair(self.df.iloc[i], threshold=self.threshold)
        self._sizes[i] = image.shape[:2]
        return image, mask

    def reseed(self, seed: int) -> None:
        """Restart the augmentation generator (flips, random crops) from ``seed``; training callbacks call
        this at each epoch so an interrupted run resumes with the same augmentations."""
        self._rng = np.random.default_rng([int(seed) % 2**32, 0xDA7A])
        self._worker = None

    def _generator(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        if info is not None and self._worker != info.id:
            self._worker = info.id
            self._rng = np.random.default_rng([self.seed, info.seed % (2**32)])
        return self._rng

    def _pad_to(self, img: np.ndarray, mask: np.ndarray, centred: bool):
        th, tw = self.size
        h, w = mask.shape
        ph, pw = max(th - h, 0), max(tw - w, 0)
        if ph == 0 and pw == 0:
            return img, mask
        top, left = (ph // 2, pw // 2) if centred else (0, 0)
        pads = ((top, ph - top), (left, pw - left))
        mode = "reflect" if min(h, w) > 1 else "edge"
        img = np.pad(img, pads + ((0, 0),), mode=mode)
        return img, np.pad(mask, pads, mode="constant", constant_values=False)

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        rng = self._generator()
        if self.cache and i in self._cache:
            item = self._cache[i]
        else:
            item = self._prepare(i)
            if self.cache:
                self._cache[i] = item
        th, tw = self.size
        if self.policy in ("random_crop", "center_crop"):
            img, mask = item
            h, w = mask.shape
            g = self.grid
            if self.policy == "random_crop":
                y, x = g * int(rng.integers(0, (h - th) // g + 1)), g * int(rng.integers(0, (w - tw) // g + 1))
            else:
                y, x = g * ((h - th) // 2 // g), g * ((w - tw) // 2 // g)
            x_t = torch.from_numpy(np.ascontiguousarray(img[y:y + th, x:x + tw])).permute(2, 0, 1).float()
            y_t = torch.from_numpy(np.ascontiguousarray(mask[y:y + th, x:x + tw])).float()[None]
        else:
            x_t, y_t = (item[0].clone(), item[1].clone()) if self.cache else item
        if self.train and rng.random() < 0.5:
            x_t, y_t = x_t.flip(-1), y_t.flip(-1)
        return x_t.contiguous(), y_t.contiguous()

    def _prepare(self, i: int):
        """The deterministic part of item ``i``: padded arrays (crop policies) or sized tensors (others)."""
        img, mask = self.read(i)
        th, tw = self.size
        if self.policy in ("random_crop", "center_crop"):
            return self._pad_to(img, mask, centred=self.grid == 1)
        x_t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float()
        y_t = torch.from_numpy(np.ascontiguousarray(mask)).float()[None]
        if self.policy == "resize":
            x_t, y_t = _resize(x_t, y_t, (th, tw))
        else:  # "pad"
            h, w = y_t.shape[-2:]
            if h > th or w > tw:
                s = min(th / h, tw / w)
                x_t, y_t = _resize(x_t, y_t, (max(1, min(th, round(h * s))), max(1, min(tw, round(w * s)))))
            h, w = y_t.shape[-2:]
            x_t = F.pad(x_t, (0, tw - w, 0, th - h), value=0.0)
            y_t = F.pad(y_t, (0, tw - w, 0, th - h), value=0.0)
        return x_t, y_t


def _resize(x: torch.Tensor, y: torch.Tensor, size: tuple[int, int]):
    if tuple(x.shape[-2:]) == tuple(size):
        return x, y
    x = F.interpolate(x[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
    y = F.interpolate(y[None], size=size, mode="nearest")[0]
    return x.clamp_(0.0, 1.0), y


def _strata(values: pd.Series) -> np.ndarray:
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
        strat = _strata(df[stratify])
    elif stratify is not None and not isinstance(stratify, str):
        strat = _strata(pd.Series(list(stratify)))
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


def loader_workers(num_workers: int, cache: bool) -> int:
    """Worker processes a loader really uses: none with ``cache`` (workers would drop their cache each epoch)."""
    return 0 if cache else int(num_workers)


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
        from .onthefly import OnTheFlyTampering

        if not 0 < onthefly < 1:
            raise ValueError(f"onthefly must be a fraction in (0, 1), got {onthefly}")
        if photos is None or len(photos) < 2:
            raise ValueError("on-the-fly tampering needs photos=... (at least 2 authentic training images)")
        n_synth = int(round(len(train_ds) * onthefly / (1 - onthefly)))
        train_ds = OnTheFlyTampering(train_ds, photos, n_synth, seed=seed)
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
