"""Writing files so that a reader never sees half of one: :func:`atomic_write`, the package's one way to
write a result, a cache entry, a checkpoint or a status file (an interrupted run leaves the old file or
none, never a truncated one)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path`` (``<name>.<pid>.tmp``, the same folder, so the
    rename stays on one file system), then rename it onto ``path``; the temporary file is removed when
    ``write`` fails. Creates the folder. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
