"""Datasets: readers, manifests (one adapter per public dataset), scanning, DataLoaders.

>>> df = manifest("casia1", "/path/to/casia1")          # one row per image
>>> print("\\n".join(df.attrs["report"]))                # what the adapter did
>>> problems = scan(df)                                   # read every pair, list every problem
>>> train_df, valid_df = group_split(df, valid_pct=0.2, seed=0)  # no source photo on both sides
>>> dls = make_dataloaders(train_df, valid_df, size=(256, 256), bs=8)

The synthetic generator lives in :mod:`paper_repro.data.synthetic` (``manifest("synthetic")``).

Names are imported on first use (PEP 562): reading one image (``read_image``) does not import pandas' dataset
adapters or the fastai DataLoaders.
"""
from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("COLUMNS", "DATASETS", "AdapterContext", "available_datasets", "image_row", "manifest", "register_dataset", "scan"), ".datasets"),
    **dict.fromkeys(("DatasetError", "apply_mask_fix", "decode_columbia_edgemask", "image_size", "read_image",
                     "read_mask", "read_pair"), ".io"),
    **dict.fromkeys(("POLICIES", "TamperDataset"), ".tamper_dataset"),
    **dict.fromkeys(("SPLIT_RULES", "group_split", "source_groups", "split"), ".splits"),
    **dict.fromkeys(("loader_workers", "make_dataloaders"), ".loaders"),
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
