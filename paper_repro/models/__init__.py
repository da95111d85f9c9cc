"""Model zoo: one registry for every detector and the restorer.

Contract (all models):

- input: a float batch ``(B, 3, H, W)`` in ``[0, 1]``; H and W multiples of 32.
- output: a ``dict``. Detectors return at least ``logits`` ``(B, 1, H, W)`` (tampered = high) and,
  where the method has them, ``embeddings`` ``(B, D, h, w)`` (L2-normalised pixel features).
  The restorer returns ``restored`` ``(B, 3, H, W)``, ``disturbance_logits`` ``(B, 5)`` and
  ``strength`` ``(B, 1)``.
- each method's training loss lives in :mod:`paper_repro.losses` and is named by
  :func:`loss_for` so training code needs no per-method branches.

Use ``create(name, **cfg)`` and ``available()``; :func:`load` is the one door from a reference (a model, a
``final.pt`` path, a model name or a run key) to a model in eval mode.
"""
from .registry import MODELS, available, create, register, stage_of  # noqa: F401
from .loading import (REFERENCE_KINDS, UnknownModelError, load, load_checkpoint, read_checkpoint,  # noqa: F401
                      resolve)

# Importing the modules registers their models.
from . import reconwave, restorer, pipeline, lpclnet, ncl, mpc, baselines  # noqa: F401,E402
