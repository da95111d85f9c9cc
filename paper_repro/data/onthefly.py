"""Fresh tampered examples every step: real training pairs mixed with on-the-fly tamperings of the authentic
training photos.

:class:`OnTheFlyTampering` wraps a :class:`~paper_repro.data.TamperDataset` (the real pairs, e.g. CASIA v1's
training split) and appends ``n_synthetic`` items that are made when they are read: a crop of an authentic
training photo at its stored resolution (offsets on the ``grid`` of the real dataset, 8 = JPEG blocks) gets a
splice from another training photo or a copy-move within itself (:func:`paper_repro.data.synthetic.tamper`:
object-shaped regions from segmentations when given, else smooth random blobs; feathered edges, colour
matching, rotation / scaling for copy-move), then is re-saved as JPEG at a random quality and decoded again,
so the tampered region carries a second compression like a real forgery. Every epoch sees new tamperings.

Our design (the papers train on fixed synthetic sets): the photos are the authentic images of the training
split only, so no held-out source photo is ever used; randomness comes from the dataset's own generator,
restarted by ``reseed`` at each epoch like :class:`TamperDataset`'s, so a run is seeded and resumable (a resumed
epoch replays its items in order).
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from .io import read_image
from .tamper_dataset import TamperDataset

__all__ = ["OnTheFlyTampering"]


class OnTheFlyTampering(Dataset):
    """``real`` items first, then ``n_synthetic`` fresh tamperings of ``photos`` (manifest rows of authentic
    images). Items are ``(image (3, h, w), mask (1, h, w))`` at ``real.size``."""

    n_inp = 1

    def __init__(self, real: TamperDataset, photos: pd.DataFrame, n_synthetic: int, kinds=("splicing", "copy-move"),
                 jpeg_quality=(60, 95), area_frac=(0.02, 0.25), seed: int = 0):
        if not isinstance(real, TamperDataset):
            raise TypeError("real must be a TamperDataset")
        if len(photos) < 2:
            raise ValueError(f"on-the-fly tampering needs at least 2 authentic photos, got {len(photos)}")
        lo, hi = (int(q) for q in jpeg_quality)
        if not 1 <= lo <= hi <= 100:
            raise ValueError(f"jpeg_quality must be (low, high) within 1..100, got {jpeg_quality!r}")
        self.real, self.photos = real, photos.reset_index(drop=True)
        self.n_synthetic, self.kinds = int(n_synthetic), tuple(kinds)
        self.jpeg_quality, self.area_frac = (lo, hi), tuple(area_frac)
        self.size, self.grid = real.size, real.grid
        self._photo_cache: dict[int, np.ndarray] = {}
        self.reseed(seed)

    def __len__(self) -> int:
        return len(self.real) + self.n_synthetic

    def reseed(self, seed: int) -> None:
        self.real.reseed(seed)
        self._rng = np.random.default_rng([int(seed) % 2**32, 0x7A3F])

    def _photo(self, j: int) -> np.ndarray:
        if j not in self._photo_cache:  # uint8 keeps the cache at a quarter of float32
            self._photo_cache[j] = np.round(read_image(self.photos.loc[j, "image"]) * 255).astype(np.uint8)
        return self._photo_cache[j]

    def _crop(self, j: int, rng) -> np.ndarray:
        img = self._photo(j)
        th, tw = self.size
        h, w = img.shape[:2]
        if h < th or w < tw:  # pad at the bottom / right: the JPEG grid stays anchored
            img = np.pad(img, ((0, max(th - h, 0)), (0, max(tw - w, 0)), (0, 0)), mode="reflect")
            h, w = img.shape[:2]
        g = self.grid
        y = g * int(rng.integers(0, (h - th) // g + 1))
        x = g * int(rng.integers(0, (w - tw) // g + 1))
        return img[y:y + th, x:x + tw].astype(np.float64) / 255.0

    def make(self, rng) -> tuple[np.ndarray, np.ndarray, str, int]:
        """One tampering: ``(image float32 HxWx3, mask bool HxW, kind, JPEG quality)``."""
        from PIL import Image

        from .synthetic import tamper

        n = len(self.photos)
        host_j = int(rng.integers(n))
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        host = self._crop(host_j, rng)
        donor = None
        if kind == "splicing":
            donor_j = (host_j + 1 + int(rng.integers(n - 1))) % n  # any other photo
            donor = self._crop(donor_j, rng)
        out, mask, _ = tamper(host, kind, rng, donor=donor, area_frac=self.area_frac)
        q = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
        buf = io.BytesIO()
        Image.fromarray(np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)).save(buf, format="JPEG", quality=q)
        buf.seek(0)
        img = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
        return img, mask, kind, q

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        if i < len(self.real):
            return self.real[i]
        rng = self._rng
        img, mask, _, _ = self.make(rng)
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float()
        y = torch.from_numpy(np.ascontiguousarray(mask)).float()[None]
        if self.real.train and rng.random() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        return x.contiguous(), y.contiguous()
