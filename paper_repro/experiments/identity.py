"""Content hashes that key the caches: of a run's spec and of a manifest (which images, not where they lie).

``spec_hash`` names cached evaluations and identifies ``init_from`` checkpoints; ``frame_fingerprint`` identifies a
manifest by dataset, file name and label of every row, so a cache made on one machine is valid on another.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..cache import spec_hash  # noqa: F401 - the one content hash of a spec


def frame_fingerprint(df: pd.DataFrame) -> str:
    """Machine-independent identity of a manifest: dataset, file name and label of every row."""
    names = df["dataset"].astype(str) if "dataset" in df.columns else pd.Series([""] * len(df))
    return spec_hash([(d, Path(str(i)).name, int(lab)) for d, i, lab in zip(names, df["image"], df["label"])])
