import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from scipy import ndimage as ndi

from paper_repro.config import data_root
from paper_repro.data import synthetic as S

SIZE = (64, 64)


def _read_manifest(d: Path) -> list[dict]:
    with open(d / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _mask(d: Path, row) -> np.ndarray:
    return np.asarray(Image.open(d / row["mask"]))


def _rgb(d: Path, row) -> np.ndarray:
    return np.asarray(Image.open(d / row["image"]).convert("RGB"))


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    """Four smooth random-texture 'photos' (non-square, so crop + resize are exercised)."""
    d = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(123)
    for i in range(4):
        a = ndi.gaussian_filter(rng.random((72, 90, 3)), sigma=(2 + i, 2 + i, 0))
        a = (a - a.min()) / (a.max() - a.min())
        Image.fromarray(np.round(a * 255).astype(np.uint8)).save(d / f"p{i}.png")
    return d


@pytest.fixture(scope="module")
def default_sets(tmp_path_factory):
    """The bundled scikit-image photos, n=6 at 64x64, generated twice with seed 0 and once with seed 1."""
    root = tmp_path_factory.mktemp("syn")
    kw = dict(n=6, size=SIZE, progress=False)
    return (S.generate(root / "a", seed=0, **kw), S.generate(root / "b", seed=0, **kw),
            S.generate(root / "c", seed=1, **kw))


def test_default_photos_bundled():
    photos = S.default_photos()
    assert len(photos) >= 8
    for p in photos:
        assert p.dtype == np.float32 and p.ndim == 3 and p.shape[-1] == 3
        assert 0.0 <= p.min() and p.max() <= 1.0
    small = S.default_photos(size=(32, 48))
    assert all(p.shape == (32, 48, 3) for p in small)


def test_same_seed_identical_different_seed_differs(default_sets):
    a, b, c = default_sets
    assert (a / "manifest.csv").read_bytes() == (b / "manifest.csv").read_bytes()
    rows = _read_manifest(a)
    masks_a = sorted(p.name for p in (a / "masks").iterdir())
    assert masks_a == sorted(p.name for p in (b / "masks").iterdir())
    for name in masks_a:
        assert (a / "masks" / name).read_bytes() == (b / "masks" / name).read_bytes()
    for r in rows:
        assert (a / r["image"]).read_bytes() == (b / r["image"]).read_bytes()
    rows_c = _read_manifest(c)
    differs = [r["manipulation"] != q["manipulation"] or r["source"] != q["source"]
               or (r["mask"] and q["mask"] and not np.array_equal(_mask(a, r), _mask(c, q)))
               for r, q in zip(rows, rows_c)]
    assert any(differs)
    meta = json.loads((a / "meta.json").read_text())
    assert meta["params"]["seed"] == 0 and meta["complete"] is True
    assert "scikit-image" in meta["versions"] and "numpy" in meta["versions"]


def test_manifest_contents(default_sets):
    d = default_sets[0]
    rows = _read_manifest(d)
    assert list(rows[0]) == ["image", "mask", "label", "manipulation", "source"]
    assert len(rows) == 6
    assert {r["manipulation"] for r in rows if r["label"] == "1"} == set(S.KINDS)
    assert sum(r["label"] == "0" for r in rows) == round(6 * 0.2)
    for r in rows:
        img = _rgb(d, r)
        assert img.shape == (*SIZE, 3)
        assert r["image"].endswith(".jpg")  # default: JPEG recompression
        if r["label"] == "1":
            m = _mask(d, r)
            assert m.dtype == np.uint8 and m.shape == SIZE and set(np.unique(m)) <= {0, 255}
            frac = (m > 0).mean()
            assert 0.005 < frac < 0.5, frac
            assert ("|" in r["source"]) == (r["manipulation"] == "splicing")
        else:
            assert r["mask"] == "" and r["manipulation"] == ""
            assert not (d / "masks" / (Path(r["image"]).stem + ".png")).exists()


def test_outside_mask_unchanged(photo_dir, tmp_path):
    out = S.generate(tmp_path / "s", n=12, seed=5, photos=photo_dir, size=SIZE, jpeg_quality=None,
                     blend=False, crop_scale=None, hflip=False, authentic_fraction=0.25, progress=False)
    hosts = {f"p{i}": np.round(p * 255).astype(np.uint8)
             for i, p in enumerate(S.load_photos(photo_dir, size=SIZE))}
    rows = _read_manifest(out)
    assert {r["manipulation"] for r in rows} == {"", *S.KINDS}
    for r in rows:
        assert r["image"].endswith(".png")
        img = _rgb(out, r)
        host = hosts[r["source"].split("|")[0]]
        if r["label"] == "0":
            assert np.array_equal(img, host)
            continue
        m = _mask(out, r) > 0
        assert np.array_equal(img[~m], host[~m]), r
        assert not np.array_equal(img[m], host[m]), r  # the region really was changed
    # with colour matching off, spliced pixels are the donor's pixels exactly
    out2 = S.generate(tmp_path / "s2", n=6, seed=5, photos=photo_dir, size=SIZE, jpeg_quality=None,
                      blend=False, color_match=False, crop_scale=None, hflip=False, kinds=("splicing",),
                      authentic_fraction=0.0, progress=False)
    for r in _read_manifest(out2):
        img, m = _rgb(out2, r), _mask(out2, r) > 0
        donor = hosts[r["source"].split("|")[1]]
        ys, xs = np.nonzero(m)
        hits = [(dy, dx) for dy in range(-63, 64) for dx in range(-63, 64)
                if 0 <= ys.min() - dy and ys.max() - dy < 64 and 0 <= xs.min() - dx and xs.max() - dx < 64
                and np.array_equal(img[ys, xs], donor[ys - dy, xs - dx])]
        assert hits, f"spliced region of {r['image']} is not an exact copy from {r['source']}"


def test_blend_changes_stay_near_mask(photo_dir, tmp_path):
    out = S.generate(tmp_path / "b", n=6, seed=2, photos=photo_dir, size=SIZE, jpeg_quality=None,
                     blend=True, crop_scale=None, hflip=False, authentic_fraction=0.0, progress=False)
    hosts = {f"p{i}": np.round(p * 255).astype(np.uint8)
             for i, p in enumerate(S.load_photos(photo_dir, size=SIZE))}
    for r in _read_manifest(out):
        img, m = _rgb(out, r), _mask(out, r) > 0
        host = hosts[r["source"].split("|")[0]]
        near = ndi.binary_dilation(m, iterations=6)  # feather sigma <= 1.5 px
        assert np.array_equal(img[~near], host[~near])


def test_resumption_recreates_only_missing(photo_dir, tmp_path):
    kw = dict(n=6, seed=3, photos=photo_dir, size=SIZE, progress=False)
    out = S.generate(tmp_path / "r", **kw)
    rows = _read_manifest(out)
    victim = next(r for r in rows if r["label"] == "1")
    files = [out / r["image"] for r in rows] + [out / r["mask"] for r in rows if r["mask"]]
    for f in files:  # backdate, so a rewrite is visible whatever the filesystem's time resolution
        os.utime(f, ns=(10**18, 10**18))
    before = {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in files}
    (out / victim["image"]).unlink()
    (out / victim["mask"]).unlink()
    S.generate(tmp_path / "r", **kw)
    for f in files:
        assert f.exists()
        assert f.read_bytes() == before[f][1], f
        recreated = f in (out / victim["image"], out / victim["mask"])
        assert (f.stat().st_mtime_ns != before[f][0]) == recreated, f
    assert not [p for p in out.rglob("*.tmp")]
    # a different parameter set in the same folder is refused, unless overwrite=True
    with pytest.raises(ValueError, match="other parameters.*seed"):
        S.generate(tmp_path / "r", **{**kw, "seed": 4})
    S.generate(tmp_path / "r", **{**kw, "seed": 4}, overwrite=True)
    assert json.loads((out / "meta.json").read_text())["params"]["seed"] == 4


def _bsds_fixture(root: Path, size=(48, 64)):
    """A BSDS500-style tree: images/train/*.png + groundTruth/train/*.mat (two annotators each)."""
    h, w = size
    shapes = {}
    rng = np.random.default_rng(0)
    for stem in ("s1", "s2", "s3"):
        (root / "images" / "train").mkdir(parents=True, exist_ok=True)
        (root / "groundTruth" / "train").mkdir(parents=True, exist_ok=True)
        img = np.round(ndi.gaussian_filter(rng.random((h, w, 3)), (2, 2, 0)) * 255).astype(np.uint8)
        Image.fromarray(img).save(root / "images" / "train" / f"{stem}.png")
        # annotator 0: an L-shaped object (~9%), annotator 1: a triangle (~8%); plus a tiny segment and
        # the background, whose areas are outside the default 3%-30% range
        seg0 = np.ones((h, w), np.uint16)
        seg0[10:26, 20:28] = 2
        seg0[20:26, 28:40] = 2
        seg0[0:2, 0:2] = 3
        seg1 = np.ones((h, w), np.uint16)
        yy, xx = np.mgrid[:h, :w]
        tri = (yy >= 15) & (yy < 35) & (xx >= 30) & (xx - 30 <= (yy - 15) * 0.8)
        seg1[tri] = 5
        cell = np.empty((1, 2), dtype=object)
        cell[0, 0] = {"Segmentation": seg0, "Boundaries": np.zeros((h, w), np.uint8)}
        cell[0, 1] = {"Segmentation": seg1, "Boundaries": np.zeros((h, w), np.uint8)}
        scipy.io.savemat(root / "groundTruth" / "train" / f"{stem}.mat", {"groundTruth": cell})
        shapes = {"L": seg0 == 2, "tri": tri}
    return root / "images", shapes


def _crop(m):
    ys, xs = np.nonzero(m)
    return m[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def test_read_bsds_segmentations(tmp_path):
    images, shapes = _bsds_fixture(tmp_path)
    segs = S.read_bsds_segmentations(tmp_path / "groundTruth" / "train" / "s1.mat")
    assert len(segs) == 2 and segs[0].shape == (48, 64)
    assert np.array_equal(segs[0] == 2, shapes["L"])
    scipy.io.savemat(tmp_path / "bad.mat", {"other": np.zeros(3)})
    with pytest.raises(ValueError, match="groundTruth"):
        S.read_bsds_segmentations(tmp_path / "bad.mat")


@pytest.mark.parametrize("kind", ["splicing", "removal"])
def test_bsds_segments_give_region_shapes(tmp_path, kind):
    images, shapes = _bsds_fixture(tmp_path)
    out = S.generate(tmp_path / "out", n=6, seed=0, photos=images, size=(48, 64), kinds=(kind,),
                     authentic_fraction=0.0, blend=False, jpeg_quality=None, crop_scale=None, hflip=False,
                     progress=False)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["params"]["photos"]["n_segmented"] == 3
    rows = _read_manifest(out)
    assert {r["source"].split("|")[0] for r in rows} <= {"train/s1", "train/s2", "train/s3"}
    used = set()
    for r in rows:
        m = _mask(out, r) > 0
        if kind == "removal":  # removal keeps the segment in place
            match = [k for k, s in shapes.items() if np.array_equal(m, s)]
        else:  # splicing translates it by an integer offset
            match = [k for k, s in shapes.items() if np.array_equal(_crop(m), _crop(s))]
        assert len(match) == 1, r
        used.add(match[0])
    assert used == {"L", "tri"}  # both annotators get used across samples
    # segmentations=False falls back to blobs
    out2 = S.generate(tmp_path / "out2", n=3, seed=0, photos=images, size=(48, 64), kinds=(kind,),
                      authentic_fraction=0.0, blend=False, jpeg_quality=None, crop_scale=None, hflip=False,
                      segmentations=False, progress=False)
    for r in _read_manifest(out2):
        m = _mask(out2, r) > 0
        assert not any(np.array_equal(_crop(m), _crop(s)) for s in shapes.values())


def test_copy_move_target_avoids_source_and_is_transformed():
    rng = np.random.default_rng(0)
    host = ndi.gaussian_filter(rng.random((64, 64, 3)), (2, 2, 0))
    host = (host - host.min()) / (host.max() - host.min())
    for seed in range(4):
        out, mask, info = S.tamper(host, "copy-move", np.random.default_rng(seed), blend=False,
                                   color_match=False)
        assert info["shape"] == "blob" and mask.any()
        assert np.array_equal(out[~mask], host[~mask])
    with pytest.raises(ValueError, match="donor"):
        S.tamper(host, "splicing", rng)
    with pytest.raises(ValueError, match="unknown manipulation"):
        S.tamper(host, "inpaint", rng)


def test_random_blob_area_and_determinism():
    for seed in range(10):
        b = S.random_blob((64, 80), np.random.default_rng(seed), area_frac=(0.05, 0.2))
        assert b.dtype == bool
        assert 0.02 < b.mean() < 0.3
        assert ndi.label(b)[1] == 1  # one connected region
        assert np.array_equal(b, S.random_blob((64, 80), np.random.default_rng(seed), area_frac=(0.05, 0.2)))


def test_bad_arguments(tmp_path, photo_dir):
    with pytest.raises(ValueError, match="kinds"):
        S.generate(tmp_path, n=2, photos=photo_dir, kinds=("warp",), progress=False)
    with pytest.raises(ValueError, match="jpeg_quality"):
        S.generate(tmp_path, n=2, photos=photo_dir, jpeg_quality=(90, 70), progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        S.generate(tmp_path, n=2, photos=tmp_path / "nope", progress=False)
    with pytest.raises(ValueError, match="n must"):
        S.generate(tmp_path, n=0, photos=photo_dir, progress=False)


def test_ensure_default_cached_and_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv(S.CACHE_ENV, str(tmp_path / "cache"))
    d = S.ensure_default(n=4)
    assert d == tmp_path / "cache" / "synthetic-default-n4"
    rows = _read_manifest(d)
    assert len(rows) == 4 and _rgb(d, rows[0]).shape == (*S.DEFAULT_SIZE, 3)
    os.utime(d / "manifest.csv", ns=(10**18, 10**18))
    stamp = (d / "manifest.csv").stat().st_mtime_ns
    assert S.ensure_default(n=4) == d
    assert (d / "manifest.csv").stat().st_mtime_ns == stamp  # reused, not rewritten
    meta = json.loads((d / "meta.json").read_text())
    meta["params"]["seed"] = 99  # stale parameters -> regenerated
    (d / "meta.json").write_text(json.dumps(meta))
    S.ensure_default(n=4)
    assert json.loads((d / "meta.json").read_text())["params"]["seed"] == 0
    assert (d / "manifest.csv").stat().st_mtime_ns != stamp
    other = S.ensure_default(root=tmp_path / "other", n=4, size=32)
    assert other == tmp_path / "other" / "synthetic-default-n4-32x32"
    assert _rgb(other, _read_manifest(other)[0]).shape == (32, 32, 3)


@pytest.mark.realdata
def test_real_bsds_segments(tmp_path):
    root = data_root()
    if root is None or not (root / "photos" / "bsds500" / "images" / "val").is_dir():
        pytest.skip("real data (PAPER_REPRO_DATA with photos/bsds500) not available")
    out = S.generate(tmp_path / "bsds", n=4, photos=root / "photos" / "bsds500" / "images" / "val",
                     size=(64, 96), authentic_fraction=0.0, progress=False)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["params"]["photos"]["n_segmented"] == meta["params"]["photos"]["n"] == 100
    for r in _read_manifest(out):
        m = _mask(out, r) > 0
        assert 0.01 < m.mean() < 0.4


def test_variety_options_are_seeded(photo_dir, tmp_path):
    """Probabilistic blending / colour matching, an earlier JPEG generation and transformed splices: the same
    seed gives the same bytes, another seed other bytes, and the options take effect."""
    kw = dict(n=8, size=(48, 64), photos=photo_dir, progress=False, blend=0.5, color_match=0.5, double_jpeg=0.5,
              first_jpeg_quality=(40, 60), splice_rotation=20.0, splice_scale=(0.8, 1.25))

    def files(d):
        return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.suffix in (".png", ".jpg")}

    a = S.generate(tmp_path / "a", seed=3, **kw)
    b = S.generate(tmp_path / "b", seed=3, **kw)
    c = S.generate(tmp_path / "c", seed=4, **kw)
    assert files(a) == files(b) and files(a) != files(c)
    params = __import__("json").loads((a / "meta.json").read_text())["params"]
    assert params["double_jpeg"] == 0.5 and params["blend"] == 0.5 and params["splice_rotation"] == 20.0
    plain = S.generate(tmp_path / "plain", seed=3, **{**kw, "double_jpeg": 0.0})
    assert files(plain) != files(a)  # the earlier JPEG generation changes the pixels


def test_probabilities_draw_per_image_and_bools_draw_nothing():
    host = np.random.default_rng(0).random((40, 40, 3))
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    S.tamper(host, "copy-move", rng_a, blend=True, color_match=True)
    S.tamper(host, "copy-move", rng_b, blend=1.0, color_match=1.0)
    assert rng_a.random() != rng_b.random()  # a probability draws, a bool does not
    seen = {S.tamper(host, "copy-move", np.random.default_rng(i), blend=0.5)[2]["blend"] for i in range(12)}
    assert seen == {True, False}
    with pytest.raises(ValueError, match="probability"):
        S.generate("/nonexistent-never-written", n=2, double_jpeg=1.5, progress=False)


@pytest.mark.parametrize("k", [1, -1])
def test_segmentations_a_quarter_turn_off_are_turned_back(k):
    """A photo with a bright square and its segmentation stored a quarter turn away: the turn that puts the
    region's boundary on the photo's edges is found."""
    img = np.zeros((30, 50, 3), np.uint8)
    img[5:15, 8:20] = 255  # off-centre, so the two quarter turns differ
    seg = np.zeros((30, 50), np.int32)
    seg[5:15, 8:20] = 1
    stored = np.rot90(seg, -k)  # (50, 30), as some BSDS500 copies hold them
    turned = S.orient_segmentations(img, [stored, stored + 1])
    assert all(np.array_equal(t, seg + i) for i, t in enumerate(turned))
    assert S.orient_segmentations(img, [seg])[0] is seg  # the right shape: untouched
    with pytest.raises(ValueError, match="does not match"):
        S._prepare(img, [np.zeros((7, 9), np.int32)], (16, 16))
