"""Where real data lives, and small shared settings.

The real-data root is never hard-coded: it comes from an explicit argument, else the environment
variable ``PAPER_REPRO_DATA``; ``.ci/run`` sets it to ``../shared/data`` when that folder exists.
"""
from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "PAPER_REPRO_DATA"


def data_root(root: str | os.PathLike | None = None) -> Path | None:
    """Return the real-data root (argument, else ``$PAPER_REPRO_DATA``), or ``None`` when unset/missing."""
    value = root if root is not None else os.environ.get(DATA_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_dir() else None
