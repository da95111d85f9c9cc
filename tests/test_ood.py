"""The out-of-distribution test set and the photo-made training set: made from disjoint photos, seeded."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage as ndi

from paper_repro import profiles
from paper_repro.config import data_root
from paper_repro.data import synthetic as S
from paper_repro.experiments import splits


def _photo(path: Path, rng, shape=(72, 108)):
    a = ndi.gaussian_filter(rng.random((*shape, 3)), sigma=(3, 3, 0))
    a = (a - a.min()) / (a.max() - a.min())
    Image.fromarray(np.round(a * 255).astype(np.uint8)).save(path)


@pytest.fixture()
def photo_tree(tmp_path, monkeypatch):
    """``<root>/photos`` laid out as BSDS500 + Kodak24 (four photos per folder, same stems in each BSDS split so a
    leak by name would show), the synthetic cache in ``tmp_path``, the test set shrunk to 24 small images."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for split in ("train", "val", "test"):
        d = root / "photos" / "bsds500" / "images" / split
        d.mkdir(parents=True)
        for i in range(4):
            _photo(d / f"{100 + i}.jpg", rng)
    k = root / "photos" / "kodak24"
    k.mkdir(parents=True)
    for i in range(4):
        _photo(k / f"kodim{i + 1:02d}.png", rng)
    monkeypatch.setenv(S.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(splits, "OOD_SET", dict(splits.OOD_SET, n=24, size=(64, 96)))
    return root


def _photo_ids(df: pd.DataFrame) -> set[str]:
    return {p for s in df["source"] for p in str(s).split("|")}


def test_ood_set_shares_no_photo_with_training_data(photo_tree):
    prof = profiles.get("smoke", n_synthetic=24, synthetic_size=64)
    train = splits.photos_synthetic_frame(prof, photo_tree)
    ood = splits.photos_ood(photo_tree)
    train_ids, ood_ids = _photo_ids(train), _photo_ids(ood)
    assert train_ids and ood_ids and not train_ids & ood_ids
    assert {i.split("/")[0] for i in train_ids} <= {"train", "val"}
    assert {i.split("/")[0] for i in ood_ids} <= {"test", "kodak24"}
    assert "kodak24" in {i.split("/")[0] for i in ood_ids}  # Kodak24 is used, not only BSDS500's test photos
    kinds = set(ood.loc[ood["label"] == 1, "manipulation"])
    assert kinds == {"splicing", "copy-move", "removal"} and (ood["label"] == 0).any()
    assert set(ood["dataset"]) == {"photos-ood"} and set(train["dataset"]) == {"photos-synthetic"}


def test_ood_set_is_regenerated_byte_identical(photo_tree, tmp_path):
    first = splits.photos_ood(photo_tree)
    files = {Path(p).name: Path(p).read_bytes() for p in first["image"]}
    cache = tmp_path / "cache"
    for f in cache.rglob("*"):  # delete it: the set is made again, not stored
        if f.is_file():
            f.unlink()
    again = splits.photos_ood(photo_tree)
    assert {Path(p).name: Path(p).read_bytes() for p in again["image"]} == files
    assert list(again["source"]) == list(first["source"])


def test_ood_spec_resolves_for_evaluation(photo_tree):
    prof = profiles.get("smoke", data_root=photo_tree, eval_datasets=("photos-ood",), train_datasets=("synthetic",),
                        max_eval_images=None)
    _, _, evals = splits.datasets_for(prof)
    assert list(evals) == ["photos-ood"] and len(evals["photos-ood"]) == 24


@pytest.mark.skipif(data_root() is None or not (data_root() / "photos").is_dir(),
                    reason="needs the photos under $PAPER_REPRO_DATA (BSDS500 + Kodak24)")
def test_real_photo_folders_are_disjoint():
    root = data_root() / "photos"
    train = S._resolve_photos([root / p for p in splits.TRAIN_PHOTOS], None)[0]
    ood = S._resolve_photos([root / p for p in splits.OOD_PHOTOS], None)[0]
    assert len(train) == 300 and len(ood) == 224  # BSDS500 train + val; test + Kodak24
    assert not {p.name for p in train} & {p.name for p in ood}
    assert not {p.path.resolve() for p in train} & {p.path.resolve() for p in ood}
    assert all(p.seg_path is not None for p in train)  # object-shaped regions from the human segmentations
    for p in train:  # every segmentation fits its photo, a quarter turn back where the copy stores it turned
        img = p.load()
        assert all(s.shape == img.shape[:2] for s in S.orient_segmentations(img, p.segmentations())), p.name
