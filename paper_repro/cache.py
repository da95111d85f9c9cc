"""The package's caches under one rule: an entry is keyed by the hash of one JSON spec that records
everything its content depends on, every field always (no "only when not the default"), plus
:data:`SCHEMA`; :func:`get_or_compute` reads it or computes and writes it atomically.

Kinds of cache and their specs: a trained run (``checkpoints/<profile>/<run>/spec.json``,
:func:`paper_repro.experiments.runs.train_or_load`, compared field by field so a changed field retrains), an
evaluation (``checkpoints/<profile>/_evals/<kind>-<hash>.pkl``, the ``what`` of
:func:`paper_repro.experiments.sweeps.cached_frame`). Bump :data:`SCHEMA` when a cached result's meaning
changes without its spec saying so: every entry is then recomputed.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

from .files import atomic_write

#: the version of every cache spec (a change recomputes every cached entry)
SCHEMA = 2


def keyed(spec: dict) -> dict:
    """``spec`` with the schema version, as stored (JSON round trip: tuples become lists, keys sorted)."""
    return json.loads(json.dumps({**spec, "schema": SCHEMA}, sort_keys=True, default=str))


def spec_hash(obj: Any) -> str:
    """16 hex digits of the SHA-1 of ``obj`` as sorted JSON."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def entry(folder, kind: str, spec: dict, suffix: str = ".pkl") -> Path:
    """Where the entry of ``kind`` with ``spec`` lies: ``folder/<kind>-<hash of keyed(spec)><suffix>``."""
    return Path(folder) / f"{kind}-{spec_hash(keyed({'kind': kind, **spec}))}{suffix}"


def get_or_compute(path, compute: Callable[[], Any], read: Callable[[Path], Any], write: Callable[[Any, Path], Any]):
    """``read(path)`` when the entry exists and reads; else ``compute()``, written with ``write(value, tmp)``
    atomically (:func:`paper_repro.files.atomic_write`). A broken entry is removed and recomputed."""
    path = Path(path)
    if path.is_file():
        try:
            return read(path)
        except Exception:  # noqa: BLE001 - a broken cache entry is recomputed
            path.unlink()
    value = compute()
    atomic_write(path, lambda tmp: write(value, tmp))
    return value
