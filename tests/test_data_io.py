"""Readers: every mode / bit depth, the mask binarisation rule, and clear errors on bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

from conftest import H, W, box_mask, rand_rgb, save, save_mask
from paper_repro.data import (
    DatasetError,
    apply_mask_fix,
    decode_columbia_edgemask,
    image_size,
    manifest,
    read_image,
    read_mask,
    read_pair,
    scan,
)


# --------------------------------------------------------------------------------------- read_image
def _check_image(x, h=H, w=W):
    assert x.shape == (h, w, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_read_image_rgb_png_exact(tmp_path):
    a = rand_rgb(0)
    x = read_image(save(tmp_path / "a.png", a))
    _check_image(x)
    np.testing.assert_allclose(x, a / 255.0, atol=1e-6)


def test_read_image_jpeg_close(tmp_path):
    a = np.full((H, W, 3), 128, np.uint8)
    x = read_image(save(tmp_path / "a.jpg", a))
    _check_image(x)
    assert abs(float(x.mean()) - 128 / 255) < 0.02


def test_read_image_grey_rgba_palette_and_1bit(tmp_path):
    g = rand_rgb(1)[..., 0]
    x = read_image(save(tmp_path / "g.png", g))
    _check_image(x)
    np.testing.assert_allclose(x[..., 2], g / 255.0, atol=1e-6)  # grey replicated to 3 channels
    rgba = np.dstack([rand_rgb(2), np.zeros((H, W), np.uint8)])  # fully transparent: alpha is dropped
    x = read_image(save(tmp_path / "rgba.png", rgba))
    np.testing.assert_allclose(x, rgba[..., :3] / 255.0, atol=1e-6)
    p = Image.fromarray(rand_rgb(3)).convert("P")
    p.save(tmp_path / "p.png")
    x = read_image(tmp_path / "p.png")
    np.testing.assert_allclose(x, np.asarray(p.convert("RGB")) / 255.0, atol=1e-6)
    Image.fromarray(box_mask()).save(tmp_path / "b.png")  # mode "1"
    x = read_image(tmp_path / "b.png")
    np.testing.assert_array_equal(x[..., 0] > 0.5, box_mask())


def test_read_image_16bit_png_and_tiffs(tmp_path):
    g16 = (np.arange(H * W, dtype=np.uint16).reshape(H, W) * 170).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    x = read_image(tmp_path / "g16.png")
    np.testing.assert_allclose(x[..., 0], g16 / 65535.0, atol=1e-6)  # full 16-bit precision kept
    rgb16 = np.random.default_rng(0).integers(0, 65536, (H, W, 3)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "rgb16.tif", rgb16, photometric="rgb")  # PIL cannot open 48-bit RGB
    x = read_image(tmp_path / "rgb16.tif")
    _check_image(x)
    np.testing.assert_allclose(x, rgb16 / 65535.0, atol=1e-6)
    f32 = np.random.default_rng(1).random((H, W, 3)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f32.tif", f32, photometric="rgb")
    np.testing.assert_allclose(read_image(tmp_path / "f32.tif"), f32, atol=1e-6)
    assert image_size(tmp_path / "rgb16.tif") == (H, W)


# ---------------------------------------------------------------------------------------- read_mask
def test_mask_grey_levels_threshold_on_own_bit_depth(tmp_path):
    levels = np.array([[0, 100, 127, 128, 200, 255]], np.uint8)
    np.testing.assert_array_equal(read_mask(save(tmp_path / "l.png", levels)),
                                  [[False, False, False, True, True, True]])
    np.testing.assert_array_equal(read_mask(tmp_path / "l.png", threshold=0.1),
                                  [[False, True, True, True, True, True]])
    np.testing.assert_array_equal(read_mask(tmp_path / "l.png", invert=True),
                                  [[True, True, True, False, False, False]])
    # 16-bit: 30000/65535 < 0.5 < 40000/65535 (read as 8-bit both would be "white")
    v16 = np.array([[0, 30000, 40000, 65535]], np.uint16)
    Image.fromarray(v16).save(tmp_path / "m16.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "m16.png"), [[False, False, True, True]])
    tifffile.imwrite(tmp_path / "m16.tif", v16)
    np.testing.assert_array_equal(read_mask(tmp_path / "m16.tif"), [[False, False, True, True]])


def test_mask_colour_max_and_alpha_rules(tmp_path):
    m = box_mask()
    red = np.zeros((H, W, 3), np.uint8)
    red[m] = (255, 0, 0)  # a pure red region counts (max over channels)
    np.testing.assert_array_equal(read_mask(save(tmp_path / "red.png", red)), m)
    for mode in ("L", "RGB", "RGBA", "P"):
        np.testing.assert_array_equal(read_mask(save_mask(tmp_path / f"m_{mode}.png", m, mode)), m, mode)
    # colour varies, alpha constant 0: alpha ignored
    rgba = np.dstack([np.where(m, 255, 0).astype(np.uint8)] * 3 + [np.zeros((H, W), np.uint8)])
    np.testing.assert_array_equal(read_mask(save(tmp_path / "a0.png", rgba)), m)
    # alpha-only mask: colour constant black, alpha carries the region
    only_a = np.dstack([np.zeros((H, W, 3), np.uint8), np.where(m, 255, 0).astype(np.uint8)])
    np.testing.assert_array_equal(read_mask(save(tmp_path / "alpha.png", only_a)), m)
    Image.fromarray(m).save(tmp_path / "one.png")  # mode "1"
    np.testing.assert_array_equal(read_mask(tmp_path / "one.png"), m)
    assert read_mask(tmp_path / "one.png").dtype == bool


def test_columbia_edgemask_decoding():
    m = box_mask()
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[~m] = (250, 5, 0)
    rgb[m] = (10, 240, 3)
    noisy = np.clip(rgb.astype(int) + np.random.default_rng(0).integers(-20, 21, rgb.shape), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(decode_columbia_edgemask(noisy), m)
    np.testing.assert_array_equal(decode_columbia_edgemask(noisy, spliced="red"), ~m)
    np.testing.assert_array_equal(decode_columbia_edgemask(noisy, spliced="smaller"), m)  # box < half
    with pytest.raises(ValueError):
        decode_columbia_edgemask(noisy, spliced="blue")


def test_apply_mask_fix_rules():
    m = box_mask()
    np.testing.assert_array_equal(apply_mask_fix(m.T, "transpose", (H, W)), m)
    big = np.zeros((H + 2, W + 1), bool)
    big[:H, :W] = m
    np.testing.assert_array_equal(apply_mask_fix(big, "crop", (H, W)), m)
    small = apply_mask_fix(m[:-2, :-3], "crop", (H, W))  # zero-padded bottom/right
    assert small.shape == (H, W) and not small[-2:].any() and (small[:-2, :-3] == m[:-2, :-3]).all()
    half = m[::2, ::2]
    up = apply_mask_fix(half, "resize", (H, W))
    np.testing.assert_array_equal(up, np.repeat(np.repeat(half, 2, 0), 2, 1))
    with pytest.raises(DatasetError):
        apply_mask_fix(m, "rotate", (H, W))


# ---------------------------------------------------------------------------------------- read_pair
def test_read_pair_authentic_and_fixups(tmp_path):
    img = save(tmp_path / "i.png", rand_rgb(0))
    x, m = read_pair({"image": str(img), "mask": None})
    assert x.shape == (H, W, 3) and m.shape == (H, W) and not m.any()
    x, m = read_pair(pd.Series({"image": str(img), "mask": float("nan")}))
    assert not m.any()
    mk = save_mask(tmp_path / "t.png", box_mask().T)
    with pytest.raises(DatasetError, match=r"t\.png.*i\.png.*transposed"):
        read_pair({"image": str(img), "mask": str(mk)})
    _, m = read_pair({"image": str(img), "mask": str(mk), "mask_fix": "transpose"})
    np.testing.assert_array_equal(m, box_mask())
    inv = save(tmp_path / "inv.png", np.where(box_mask(), 0, 255).astype(np.uint8))
    _, m = read_pair({"image": str(img), "mask": str(inv), "mask_invert": True})
    np.testing.assert_array_equal(m, box_mask())


# ------------------------------------------------------------------------------------------ errors
def test_bad_files_raise_dataset_error_naming_the_file(tmp_path):
    good = save(tmp_path / "good.jpg", rand_rgb(0, 64, 64))
    data = good.read_bytes()
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"trunc\.jpg.*truncated"):
        read_image(trunc)
    txt = tmp_path / "notes.png"
    txt.write_text("this is not an image")
    with pytest.raises(DatasetError, match=r"notes\.png.*not an image"):
        read_image(txt)
    faketif = tmp_path / "fake.tif"
    faketif.write_bytes(b"hello world, no tiff here")
    with pytest.raises(DatasetError, match=r"fake\.tif"):
        read_mask(faketif)
    with pytest.raises(DatasetError, match=r"missing\.png.*not found"):
        read_mask(tmp_path / "missing.png")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(DatasetError, match=r"empty\.png.*empty"):
        read_image(empty)
    with pytest.raises(DatasetError, match=r"gone\.png"):
        read_pair({"image": str(good), "mask": str(tmp_path / "gone.png")})
    small = save_mask(tmp_path / "small.png", np.ones((5, 7), bool))
    with pytest.raises(DatasetError, match=r"small\.png.*7x5.*good\.jpg.*64x64"):
        read_pair({"image": str(good), "mask": str(small)})


def test_bad_dataset_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty.*Au/.*Sp/"):
        manifest("casia1", tmp_path / "empty")
    (tmp_path / "wrong" / "stuff").mkdir(parents=True)
    (tmp_path / "wrong" / "stuff" / "x.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"coverage.*image/.*mask/"):
        manifest("coverage", tmp_path / "wrong")
    with pytest.raises(DatasetError, match=r"does not exist.*4cam_splc"):
        manifest("columbia", tmp_path / "nope")
    with pytest.raises(KeyError, match=r"casia1.*coverage"):
        manifest("no-such-set", tmp_path)


def test_scan_collects_every_problem(tmp_path):
    img = save(tmp_path / "ok.png", rand_rgb(0))
    good_mask = save_mask(tmp_path / "ok_gt.png", box_mask())
    data = save(tmp_path / "big.jpg", rand_rgb(1, 64, 64)).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:300])
    wrong = save_mask(tmp_path / "wrong.png", np.ones((5, 5), bool))
    blank = save_mask(tmp_path / "blank.png", np.zeros((H, W), bool))
    df = pd.DataFrame([
        {"image": str(img), "mask": str(good_mask), "label": 1},
        {"image": str(tmp_path / "cut.jpg"), "mask": None, "label": 0},
        {"image": str(img), "mask": str(tmp_path / "absent.png"), "label": 1},
        {"image": str(img), "mask": str(wrong), "label": 1},
        {"image": str(img), "mask": None, "label": 0},
        {"image": str(img), "mask": str(blank), "label": 1},
    ])
    probs = scan(df, progress=False)
    assert list(probs.columns) == ["image", "mask", "problem"]
    assert len(probs) == 4
    text = "\n".join(probs["problem"])
    for name in ("cut.jpg", "absent.png", "wrong.png", "blank.png"):
        assert name in text
    assert "ok_gt.png" not in text
