"""Datasets: readers, manifests (one adapter per public dataset), scanning, DataLoaders.

>>> df = manifest("casia1", "/path/to/casia1")          # one row per image
>>> print("\\n".join(df.attrs["report"]))                # what the adapter did
>>> problems = scan(df)                                   # read every pair, list every problem
>>> train_df, valid_df = group_split(df, valid_pct=0.2, seed=0)  # no source photo on both sides
>>> dls = make_dataloaders(train_df, valid_df, size=(256, 256), bs=8)

The synthetic generator lives in :mod:`paper_repro.data.synthetic` (``manifest("synthetic")``).
"""
from .datasets import COLUMNS, available_datasets, manifest, scan
from .io import (
    DatasetError,
    apply_mask_fix,
    decode_columbia_edgemask,
    image_size,
    read_image,
    read_mask,
    read_pair,
)
from .loaders import POLICIES, SPLIT_RULES, TamperDataset, group_split, make_dataloaders, source_groups, split

__all__ = [
    "COLUMNS",
    "DatasetError",
    "POLICIES",
    "SPLIT_RULES",
    "TamperDataset",
    "group_split",
    "source_groups",
    "apply_mask_fix",
    "available_datasets",
    "decode_columbia_edgemask",
    "image_size",
    "make_dataloaders",
    "manifest",
    "read_image",
    "read_mask",
    "read_pair",
    "scan",
    "split",
]
