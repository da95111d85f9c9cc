"""Restorer training (ReConWave-Net's restorer, Yu et al. 2026): each clean batch disturbed on the fly
(:class:`DisturbanceCallback`), the value prior (:class:`ValuePriorCallback`) and the disturbance
classifier's own pretraining (:class:`ClassifierPretrainCallback`)."""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from fastai.callback.core import Callback
from fastai.torch_core import rank_distrib

from ...files import atomic_write
from .seeding import derive_seed


# ------------------------------------------------------------------------------------------ restorer
class DisturbanceCallback(Callback):
    """Restorer training: ``xb = disturbed(clean)``, ``yb = (mask, clean, disturbance, strength)``.

    Disturbances come from :func:`paper_repro.perturb.random_disturbance` (brightness or contrast, or
    none with ``p_clean``) with a generator seeded by ``(seed, epoch, batch)`` in training and by
    ``(seed, batch)`` in validation (the same validation set every epoch). Batches without a mask get
    an all-zero mask. ``disturbance_kwargs`` go to ``random_disturbance``.

    ``augment_only=True`` is the detector's robustness augmentation: training batches are disturbed,
    the targets stay ``(mask,)`` and validation batches stay clean.
    """

    order = 1

    def __init__(self, seed: int = 0, augment_only: bool = False, **disturbance_kwargs):
        self.seed, self.augment_only, self.kwargs = int(seed), bool(augment_only), disturbance_kwargs

    def before_batch(self):
        from ...perturb import random_disturbance

        if self.augment_only and not self.training:
            return
        clean = self.xb[0]
        mask = self.yb[0] if len(self.yb) else torch.zeros_like(clean[:, :1])
        key = (self.seed, self.epoch, self.iter, 0) if self.training else (self.seed, self.iter, 1)
        g = torch.Generator().manual_seed(derive_seed(*key))
        disturbed, labels, strength = random_disturbance(clean, generator=g, **self.kwargs)
        self.learn.xb = (disturbed,)
        if not self.augment_only:
            self.learn.yb = (mask, clean, labels, strength)


def resample_views(x: torch.Tensor, generator: torch.Generator, p: float, scale=(0.5, 1.0)) -> torch.Tensor:
    """Each image of ``x`` (B, C, H, W), with probability ``p``: shrunk by a random factor in ``scale``
    (bilinear, antialiased) and enlarged back, so its values leave the 8-bit grid as a resized photo's do."""
    out = []
    for img in x:
        if p > 0 and float(torch.rand((), generator=generator)) < p:
            s = scale[0] + (scale[1] - scale[0]) * float(torch.rand((), generator=generator))
            small = F.interpolate(img[None], scale_factor=s, mode="bilinear", antialias=True, align_corners=False)
            img = F.interpolate(small, size=img.shape[-2:], mode="bilinear", align_corners=False)[0].clamp(0.0, 1.0)
        out.append(img)
    return torch.stack(out)


class ValuePriorCallback(Callback):
    """Sets a restorer's value prior (``prior_fill=True``, :meth:`~paper_repro.models.restorer.Restorer.set_value_prior`)
    before its fit: the histogram of the 8-bit codes of up to ``n_images`` clean training photos (a seeded
    choice, read whole, so the crop generator is not touched). The restorer fills a clipped pixel with the mean
    of this histogram inside the pixel's interval. Runs at the start of a fresh fit only (a resumed fit finds
    the prior in ``last.pt``). Our design."""

    order = 97  # after CheckpointResumeCallback (95): it knows whether the fit resumes

    def __init__(self, seed: int = 0, n_images: int = 256):
        self.seed, self.n_images = int(seed), int(n_images)

    def before_fit(self):
        model = self.learn.model
        if not getattr(model, "prior_fill", False) or getattr(self.learn, "resumed_from", None):
            return
        model.set_value_prior(self.histogram(self.learn.dls.train.dataset))

    def histogram(self, dataset) -> np.ndarray:
        """Counts (256,) of the codes of the chosen photos (every channel)."""
        # the photos themselves: a wrapper that tampers them on the fly (``real``) is looked through
        source = dataset if hasattr(dataset, "read") else getattr(dataset, "real", dataset)
        read = getattr(source, "read", None)
        n = len(source)
        rng = np.random.default_rng([self.seed, 0x9A10])
        idx = rng.permutation(n)[:min(self.n_images, n)]
        counts = np.zeros(256, dtype=np.float64)
        for i in idx:
            img = read(int(i))[0] if read is not None else source[int(i)][0].permute(1, 2, 0).numpy()
            codes = np.clip(np.rint(np.asarray(img, dtype=np.float32) * 255.0), 0, 255).astype(np.int64)
            counts += np.bincount(codes.reshape(-1), minlength=256)
        return counts


class ClassifierPretrainCallback(Callback):
    """Trains the restorer's disturbance classifier on its own before the restorer's fit (classify, then restore).

    The classifier is small and its inputs cheap, so it gets many more examples than the restorer's steps
    give it: ``steps`` AdamW steps (one-cycle, peak ``lr``) on ``batch`` random training crops, each seen in
    ``views`` independent random disturbances (:func:`paper_repro.perturb.random_disturbance` with the
    restorer's ``disturbance_kwargs``); a share ``resample_p`` of the crops is first resampled
    (:func:`resample_views`), so the classifier meets photos on and off the 8-bit grid. The loss is the
    cross-entropy of the class plus ``strength_weight`` times the smooth-L1 of the true class's strength, the
    restorer loss's own terms. Runs at the start of a fresh fit only (a resumed fit finds the trained
    classifier in ``last.pt``); its randomness comes from its own generator seeded by ``seed``, so the fit that
    follows is the same with or without it. With ``freeze`` (default) the classifier is then frozen for the
    restorer's fit (:meth:`~paper_repro.models.restorer.Restorer.freeze_classifier`: no gradient, batch-norm
    statistics kept), so the restorer's batches, all on the 8-bit grid, do not pull it back from what the
    resampled views taught it. Our design; all numbers are parameters.

    ``cache_dir``: where a pretrained classifier is kept, keyed by everything its training depends on (its
    initial weights, this callback's settings, the training images and the state of their crop generator). The
    restorers of one profile (Tables 7 and 8 vary the attention and the loss, not the classifier) start from
    the same classifier and the same data, so all but the first load it instead of training it again: the same
    weights, without the minutes.
    """

    order = 96  # after CheckpointResumeCallback (95): it knows whether the fit resumes

    def __init__(self, seed: int = 0, steps: int = 2000, batch: int = 8, views: int = 2, lr: float = 2e-3,
                 resample_p: float = 0.5, strength_weight: float = 0.1, disturbance_kwargs: dict | None = None,
                 progress: bool = True, freeze: bool = True, cache_dir: str | os.PathLike | None = None):
        if steps < 0 or batch < 1 or views < 1:
            raise ValueError(f"classifier pretraining: steps >= 0, batch >= 1, views >= 1; got {steps}, {batch}, {views}")
        self.seed, self.steps, self.batch, self.views, self.lr = int(seed), int(steps), int(batch), int(views), float(lr)
        self.resample_p, self.strength_weight = float(resample_p), float(strength_weight)
        self.disturbance_kwargs, self.progress, self.freeze = dict(disturbance_kwargs or {}), bool(progress), bool(freeze)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.history: list[float] = []

    def before_fit(self):
        resumed = getattr(self.learn, "resumed_from", None)
        classifier = getattr(self.learn.model, "classifier", None)
        if classifier is None or not self.steps:
            return
        if not resumed:
            dataset = self.learn.dls.train.dataset
            path = None if self.cache_dir is None else self.cache_dir / f"{self.cache_key(classifier, dataset)}.pt"
            if path is not None and path.is_file():
                saved = torch.load(path, map_location="cpu", weights_only=True)
                classifier.load_state_dict(saved["state"])
                self.history = [float(v) for v in saved["history"]]
                if rank_distrib() == 0:
                    print(f"disturbance classifier: {self.steps} steps, loaded from {path.name}", flush=True)
            else:
                self.pretrain(classifier, dataset)
                if path is not None and rank_distrib() == 0:
                    state = {"state": classifier.state_dict(), "history": self.history}
                    atomic_write(path, lambda tmp: torch.save(state, tmp))
        if self.freeze and hasattr(self.learn.model, "freeze_classifier"):
            self.learn.model.freeze_classifier()

    def cache_key(self, classifier: torch.nn.Module, dataset) -> str:
        """A digest of what the pretraining depends on: the classifier's weights (and buffers) before it, the
        settings, the dataset's rows and size policy, and its crop generator's state."""
        h = hashlib.sha256()
        for name, t in classifier.state_dict().items():
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        settings = [self.seed, self.steps, self.batch, self.views, self.lr, self.resample_p, self.strength_weight,
                    sorted((k, repr(v)) for k, v in self.disturbance_kwargs.items())]
        h.update(repr(settings).encode())
        df = getattr(dataset, "df", None)
        if df is not None:
            h.update(pd.util.hash_pandas_object(df.astype(str), index=False).values.tobytes())
        for attr in ("size", "policy", "train", "grid", "threshold"):
            h.update(repr(getattr(dataset, attr, None)).encode())
        rng = getattr(dataset, "_rng", None)
        h.update(repr(getattr(getattr(rng, "bit_generator", None), "state", None)).encode())
        return h.hexdigest()[:20]

    def pretrain(self, classifier: torch.nn.Module, dataset) -> list[float]:
        """The training loop; returns (and keeps in ``history``) the loss of every step."""
        from fastprogress.fastprogress import progress_bar

        from ...perturb import random_disturbance

        g = torch.Generator().manual_seed(derive_seed(self.seed, 0xC1A5))
        params = [p for p in classifier.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=self.steps, pct_start=0.25)
        was_training = classifier.training
        classifier.train()
        device = next(classifier.parameters()).device
        bar = progress_bar(range(self.steps), leave=False, comment="disturbance classifier") if self.progress \
            else range(self.steps)
        t0 = time.perf_counter()
        for _ in bar:
            idx = torch.randint(len(dataset), (self.batch,), generator=g).tolist()
            x = torch.stack([dataset[i][0] for i in idx]).repeat(self.views, 1, 1, 1)
            x = resample_views(x, g, self.resample_p)
            xp, labels, strength = random_disturbance(x, generator=g, **self.disturbance_kwargs)
            logits, s_pred = classifier(xp.to(device))
            labels, strength = labels.to(device), strength.to(device).float()
            loss = F.cross_entropy(logits.float(), labels)
            if self.strength_weight:
                s = s_pred.float()
                s = s.gather(1, labels.view(-1, 1)).reshape(-1) if s.shape[1] > 1 else s.reshape(-1)
                loss = loss + self.strength_weight * F.smooth_l1_loss(s, strength, beta=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            self.history.append(float(loss.detach()))
        classifier.train(was_training)
        opt.zero_grad(set_to_none=True)
        if not self.progress and self.history and rank_distrib() == 0:
            k = min(50, len(self.history))
            print(f"disturbance classifier: {self.steps} steps, loss {np.mean(self.history[:k]):.4f} -> "
                  f"{np.mean(self.history[-k:]):.4f} ({time.perf_counter() - t0:.0f}s)", flush=True)
        return self.history


