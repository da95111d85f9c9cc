"""Reading a final checkpoint back without the training stack: :mod:`paper_repro.models.loading` holds it
(the one door to a model); the training package re-exports its two readers under their training names."""
from __future__ import annotations

from ..models.loading import NON_ARCH_KEYS, read_checkpoint
from ..models.loading import load_checkpoint as load_model

__all__ = ["NON_ARCH_KEYS", "load_model", "read_checkpoint"]
