"""Which images a profile trains and evaluates on: dataset specs resolved to manifests, and splits that cannot leak.

:func:`datasets_for` returns ``(train_df, valid_df, eval_sets)`` for a profile. Specs (``profile.train_datasets``
/ ``profile.eval_datasets``): ``synthetic`` (built in, no download), ``photos-synthetic`` (generated from
BSDS500's train and val photos under ``<data_root>/photos``), ``photos-ood`` (the out-of-distribution test set,
generated from BSDS500's test photos and Kodak24), ``<name>``, ``<name>:train`` / ``<name>:test`` (the seeded 70 / 30 split of a real
dataset under ``profile.split_rule``: ``grouped`` keeps every source photo on one side), ``*`` (every other
benchmark present under the data root).
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .. import profiles as _profiles
from .identity import spec_hash


#: Held-out fraction of a real dataset named ``<name>:train`` / ``<name>:test`` (70/30 by image; our choice,
#: the papers train on other sets and test on all of CASIA v1).
SPLIT_TEST_FRACTION = 0.3

#: Datasets that ``*`` in ``profile.eval_datasets`` never expands to (not benchmarks, or built differently).
NOT_BENCHMARKS = ("synthetic", "folder", "benco-json")


def strata_of(df: pd.DataFrame) -> list[str]:
    """Stratification key: the manipulation, ``authentic`` for label-0 rows, ``tampered`` when unknown."""
    manip = df["manipulation"] if "manipulation" in df.columns else pd.Series([None] * len(df), index=df.index)
    out = []
    for lab, m in zip(df["label"].astype(int), manip):
        if lab == 0:
            out.append("authentic")
        elif m is None or (isinstance(m, float) and math.isnan(m)) or str(m) in ("", "None", "nan"):
            out.append("tampered")
        else:
            out.append(str(m))
    return out


def _split(df: pd.DataFrame, fraction: float, seed: int, rule: str = "random") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``rule="grouped"``: no source photo on both sides (:func:`paper_repro.data.group_split`);
    ``"random"``: by image, stratified by manipulation (:func:`paper_repro.data.split`). A frame without any
    source ids (e.g. the synthetic sets, one photo per image) has nothing to group, so both rules give the
    stratified split by image there."""
    from ..data import SPLIT_RULES, group_split, split

    if rule not in SPLIT_RULES:
        raise ValueError(f"split rule must be one of {SPLIT_RULES}, got {rule!r}")
    if rule == "grouped" and "sources" in df.columns and df["sources"].notna().any():
        return group_split(df, valid_pct=fraction, seed=seed)
    return split(df, valid_pct=fraction, seed=seed, stratify=strata_of(df))


def cap_rows(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """At most ``n`` rows: a seeded, stratified sample that keeps the manifest order."""
    if n is None or len(df) <= n:
        return df.reset_index(drop=True)
    _, keep = _split(df, n / len(df), seed)
    if len(keep) > n:
        keep = keep.iloc[:n]
    return keep.reset_index(drop=True)


#: Photos under ``<data_root>/photos`` that training data are made from (BSDS500's train and val photos with
#: their human segmentations) and those kept for the out-of-distribution test set (BSDS500's test photos and
#: Kodak24): no photo is on both sides.
TRAIN_PHOTOS = ("bsds500/images/train", "bsds500/images/val")
OOD_PHOTOS = ("bsds500/images/test", "kodak24")

#: How ``photos-synthetic`` (training) varies its forgeries (:func:`paper_repro.data.synthetic.generate`): every
#: kind, boundaries feathered or not, colours matched or not, half of the photos a JPEG before the edit, rotated
#: and resized splices and copy-moves, so that no single artefact gives a region away. Our choice.
PHOTOS_SYNTHETIC = dict(kinds=("splicing", "copy-move", "removal"), authentic_fraction=0.2, blend=0.5,
                        color_match=0.5, double_jpeg=0.5, first_jpeg_quality=(60, 95), jpeg_quality=(70, 95),
                        rotation=45.0, scale=(0.6, 1.5), splice_rotation=20.0, splice_scale=(0.8, 1.25))

#: The out-of-distribution test set ``photos-ood``: the same generator and variety on photos no profile trains
#: on, with a fixed seed and size (CASIA v1's landscape 256 x 384), so it is the same set for every profile and
#: is regenerated, never stored: 300 images, a fifth authentic, the rest split evenly between splicing,
#: copy-move and removal.
OOD_SET = dict(PHOTOS_SYNTHETIC, n=300, seed=20261202, size=(256, 384))


def _photo_folders(root: Path, parts, spec: str, profile_name: str) -> list[Path]:
    folders = [root / "photos" / p for p in parts]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise FileNotFoundError(f"profile {profile_name!r} uses {spec!r} but {', '.join(missing)} does not exist "
                                f"(expected BSDS500 / Kodak24 photos there; see the README's data section)")
    return folders


def photos_synthetic_frame(profile, root: Path) -> pd.DataFrame:
    """Synthetic tampering made from BSDS500's train and val photos (:data:`TRAIN_PHOTOS`, object-shaped regions
    from their human segmentations; :data:`PHOTOS_SYNTHETIC`), generated once into the cache
    (:func:`paper_repro.data.synthetic.default_cache_dir`, outside the repository)."""
    from ..data import manifest, synthetic

    folders = _photo_folders(root, TRAIN_PHOTOS, "photos-synthetic", profile.name)
    s = int(profile.synthetic_size)
    out = synthetic.default_cache_dir() / f"photos-synthetic-n{profile.n_synthetic}-{s}x{s}-seed{profile.seed}"
    synthetic.generate(out, n=profile.n_synthetic, seed=profile.seed, photos=folders, size=(s, s), progress=True,
                       overwrite=True, **PHOTOS_SYNTHETIC)
    df = manifest("synthetic", out)
    df["dataset"] = "photos-synthetic"
    return df


def photos_ood(root: Path, profile_name: str = "any") -> pd.DataFrame:
    """The out-of-distribution test set (:data:`OOD_SET`) from BSDS500's test photos and Kodak24
    (:data:`OOD_PHOTOS`), generated deterministically into the cache on first use; ``dataset`` is
    ``photos-ood``, ``source`` names the photos each image was made from."""
    from ..data import manifest, synthetic

    folders = _photo_folders(Path(root), OOD_PHOTOS, "photos-ood", profile_name)
    out = synthetic.default_cache_dir() / f"photos-ood-seed{OOD_SET['seed']}"
    synthetic.generate(out, photos=folders, progress=True, overwrite=True, **OOD_SET)
    df = manifest("synthetic", out)
    df["dataset"] = "photos-ood"
    return df


def _real(name: str, root: Path) -> pd.DataFrame:
    from ..data import manifest

    return manifest(name, root / name)

_DATA_CACHE: dict[str, tuple] = {}


def _resolve_spec(spec: str, profile, root: Path | None, manifests: dict) -> list[tuple[str, pd.DataFrame]]:
    """One dataset spec -> ``[(name, df)]``. Specs: ``synthetic``, ``photos-synthetic``, ``<name>``,
    ``<name>:train`` / ``<name>:test`` (70/30, seeded; ``profile.split_rule``: grouped by source photo, or
    by image stratified by manipulation), ``*``."""
    from ..data import available_datasets, synthetic

    if spec == "synthetic":
        from ..data import manifest

        df = manifest("synthetic", synthetic.ensure_default(size=profile.synthetic_size, n=profile.n_synthetic))
        return [("synthetic", df)]
    if root is None:
        raise FileNotFoundError(f"profile {profile.name!r} needs real data for {spec!r}: pass data_root=... or set "
                                f"$PAPER_REPRO_DATA (the smoke profile needs none)")
    if spec == "photos-synthetic":
        return [("photos-synthetic", photos_synthetic_frame(profile, root))]
    if spec == "photos-ood":
        return [("photos-ood", photos_ood(root, profile.name))]
    if spec == "*":
        return [(n, manifests.setdefault(n, _real(n, root))) for n in available_datasets()
                if n not in NOT_BENCHMARKS and (root / n).exists()]
    name, _, part = spec.partition(":")
    if name not in available_datasets():
        raise KeyError(f"dataset spec {spec!r}: unknown dataset {name!r}; known: {', '.join(available_datasets())}")
    if not (root / name).exists():
        raise FileNotFoundError(f"dataset spec {spec!r}: {root / name} does not exist")
    df = manifests.setdefault(name, _real(name, root))
    if not part:
        return [(name, df)]
    if part not in ("train", "test"):
        raise ValueError(f"dataset spec {spec!r}: the part after ':' must be 'train' or 'test'")
    train, test = _split(df, SPLIT_TEST_FRACTION, profile.seed, profile.split_rule)
    return [(name, train if part == "train" else test)]


def datasets_for(profile) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    """``(train_df, valid_df, eval_sets)`` of a profile (deterministic: same profile -> same rows).

    - ``smoke``: the built-in synthetic set (``synthetic.ensure_default(size, n)``), split by
      ``profile.valid_fraction`` (seeded, stratified by manipulation); the held-out part is both the
      validation set and the only evaluation set (``{"synthetic": valid_df}``).
    - ``cpu`` / ``paper``: the training pool is the concatenation of ``profile.train_datasets``
      (``photos-synthetic``: generated once from ``<data_root>/photos`` into the cache;
      ``casia1:train``: 70 % of CASIA v1 by image, seeded and stratified by manipulation), split by
      ``valid_fraction`` into train / validation; evaluation sets are ``profile.eval_datasets``
      (``casia1:test`` = the held-out 30 %, named ``casia1``; ``*`` = every other dataset present under the
      data root), each capped at ``profile.max_eval_images`` by a seeded stratified sample.
    """
    profile = _profiles.get(profile)
    root = profile.resolved_data_root()
    key = spec_hash({k: v for k, v in profile.asdict().items() if k in (
        "name", "train_datasets", "eval_datasets", "seed", "valid_fraction", "max_eval_images", "n_synthetic",
        "synthetic_size", "split_rule")} | {"root": str(root)})
    if key not in _DATA_CACHE:
        if tuple(profile.train_datasets) == ("synthetic",) and tuple(profile.eval_datasets) == ("synthetic",):
            (_, df), = _resolve_spec("synthetic", profile, root, {})
            train, valid = _split(df, profile.valid_fraction, profile.seed, profile.split_rule)
            evals = {"synthetic": cap_rows(valid, profile.max_eval_images, profile.seed)}
        else:
            manifests: dict[str, pd.DataFrame] = {}
            pool = [d for s in profile.train_datasets for _, d in _resolve_spec(s, profile, root, manifests)]
            if not pool:
                raise ValueError(f"profile {profile.name!r}: no training data from {profile.train_datasets}")
            if len(pool) == 1:
                train, valid = _split(pool[0].reset_index(drop=True), profile.valid_fraction, profile.seed,
                                      profile.split_rule)
            else:  # each dataset split on its own: a dataset's validation part does not depend on the others
                parts = [_split(d.reset_index(drop=True), profile.valid_fraction, profile.seed, profile.split_rule)
                         for d in pool]
                train = pd.concat([t for t, _ in parts], ignore_index=True)
                valid = pd.concat([v for _, v in parts], ignore_index=True)
            used = {s.partition(":")[0] for s in profile.train_datasets}
            evals = {}
            for s in profile.eval_datasets:
                for name, d in _resolve_spec(s, profile, root, manifests):
                    if s == "*" and (name in evals or name in used):
                        continue  # '*' adds only datasets not already trained or evaluated on
                    evals[name] = cap_rows(d, profile.max_eval_images, profile.seed)
            if not evals:
                raise ValueError(f"profile {profile.name!r}: no evaluation data from {profile.eval_datasets}")
        _DATA_CACHE[key] = (train, valid, evals)
    train, valid, evals = _DATA_CACHE[key]
    return train.copy(), valid.copy(), {k: v.copy() for k, v in evals.items()}
