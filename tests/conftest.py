"""Shared fixtures: tiny fake datasets written into tmp_path, laid out like the public ones.

Everything here is generated (random 16x24 pixels, invented file names); nothing comes from real data.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

H, W = 16, 24  # default fake image size (rows, cols)


def rand_rgb(seed: int, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def box_mask(h: int = H, w: int = W, y0: int = 2, x0: int = 3, y1: int = 9, x1: int = 12) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def save(path: Path, arr: np.ndarray) -> Path:
    """Write ``arr`` (uint8 HxW / HxWx3 / HxWx4, uint16 HxW) to ``path`` (format from suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def save_mask(path: Path, m: np.ndarray, mode: str = "L", grey: int = 255) -> Path:
    """Write a bool mask as L (tampered = ``grey``), RGB (white), RGBA (white, opaque) or P."""
    v = np.where(m, grey, 0).astype(np.uint8)
    if mode == "L":
        return save(path, v)
    if mode == "RGB":
        return save(path, np.stack([v] * 3, -1))
    if mode == "RGBA":
        return save(path, np.dstack([v, v, v, np.full_like(v, 255)]))
    if mode == "P":
        path.parent.mkdir(parents=True, exist_ok=True)
        im = Image.fromarray(m.astype(np.uint8))  # mode L with values 0/1 ...
        im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
        assert im.mode == "P"  # ... becomes palette image: index 1 -> white
        im.save(path)
        return path
    raise ValueError(mode)


@pytest.fixture
def casia1_root(tmp_path) -> Path:
    """Fake CASIA v1: exact pairs (CM and Sp), a swapped-id mask name, '.'-serial names (one fixed by
    the correction sheet, one by key), field-4 twins sharing a serial, a transposed mask, a maskless
    image, a sheet rename + reclassification, masks in L (grey levels) / RGB / RGBA / P."""
    root = tmp_path / "casia1"
    gt = root / "CASIA 1.0 groundtruth"
    for i, name in enumerate(["Au_ani_0001.jpg", "Au_arc_0002.jpg", "Au_cha_0003.JPG"]):
        save(root / "Au" / name, rand_rgb(100 + i))
    m = box_mask()
    pairs = [  # (image name, mask folder, mask name, mask mode, image is transposed?)
        ("Sp_S_NNN_A_abc0001_abc0001_0001.jpg", "CM", "Sp_S_NNN_A_abc0001_abc0001_0001_gt.png", "L", False),
        ("Sp_D_NNN_A_abc0002_xyz0003_0002.jpg", "Sp", "Sp_D_NNN_A_abc0002_xyz0003_0002_gt.png", "RGB", False),
        ("Sp_D_NRN_A_abc0004_xyz0005_0003.jpg", "Sp", "Sp_D_NRN_A_xyz0005_abc0004_0003_gt.png", "RGBA", False),
        ("Sp_S_NRD_A_abc0006_abc0007.0004.jpg", "Sp", "Sp_D_NRD_A_abc0006_abc0007_0004_gt.png", "L", False),
        ("Sp_D_NNN_A_abc0008_abc0009.0005.jpg", "Sp", "Sp_D_NNN_A_abc0008_abc0009_0005_gt.png", "P", False),
        ("Sp_S_NNN_C_tex0002_tex0002_0007.jpg", "CM", "Sp_D_NNN_C_tex0002_tex0002_0007_gt.png", "RGB", False),
        ("Sp_S_NNN_T_tex0002_tex0002_0007.jpg", "CM", "Sp_D_NNN_T_tex0002_tex0002_0007_gt.png", "RGB", False),
        ("Sp_D_CNN_A_abc0012_xyz0013_0008.jpg", "Sp", "Sp_D_CNN_A_abc0012_xyz0013_0008_gt.png", "L", True),
        ("Sp_S_NNN_R_abc0010_abc0011_0010.jpg", "CM", "Sp_S_NNN_R_abc0010_abc0010_0010_gt.png", "RGBA", False),
    ]
    for k, (img, folder, mname, mode, transposed) in enumerate(pairs):
        save(root / "Sp" / img, rand_rgb(k, W, H) if transposed else rand_rgb(k))
        mk = box_mask(y0=1 + k % 3, x0=2 + k)  # each pair gets its own mask
        if "_T_" in mname:
            mk = ~mk
        save_mask(gt / folder / mname, mk, mode, grey=200 if mode == "L" else 255)
    save(root / "Sp" / "Sp_D_NRN_A_qqq0001_rrr0002_0099.jpg", rand_rgb(50))  # no mask anywhere
    for folder, lst in (("CM", "CopyMove_groundtruth_list.txt"), ("Sp", "Splicing_groundtruth_list.txt")):
        (gt / lst).write_text("\n".join(sorted(p.name for p in (gt / folder).iterdir())) + "\n")
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Modify Tp file name"
    ws.append(["Note", "Original file name", "Corrected file name", "Rename command", "Move command"])
    ws.append([None] * 5)
    ws.append(["Rename and move", "Sp_S_NRD_A_abc0006_abc0007.0004.jpg", "Sp_D_NRD_A_abc0006_abc0007_0004.jpg",
               'ren "a" "b"', "move b ../Sp"])
    ws.append(["Rename 1 image", "Sp_S_NNN_R_abc0010_abc0011_0010.jpg", "Sp_S_NNN_R_abc0010_abc0010_0010.jpg",
               'ren "c" "d"', None])
    ws.append([None, 'Image file named "Sp_D_NRN_A_qqq0001_rrr0002_0099.jpg" is identical with an authentic '
                     'image, therefore it has no mask.', None, None, None])
    wb.save(gt / "FileNameCorrection.xlsx")
    return root


@pytest.fixture
def coverage_root(tmp_path) -> Path:
    """Fake COVERAGE: 4 originals + 4 tampered (TIFF); masks: same size, transposed, 1 px larger, half size."""
    import tifffile

    root = tmp_path / "coverage"
    m = box_mask()
    for n in range(1, 5):
        save(root / "image" / f"{n}.tif", rand_rgb(n))
        save(root / "image" / f"{n}t.tif", rand_rgb(10 + n))
    save_mask(root / "mask" / "1forged.tif", m)
    save_mask(root / "mask" / "1copy.tif", m)
    save_mask(root / "mask" / "1paste.tif", m)
    save_mask(root / "mask" / "2forged.tif", m.T)
    big = np.zeros((H + 1, W + 1), bool)
    big[:H, :W] = m
    tifffile.imwrite(root / "mask" / "3forged.tif", np.where(big, 65535, 0).astype(np.uint16))
    save_mask(root / "mask" / "4forged.tif", m[::2, ::2])
    return root


def columbia_edgemask(m: np.ndarray) -> np.ndarray:
    """Red host region / green spliced region, as in the published edge masks."""
    rgb = np.zeros(m.shape + (3,), np.uint8)
    rgb[~m] = (255, 0, 0)
    rgb[m] = (0, 255, 0)
    return rgb


@pytest.fixture
def columbia_root(tmp_path) -> Path:
    root = tmp_path / "columbia"
    m = box_mask()
    save(root / "4cam_splc" / "cama_camb_sub_01.tif", rand_rgb(1))
    save(root / "4cam_splc" / "edgemask" / "cama_camb_sub_01_edgemask.jpg", columbia_edgemask(m))
    save(root / "4cam_splc" / "cama_camc_sub_02.tif", rand_rgb(2))
    save(root / "4cam_splc" / "edgemask" / "cama_camc_sub_02_edgemask.tif", columbia_edgemask(~m))
    save(root / "4cam_splc" / "camb_camc_sub_03.tif", rand_rgb(3))  # no edgemask
    save(root / "4cam_auth" / "cama_sub_01.tif", rand_rgb(4))
    save(root / "4cam_auth" / "camb_sub_02.tif", rand_rgb(5))
    return root


@pytest.fixture
def fake_roots(tmp_path) -> dict[str, Path]:
    """Smaller layouts: nist16, dso1 (both layouts), imd2020, folder, benco-json, synthetic."""
    m = box_mask()
    out = {}
    r = out["nist16"] = tmp_path / "nist16"
    save(r / "probe" / "NC_0001.jpg", rand_rgb(1))
    save(r / "mask" / "NC_0001.png", np.where(m, 0, 255).astype(np.uint8))  # black = manipulated
    save(r / "probe" / "NC_0002.jpg", rand_rgb(2))
    save(r / "mask" / "NC_0002_gt.png", np.where(m, 0, 255).astype(np.uint8))
    save(r / "probe" / "NC_0003.jpg", rand_rgb(3))  # no mask
    r = out["dso1"] = tmp_path / "dso1"
    for i in (1, 2):
        save(r / "DSO-1" / "images" / f"normal-{i}.png", rand_rgb(i))
        save(r / "DSO-1" / "images" / f"splicing-{i}.png", rand_rgb(10 + i))
        save_mask(r / "DSO-1" / "masks" / f"splicing-{i}.png", m, "RGB")
    r = out["dso1_published"] = tmp_path / "tifs-database"
    save(r / "DSO-1" / "normal-1.png", rand_rgb(1))
    save(r / "DSO-1" / "splicing-1.png", rand_rgb(2))
    save(r / "DSO-1-Fake-Images-Masks" / "splicing-1.png", np.where(m, 0, 255).astype(np.uint8))
    r = out["imd2020"] = tmp_path / "imd2020"
    save(r / "aaa" / "aaa_orig.jpg", rand_rgb(1))
    save(r / "aaa" / "aaa_0.jpg", rand_rgb(2))
    save_mask(r / "aaa" / "aaa_0_mask.png", m)
    save(r / "bbb" / "bbb_orig.jpg", rand_rgb(3))
    save(r / "bbb" / "bbb_1.png", rand_rgb(4))
    save_mask(r / "bbb" / "bbb_1_mask.png", ~m)
    save(r / "bbb" / "bbb_2.jpg", rand_rgb(5))  # no mask
    r = out["folder"] = tmp_path / "folder"
    save(r / "Tp" / "a.png", rand_rgb(1))
    save_mask(r / "Gt" / "a_gt.png", m)
    save(r / "Tp" / "b.jpg", rand_rgb(2))
    save_mask(r / "Gt" / "b_mask.png", ~m, "RGBA")
    save(r / "Tp" / "c.png", rand_rgb(3))
    save_mask(r / "Gt" / "c.png", m, "P")
    save(r / "Au" / "d.jpg", rand_rgb(4))
    r = tmp_path / "benco"
    save(r / "img" / "t.png", rand_rgb(1))
    save_mask(r / "gt" / "t.png", m)
    save(r / "img" / "n.png", rand_rgb(2))
    (r / "list.json").write_text(json.dumps([["img/t.png", "gt/t.png"], ["img/n.png", "Negative"]]))
    out["benco-json"] = r / "list.json"
    r = out["synthetic"] = tmp_path / "synthetic"
    save(r / "images" / "0.png", rand_rgb(1))
    save_mask(r / "masks" / "0.png", m)
    save(r / "images" / "1.png", rand_rgb(2))
    (r / "manifest.csv").write_text("image,mask,label,manipulation\nimages/0.png,masks/0.png,1,splicing\n"
                                    "images/1.png,,0,\n")
    return out


@pytest.fixture
def one_thread():
    """Run a test single-threaded (training loops): on a shared 2-core box intra-op threads only contend."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
