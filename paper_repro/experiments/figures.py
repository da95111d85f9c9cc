"""What the notebooks plot and show: example predictions, embedding separation, dataset and mask statistics.

These return arrays and frames for :mod:`paper_repro.report`'s plotting functions; figures that show dataset
pixels are for looking at, never for committing (the datasets' licences).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .. import perturb as P
from .. import profiles as _profiles
from ..models import load as load_model
from .runs import load
from .splits import NOT_BENCHMARKS, cap_rows, photos_synthetic_frame, strata_of, datasets_for
from .tables import METHODS


def examples(profile, n: int = 3, perturbation: tuple[str, float | None] = ("brightness", -0.5),
             detector: str = "reconwave", restorer: str | None = "restorer", dataset: str | None = None
             ) -> list[dict]:
    """Rows for :func:`paper_repro.report.show_examples`: for the first ``n`` tampered images of an evaluation
    set, ``image`` (clean), ``perturbed``, ``restored`` (when a restorer is given), ``mask`` (ground truth)
    and ``prediction`` (the detector's tampering probability), all as numpy arrays at the model size."""
    import torch

    from ..data import TamperDataset

    profile = _profiles.get(profile)
    _, _, evals = datasets_for(profile)
    name = dataset or next(iter(evals))
    df = evals[name]
    df = df[df["label"].astype(int) == 1].head(n)
    det = load_model(detector, profile)
    res = load_model(restorer, profile) if restorer is not None else None
    ds = TamperDataset(df, size=profile.size, policy="resize")
    rows = []
    for i in range(len(ds)):
        x, m = ds[i]
        xp = P.apply(perturbation[0], x[None], perturbation[1])
        with torch.no_grad():
            xr = res(xp)["restored"].clamp(0, 1) if res is not None else xp
            prob = torch.sigmoid(det(xr)["logits"].float())[0, 0]
        row = {"image": x.permute(1, 2, 0).numpy(), "perturbed": xp[0].permute(1, 2, 0).numpy(),
               "mask": m[0].numpy(), "prediction": prob.numpy()}
        if res is not None:
            row["restored"] = xr[0].permute(1, 2, 0).numpy()
        rows.append(row)
    return rows


def compare_examples(profile, n: int = 2, perturbation: tuple[str, float | None] = ("brightness", -0.5),
                     methods: dict[str, tuple[str, str | None]] | None = None, dataset: str | None = None
                     ) -> list[dict]:
    """Rows for :func:`report.show_examples`: ``perturbed`` image, ground-truth ``mask`` and one prediction map
    per method (keys = method names, default :data:`METHODS`) for the first ``n`` tampered images."""
    methods = METHODS if methods is None else methods
    rows = None
    for m, (d, r) in methods.items():
        ex = examples(profile, n=n, perturbation=perturbation, detector=d, restorer=r, dataset=dataset)
        if rows is None:
            rows = [{"perturbed": e["perturbed"], "mask": e["mask"]} for e in ex]
        for row, e in zip(rows, ex):
            row[m] = e["prediction"]
    return rows or []


def embedding_separation(profile, key: str = "mpc-pretrain", n_images: int = 4, n_points: int = 2000
                         ) -> tuple[list[dict], pd.DataFrame, pd.DataFrame]:
    """How a contrastive model's pixel embeddings separate tampered from authentic pixels.

    Returns ``(rows, points, stats)``: ``rows`` for :func:`report.show_examples` (``image``, ``mask``,
    ``similarity`` = cosine similarity of each pixel embedding to the image's mean authentic embedding,
    rescaled to [0, 1]); ``points`` = a 2-D PCA of up to ``n_points`` pixel embeddings from the evaluation
    images with their label (``authentic`` / ``tampered``); ``stats`` = per image the mean similarity of
    authentic and of tampered pixels and their difference (larger = better separated).
    """
    import torch
    import torch.nn.functional as F
    from sklearn.decomposition import PCA

    from ..data import TamperDataset
    from ..losses.contrastive import downsample_mask

    profile = _profiles.get(profile)
    _, _, evals = datasets_for(profile)
    df = next(iter(evals.values()))
    df = df[df["label"].astype(int) == 1].reset_index(drop=True)
    model = load(profile, key)
    ds = TamperDataset(df, size=profile.size, policy="resize")
    rows, feats, labels, stats = [], [], [], []
    for i in range(len(ds)):
        x, m = ds[i]
        with torch.no_grad():
            out = model(x[None])
        if "embeddings" not in out:
            raise ValueError(f"run {key!r} has no pixel embeddings")
        e = F.normalize(out["embeddings"].float(), dim=1)[0]  # (D, h, w)
        lab = downsample_mask(m[None], e.shape[-2:])[0].bool()  # (h, w)
        if lab.all() or not lab.any():
            continue
        ref = F.normalize(e[:, ~lab].mean(1), dim=0)
        sim = torch.einsum("dhw,d->hw", e, ref)
        stats.append({"image": Path(str(df.loc[i, "image"])).name, "sim_authentic": float(sim[~lab].mean()),
                      "sim_tampered": float(sim[lab].mean())})
        if len(rows) < n_images:
            simu = F.interpolate(sim[None, None], size=m.shape[-2:], mode="nearest")[0, 0]
            rows.append({"image": x.permute(1, 2, 0).numpy(), "mask": m[0].numpy(),
                         "similarity": ((simu + 1) / 2).numpy()})
        feats.append(e.reshape(e.shape[0], -1).t())
        labels.append(lab.reshape(-1))
    if not feats:
        raise ValueError("no evaluation image has both tampered and authentic pixels at the embedding size")
    z, y = torch.cat(feats).numpy(), torch.cat(labels).numpy()
    rng = np.random.default_rng(profile.seed)
    pick = rng.choice(len(z), size=min(n_points, len(z)), replace=False)
    pcs = PCA(n_components=2, random_state=profile.seed).fit_transform(z[pick])
    points = pd.DataFrame({"pc1": pcs[:, 0], "pc2": pcs[:, 1],
                           "label": np.where(y[pick], "tampered", "authentic")})
    st = pd.DataFrame(stats)
    st["separation"] = st["sim_authentic"] - st["sim_tampered"]
    return rows, points, st


def data_overview(profile) -> dict[str, pd.DataFrame]:
    """Manifests to look at: the profile's training / evaluation sources (``synthetic`` for smoke) and every
    real dataset found under the data root (each with ``attrs["report"]`` = what its adapter did)."""
    from ..data import available_datasets, manifest, synthetic

    profile = _profiles.get(profile)
    out: dict[str, pd.DataFrame] = {}
    if "synthetic" in profile.train_datasets:
        out["synthetic"] = manifest("synthetic", synthetic.ensure_default(size=profile.synthetic_size,
                                                                          n=profile.n_synthetic))
    root = profile.resolved_data_root()
    if root is not None:
        if "photos-synthetic" in profile.train_datasets:
            out["photos-synthetic"] = photos_synthetic_frame(profile, root)
        for name in available_datasets():
            if name not in NOT_BENCHMARKS and (root / name).exists():
                try:
                    out[name] = manifest(name, root / name)
                except Exception as err:  # noqa: BLE001 - shown, not fatal, in the data notebook
                    warnings.warn(f"{name}: manifest failed: {err}")
    return out


def dataset_stats(manifests: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Counts per dataset, label (``authentic`` / ``tampered``) and manipulation."""
    rows = []
    for name, df in manifests.items():
        for (lab, manip), g in df.assign(kind=strata_of(df)).groupby(["label", "kind"], sort=True):
            rows.append({"dataset": name, "label": "tampered" if int(lab) else "authentic", "manipulation": manip,
                         "n_images": len(g)})
    return pd.DataFrame(rows, columns=["dataset", "label", "manipulation", "n_images"])


def mask_stats(df: pd.DataFrame, max_images: int | None = 300, seed: int = 0) -> pd.DataFrame:
    """Per tampered image (a seeded sample of at most ``max_images``): height, width and the fraction of
    pixels marked tampered."""
    from ..data import read_pair

    t = df[df["label"].astype(int) == 1]
    t = cap_rows(t, max_images, seed) if max_images else t
    rows = []
    for _, r in t.iterrows():
        try:
            img, m = read_pair(r)
        except Exception as err:  # noqa: BLE001
            warnings.warn(f"{r['image']}: {err}")
            continue
        rows.append({"dataset": r.get("dataset"), "manipulation": strata_of(pd.DataFrame([r]))[0],
                     "height": img.shape[0], "width": img.shape[1], "mask_fraction": float(m.mean())})
    return pd.DataFrame(rows, columns=["dataset", "manipulation", "height", "width", "mask_fraction"])


def perturbation_examples(image, alphas: Iterable[float] = P.BRIGHTNESS_ALPHAS,
                          betas: Iterable[float] = P.CONTRAST_BETAS) -> dict[str, tuple[list[dict], list[str]]]:
    """One image (HxWx3 in [0, 1]) under every brightness and every contrast level:
    ``{"brightness": (rows, columns), "contrast": (rows, columns)}``, each a one-row input for
    :func:`report.show_examples` with the clean image first (labels from :func:`report.level_label`)."""
    import torch

    x = torch.as_tensor(np.asarray(image, dtype=np.float32))
    if x.dim() == 3 and x.shape[-1] == 3:
        x = x.permute(2, 0, 1)
    out = {}
    for name, levels in (("brightness", alphas), ("contrast", betas)):
        row = {"clean": x} | {P.level_label(name, float(v)): P.apply(name, x, float(v)) for v in levels}
        out[name] = ([row], list(row))
    return out
