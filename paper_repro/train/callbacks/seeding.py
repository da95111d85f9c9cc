"""Seeding: python / numpy / torch seeded once per fit, the loaders re-seeded per epoch from ``(seed,
epoch)``, random states saved and restored (:class:`SeedCallback`)."""
from __future__ import annotations

import random

import numpy as np
import torch
from fastai.callback.core import Callback



# ------------------------------------------------------------------------------------------- seeding
def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (CPU and every CUDA device)."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derive_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (numpy ``SeedSequence``), e.g. ``(seed, epoch, batch)``."""
    state = np.random.SeedSequence([int(p) % 2**32 for p in parts]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & (2**63 - 1)


def get_rng_state() -> dict:
    """Python, numpy and torch (CPU + CUDA) RNG states, as tensors/ints (``torch.load(weights_only=True)``-safe)."""
    py = random.getstate()
    npst = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [npst[0], torch.from_numpy(npst[1].astype(np.int64)), int(npst[2]), int(npst[3]), float(npst[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of :func:`get_rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def reseed_loader(dl, seed: int) -> None:
    """Make the next iteration of ``dl`` (torch or fastai DataLoader, possibly wrapped) depend only on ``seed``.

    torch: the loader's (and its ``RandomSampler``'s) ``generator``, attached if missing, drives both the
    shuffle and the workers' base seed. fastai: ``dl.rng`` drives the shuffle and ``fake_l.generator`` the
    workers' base seed. Wrappers exposing ``.dl`` (fastai's ``DistributedDL``) are followed.
    """
    from torch.utils.data import DataLoader as TorchDL, RandomSampler

    seen = set()
    while dl is not None and id(dl) not in seen:
        seen.add(id(dl))
        if isinstance(dl, TorchDL):
            g = dl.generator
            if g is None:
                g = torch.Generator()
                dl.generator = g
            sampler = getattr(dl, "sampler", None)
            if isinstance(sampler, RandomSampler) and sampler.generator is None:
                sampler.generator = g
            batch_sampler = getattr(dl, "batch_sampler", None)
            inner = getattr(batch_sampler, "sampler", None)
            if isinstance(inner, RandomSampler) and inner.generator is None:
                inner.generator = g
            g.manual_seed(seed)
        if hasattr(dl, "rng") and isinstance(dl.rng, random.Random):
            dl.rng = random.Random(seed)
        fake = getattr(dl, "fake_l", None)
        if fake is not None:
            fake.generator = torch.Generator().manual_seed(seed ^ 0x5EED)
        _reseed_dataset(getattr(dl, "dataset", None), seed)
        dl = getattr(dl, "dl", None)


def _reseed_dataset(ds, seed: int) -> None:
    """Datasets drawing augmentations from their own generator (e.g. ``TamperDataset``'s flips) restart it
    from ``seed`` (used in the main process; worker processes re-seed from the loader's base seed)."""
    if ds is None:
        return
    if hasattr(ds, "reseed"):
        ds.reseed(seed)


class SeedCallback(Callback):
    """Seed everything at fit start; re-seed each epoch's train / valid loader from ``(seed, epoch)``. A
    validation pass leaves the global random streams as it found them (restored in ``after_validate``), so
    the training stream, and the trained weights, do not depend on whether or how often a fit validates."""

    order = -20

    def __init__(self, seed: int = 0):
        self.seed = int(seed)

    def before_fit(self):
        seed_everything(self.seed)

    def before_train(self):
        reseed_loader(self.learn.dl, derive_seed(self.seed, self.epoch, 0))

    def before_validate(self):
        self._training_rng = get_rng_state()
        reseed_loader(self.learn.dl, derive_seed(self.seed, self.epoch, 1))

    def after_validate(self):
        state, self._training_rng = getattr(self, "_training_rng", None), None
        if state is not None:
            set_rng_state(state)

