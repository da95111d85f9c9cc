"""The torch dataset over a manifest (see :func:`paper_repro.data.manifest`): one item per image.

Items are ``(image (3, H, W) float in [0, 1], mask (1, H, W) float in {0, 1})`` at a fixed ``size``,
so ``Learner(dls, model, loss_func=...)`` receives batches ``(xb, yb)`` = (images, masks), the model I/O
contract of :mod:`paper_repro.models`.

Size policies (the papers train on fixed-size inputs but do not all say how they got them, so this is a
parameter; ``"resize"`` is the common choice in the IML literature):

* ``"resize"``: bilinear (antialiased) image, nearest-neighbour mask;
* ``"random_crop"``: pad when smaller (image: reflect, mask: 0), then a random crop at the stored
  resolution (native-resolution training); ``grid=8`` puts crop offsets on the 8-pixel JPEG block grid and
  pads at the bottom / right only, so a crop keeps the file's JPEG blocks aligned with the network;
* ``"center_crop"``: same padding, centre crop (deterministic; offsets rounded down to ``grid``);
* ``"pad"``: shrink to fit only when larger (aspect kept), then pad bottom/right with zeros (letterbox).

``train=True`` adds a random horizontal flip (p = 0.5).

``cache=True`` keeps each item's decoded, sized tensors in memory after its first read (before the random
flip / crop), so later epochs skip JPEG decoding and resizing: about ``N * 3 * H * W * 4`` bytes (1,600
images at 128 x 128 take 315 MB). :func:`make_dataloaders` then loads in the main process
(``num_workers=0``), because worker processes would lose their cache at the end of each epoch.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .io import image_size, read_pair

__all__ = ["TamperDataset", "POLICIES"]

POLICIES = ("resize", "random_crop", "center_crop", "pad")


def _as_size(size) -> tuple[int, int]:
    if isinstance(size, int):
        size = (size, size)
    if len(size) != 2 or any(int(s) <= 0 for s in size):
        raise ValueError(f"size must be a positive int or (H, W), got {size!r}")
    return int(size[0]), int(size[1])


class TamperDataset(Dataset):
    """Map-style dataset over manifest rows -> ``(image (3,H,W), mask (1,H,W))`` float tensors at ``size``.

    ``original_size(i)`` gives the file's (H, W) (header read lazily, cached). Randomness (crops, flips)
    comes from a generator seeded with ``seed`` (re-seeded per DataLoader worker).
    """

    n_inp = 1

    def __init__(self, df: pd.DataFrame, size=(256, 256), policy: str = "resize", train: bool = False,
                 seed: int = 0, threshold: float = 0.5, cache: bool = False, grid: int = 1):
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        if not isinstance(df, pd.DataFrame) or "image" not in df.columns:
            raise ValueError("df must be a manifest DataFrame with an 'image' column")
        self.df = df.reset_index(drop=True)
        self.size, self.policy, self.train = _as_size(size), policy, bool(train)
        self.seed, self.threshold = int(seed), float(threshold)
        self._rng = np.random.default_rng(self.seed)
        self._worker = None
        self._sizes: dict[int, tuple[int, int]] = {}
        self.cache = bool(cache)
        self._cache: dict[int, tuple] = {}
        if int(grid) < 1:
            raise ValueError(f"grid must be >= 1, got {grid}")
        self.grid = int(grid)

    def __len__(self) -> int:
        return len(self.df)

    def original_size(self, i: int) -> tuple[int, int]:
        """(H, W) of item ``i`` as stored on disk."""
        if i not in self._sizes:
            self._sizes[i] = image_size(self.df.loc[i, "image"])
        return self._sizes[i]

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Full-size ``(image HxWx3 float32, mask HxW bool)`` of item ``i``."""
        image, mask = read_pair(self.df.iloc[i], threshold=self.threshold)
        self._sizes[i] = image.shape[:2]
        return image, mask

    def reseed(self, seed: int) -> None:
        """Restart the augmentation generator (flips, random crops) from ``seed``; training callbacks call
        this at each epoch so an interrupted run resumes with the same augmentations."""
        self._rng = np.random.default_rng([int(seed) % 2**32, 0xDA7A])
        self._worker = None

    def _generator(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        if info is not None and self._worker != info.id:
            self._worker = info.id
            self._rng = np.random.default_rng([self.seed, info.seed % (2**32)])
        return self._rng

    def _pad_to(self, img: np.ndarray, mask: np.ndarray, centred: bool):
        th, tw = self.size
        h, w = mask.shape
        ph, pw = max(th - h, 0), max(tw - w, 0)
        if ph == 0 and pw == 0:
            return img, mask
        top, left = (ph // 2, pw // 2) if centred else (0, 0)
        pads = ((top, ph - top), (left, pw - left))
        mode = "reflect" if min(h, w) > 1 else "edge"
        img = np.pad(img, pads + ((0, 0),), mode=mode)
        return img, np.pad(mask, pads, mode="constant", constant_values=False)

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        rng = self._generator()
        if self.cache and i in self._cache:
            item = self._cache[i]
        else:
            item = self._prepare(i)
            if self.cache:
                self._cache[i] = item
        th, tw = self.size
        if self.policy in ("random_crop", "center_crop"):
            img, mask = item
            h, w = mask.shape
            g = self.grid
            if self.policy == "random_crop":
                y, x = g * int(rng.integers(0, (h - th) // g + 1)), g * int(rng.integers(0, (w - tw) // g + 1))
            else:
                y, x = g * ((h - th) // 2 // g), g * ((w - tw) // 2 // g)
            x_t = torch.from_numpy(np.ascontiguousarray(img[y:y + th, x:x + tw])).permute(2, 0, 1).float()
            y_t = torch.from_numpy(np.ascontiguousarray(mask[y:y + th, x:x + tw])).float()[None]
        else:
            x_t, y_t = (item[0].clone(), item[1].clone()) if self.cache else item
        if self.train and rng.random() < 0.5:
            x_t, y_t = x_t.flip(-1), y_t.flip(-1)
        return x_t.contiguous(), y_t.contiguous()

    def _prepare(self, i: int):
        """The deterministic part of item ``i``: padded arrays (crop policies) or sized tensors (others)."""
        img, mask = self.read(i)
        th, tw = self.size
        if self.policy in ("random_crop", "center_crop"):
            return self._pad_to(img, mask, centred=self.grid == 1)
        x_t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float()
        y_t = torch.from_numpy(np.ascontiguousarray(mask)).float()[None]
        if self.policy == "resize":
            x_t, y_t = _resize(x_t, y_t, (th, tw))
        else:  # "pad"
            h, w = y_t.shape[-2:]
            if h > th or w > tw:
                s = min(th / h, tw / w)
                x_t, y_t = _resize(x_t, y_t, (max(1, min(th, round(h * s))), max(1, min(tw, round(w * s)))))
            h, w = y_t.shape[-2:]
            x_t = F.pad(x_t, (0, tw - w, 0, th - h), value=0.0)
            y_t = F.pad(y_t, (0, tw - w, 0, th - h), value=0.0)
        return x_t, y_t


def _resize(x: torch.Tensor, y: torch.Tensor, size: tuple[int, int]):
    if tuple(x.shape[-2:]) == tuple(size):
        return x, y
    x = F.interpolate(x[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
    y = F.interpolate(y[None], size=size, mode="nearest")[0]
    return x.clamp_(0.0, 1.0), y
