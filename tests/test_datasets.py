"""Adapters on fake layouts (counts, labels, pairing, quirks), TamperDataset, split, DataLoaders."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import H, W, box_mask, rand_rgb, save, save_mask
from paper_repro.data import (
    COLUMNS,
    DatasetError,
    TamperDataset,
    available_datasets,
    make_dataloaders,
    manifest,
    read_pair,
    scan,
    split,
)


def _by_name(df):
    return {Path(p).name: r for p, (_, r) in zip(df["image"], df.iterrows())}


def test_available_datasets():
    assert set(available_datasets()) >= {"casia1", "coverage", "columbia", "nist16", "dso1", "imd2020",
                                         "folder", "benco-json", "synthetic"}


# -------------------------------------------------------------------------------------------- CASIA
def test_casia1_pairing_and_quirks(casia1_root):
    df = manifest("casia1", casia1_root)
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS
    assert (df.label == 1).sum() == 9 and (df.label == 0).sum() == 3  # maskless one excluded
    assert df.loc[df.label == 0, "mask"].isna().all() and df.loc[df.label == 1, "mask"].notna().all()
    rows = _by_name(df)
    mask_of = {k: Path(r["mask"]).name for k, r in rows.items() if r["mask"]}
    # swapped source ids in the mask name
    assert mask_of["Sp_D_NRN_A_abc0004_xyz0005_0003.jpg"] == "Sp_D_NRN_A_xyz0005_abc0004_0003_gt.png"
    # '.' before the serial + correction sheet: renamed and reclassified S -> D (mask in Sp/)
    r = rows["Sp_S_NRD_A_abc0006_abc0007.0004.jpg"]
    assert Path(r["mask"]).name == "Sp_D_NRD_A_abc0006_abc0007_0004_gt.png"
    assert r["manipulation"] == "splicing"
    # '.' before the serial, no sheet entry: key match
    assert mask_of["Sp_D_NNN_A_abc0008_abc0009.0005.jpg"] == "Sp_D_NNN_A_abc0008_abc0009_0005_gt.png"
    # same serial and ids, 4th field C vs T must not be confused
    assert mask_of["Sp_S_NNN_C_tex0002_tex0002_0007.jpg"] == "Sp_D_NNN_C_tex0002_tex0002_0007_gt.png"
    assert mask_of["Sp_S_NNN_T_tex0002_tex0002_0007.jpg"] == "Sp_D_NNN_T_tex0002_tex0002_0007_gt.png"
    # sheet rename that changes a source id
    assert mask_of["Sp_S_NNN_R_abc0010_abc0011_0010.jpg"] == "Sp_S_NNN_R_abc0010_abc0010_0010_gt.png"
    assert rows["Sp_S_NNN_R_abc0010_abc0011_0010.jpg"]["manipulation"] == "copy-move"
    # transposed mask detected and fixed
    assert rows["Sp_D_CNN_A_abc0012_xyz0013_0008.jpg"]["mask_fix"] == "transpose"
    assert df["mask_fix"].notna().sum() == 1
    assert set(df.loc[df.label == 1, "manipulation"]) == {"copy-move", "splicing"}
    report = "\n".join(df.attrs["report"])
    assert "Sp_D_NRN_A_qqq0001_rrr0002_0099.jpg" in report and "no ground-truth mask" in report
    assert "identical with an authentic" in report  # the sheet's note about it is quoted
    assert "other order" in report and "correction sheet" in report and "mask_fix=transpose" in report
    assert df.attrs["problems"] == []
    assert "Sp_D_NRN_A_qqq0001_rrr0002_0099.jpg" not in " ".join(df["image"])
    # every pair loads, each tampered mask is the one written for that image
    assert scan(df, progress=False).empty
    for name, k in (("Sp_S_NNN_T_tex0002_tex0002_0007.jpg", 6), ("Sp_D_NRN_A_abc0004_xyz0005_0003.jpg", 2)):
        _, m = read_pair(rows[name])
        want = box_mask(y0=1 + k % 3, x0=2 + k)
        np.testing.assert_array_equal(m, ~want if "_T_" in name else want)


def test_casia1_include_maskless(casia1_root):
    df = manifest("casia1", casia1_root, include_maskless=True)
    r = _by_name(df)["Sp_D_NRN_A_qqq0001_rrr0002_0099.jpg"]
    assert r["label"] == 1 and not r["has_mask"] and r["mask"] is None
    assert df["has_mask"].sum() == 9


def test_casia1_without_sheet_reports_unresolved(casia1_root):
    (casia1_root / "CASIA 1.0 groundtruth" / "FileNameCorrection.xlsx").unlink()
    df = manifest("casia1", casia1_root)
    report = "\n".join(df.attrs["report"])
    assert "no FileNameCorrection" in report
    # the '.'-serial S->D image still pairs by key (S/D ignored in the key) ...
    assert "Sp_S_NRD_A_abc0006_abc0007.0004.jpg" in {Path(p).name for p in df["image"]}
    # ... and the id-changing rename is recovered by the loose key (same code/field4/serial, one id shared)
    r = _by_name(df)["Sp_S_NNN_R_abc0010_abc0011_0010.jpg"]
    assert Path(r["mask"]).name == "Sp_S_NNN_R_abc0010_abc0010_0010_gt.png"
    assert "source ids differ" in r["note"] and "source ids differ" in report
    assert (df.label == 1).sum() == 9 and df.attrs["problems"] == []
    # a mask whose image is gone is a problem, not silently dropped
    (casia1_root / "Sp" / "Sp_D_NNN_A_abc0002_xyz0003_0002.jpg").unlink()
    df = manifest("casia1", casia1_root)
    assert any("Sp_D_NNN_A_abc0002_xyz0003_0002_gt.png" in p for p in df.attrs["problems"])


# ------------------------------------------------------------------------------------------ COVERAGE
def test_coverage_size_rules(coverage_root):
    df = manifest("coverage", coverage_root)
    assert (df.label == 0).sum() == 4 and (df.label == 1).sum() == 4
    assert set(df.loc[df.label == 1, "manipulation"]) == {"copy-move"}
    fixes = {Path(r["image"]).name: r["mask_fix"] for _, r in df.iterrows() if r["label"] == 1}
    assert fixes == {"1t.tif": None, "2t.tif": "transpose", "3t.tif": "crop", "4t.tif": "resize"}
    assert sum("mask_fix=" in s for s in df.attrs["report"]) == 3
    assert df.loc[df.image.str.endswith("1t.tif"), "mask_copy"].item().endswith("1copy.tif")
    for _, r in df[df.label == 1].iterrows():
        x, m = read_pair(r)
        assert m.shape == x.shape[:2] == (H, W)
        if not r["image"].endswith("4t.tif"):
            np.testing.assert_array_equal(m, box_mask())  # transposed / 16-bit padded masks come back exact
    strict = manifest("coverage", coverage_root, size_rule="transpose")
    assert len(strict.attrs["problems"]) == 2  # crop and resize cases not fixed under that rule
    assert not scan(strict, progress=False).empty


# ------------------------------------------------------------------------------------------ COLUMBIA
def test_columbia_red_green(columbia_root):
    df = manifest("columbia", columbia_root)
    assert (df.label == 1).sum() == 2 and (df.label == 0).sum() == 2
    assert (df.loc[df.label == 1, "mask_kind"] == "columbia_edgemask").all()
    assert any("camb_camc_sub_03.tif" in s for s in df.attrs["report"])  # no edgemask -> reported
    rows = _by_name(df)
    _, m1 = read_pair(rows["cama_camb_sub_01.tif"])  # JPEG edge mask: chroma blur may flip a corner
    assert (m1 == box_mask()).mean() > 0.98 and m1[3:8, 4:11].all() and not m1[10:].any()
    _, m2 = read_pair(rows["cama_camc_sub_02.tif"])
    np.testing.assert_array_equal(m2, ~box_mask())
    red = manifest("columbia", columbia_root, spliced_colour="red")
    _, m3 = read_pair(_by_name(red)["cama_camc_sub_02.tif"])
    np.testing.assert_array_equal(m3, box_mask())


# ------------------------------------------------------------------------------------- other layouts
def test_small_adapters(fake_roots):
    m = box_mask()
    df = manifest("nist16", fake_roots["nist16"])
    assert len(df) == 2 and df.label.eq(1).all() and df.mask_invert.all()
    assert any("NC_0003.jpg" in s for s in df.attrs["report"])
    np.testing.assert_array_equal(read_pair(df.iloc[0])[1], m)  # inverted NIST mask decoded

    df = manifest("dso1", fake_roots["dso1"])
    assert (df.label == 0).sum() == 2 and (df.label == 1).sum() == 2 and not df.mask_invert.any()
    np.testing.assert_array_equal(read_pair(df[df.label == 1].iloc[0])[1], m)
    inner = manifest("dso1", fake_roots["dso1"] / "DSO-1")  # root = folder holding images/ + masks/
    assert len(inner) == 4
    pub = manifest("dso1", fake_roots["dso1_published"])
    assert len(pub) == 2 and pub.loc[pub.label == 1, "mask_invert"].all()
    np.testing.assert_array_equal(read_pair(pub[pub.label == 1].iloc[0])[1], m)

    df = manifest("imd2020", fake_roots["imd2020"])
    assert (df.label == 0).sum() == 2 and (df.label == 1).sum() == 2
    assert any("bbb_2.jpg" in s for s in df.attrs["report"])
    r = _by_name(df)["bbb_1.png"]
    np.testing.assert_array_equal(read_pair(r)[1], ~m)

    df = manifest("folder", fake_roots["folder"], manipulation="splicing")
    assert (df.label == 1).sum() == 3 and (df.label == 0).sum() == 1
    for name, want in (("a.png", m), ("b.jpg", ~m), ("c.png", m)):
        np.testing.assert_array_equal(read_pair(_by_name(df)[name])[1], want)

    df = manifest("benco-json", fake_roots["benco-json"])
    assert df.label.tolist() == [1, 0] and df["mask"].iloc[1] is None
    assert Path(df["image"].iloc[0]).is_absolute() and Path(df["image"].iloc[0]).is_file()
    np.testing.assert_array_equal(read_pair(df.iloc[0])[1], m)

    df = manifest("synthetic", fake_roots["synthetic"])
    assert df.label.tolist() == [1, 0] and df["dataset"].eq("synthetic").all()
    assert df["manipulation"].tolist() == ["splicing", None] and df["mask"].iloc[1] is None
    assert Path(df["mask"].iloc[0]).is_absolute()
    assert scan(df, progress=False).empty


def test_benco_json_missing_file_is_a_problem(tmp_path):
    save(tmp_path / "a.png", rand_rgb(0))
    (tmp_path / "l.json").write_text('[["a.png", "nomask.png"]]')
    df = manifest("benco-json", tmp_path / "l.json")
    assert any("nomask.png" in p for p in df.attrs["problems"])
    with pytest.raises(DatasetError, match="l2.json"):
        (tmp_path / "l2.json").write_text('{"a": 1}')
        manifest("benco-json", tmp_path / "l2.json")


# ------------------------------------------------------------------------------------------- loaders
@pytest.fixture
def mixed_df(tmp_path):
    rows = []
    for i, (h, w) in enumerate([(16, 24), (24, 16), (10, 12), (40, 36), (16, 24), (20, 20)]):
        img = save(tmp_path / f"i{i}.png", rand_rgb(i, h, w))
        m = np.zeros((h, w), bool)
        m[: h // 2, : w // 3] = True
        rows.append({"image": str(img), "mask": str(save_mask(tmp_path / f"m{i}.png", m)) if i % 2 == 0 else None,
                     "label": int(i % 2 == 0)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("policy", ["resize", "random_crop", "center_crop", "pad"])
def test_tamper_dataset_policies(mixed_df, policy):
    ds = TamperDataset(mixed_df, size=(16, 20), policy=policy, train=True, seed=1)
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.shape == (3, 16, 20) and y.shape == (1, 16, 20)
        assert x.dtype == torch.float32 and y.dtype == torch.float32
        assert 0 <= x.min() and x.max() <= 1
        assert set(y.unique().tolist()) <= {0.0, 1.0}
        if mixed_df.label[i] == 0:
            assert y.sum() == 0
    assert ds.original_size(1) == (24, 16) and ds.original_size(3) == (40, 36)


def test_tamper_dataset_policy_semantics(mixed_df):
    x0, y0 = TamperDataset(mixed_df, size=(8, 12), policy="resize")[0]  # 16x24 -> 8x12: mask halves
    assert y0[0, :4, :4].all() and y0.sum() == 4 * 4
    xp, yp = TamperDataset(mixed_df, size=(20, 30), policy="pad")[0]  # 16x24 padded bottom/right
    assert (xp[:, 16:, :] == 0).all() and (xp[:, :, 24:] == 0).all() and yp.sum() == 8 * 8
    xc, yc = TamperDataset(mixed_df, size=(16, 24), policy="center_crop")[0]  # same size: unchanged
    x_full, m_full = read_pair(mixed_df.iloc[0])
    torch.testing.assert_close(xc, torch.from_numpy(x_full).permute(2, 0, 1))
    # random_crop pads a 10x12 image with reflection (no zero border) and the mask with 0
    xr, yr = TamperDataset(mixed_df, size=(14, 16), policy="random_crop", seed=3)[2]
    assert yr.sum() == 5 * 4 and (xr.reshape(3, -1).sum(0) > 0).float().mean() > 0.9
    # train flips are seeded: same seed -> same items, and some flip happens
    a = [TamperDataset(mixed_df, size=(16, 24), policy="resize", train=True, seed=5)[0][1] for _ in range(2)]
    ds = TamperDataset(mixed_df, size=(16, 24), policy="resize", train=True, seed=5)
    seq = [ds[0][1] for _ in range(8)]
    torch.testing.assert_close(a[0], a[1])
    assert any(not torch.equal(s, seq[0]) for s in seq)
    with pytest.raises(ValueError):
        TamperDataset(mixed_df, policy="stretch")


@pytest.mark.parametrize("policy", ["resize", "random_crop", "center_crop", "pad"])
def test_tamper_dataset_cache_reads_once_and_matches(mixed_df, policy, monkeypatch):
    plain = TamperDataset(mixed_df, size=(16, 20), policy=policy, train=True, seed=4)
    cached = TamperDataset(mixed_df, size=(16, 20), policy=policy, train=True, seed=4, cache=True)
    reads = []
    real_read = TamperDataset.read
    monkeypatch.setattr(TamperDataset, "read", lambda self, i: reads.append(i) or real_read(self, i))
    for _ in range(3):  # three "epochs": same items, same seeded flips / crops, one read per image
        for i in range(len(mixed_df)):
            (xa, ya), (xb, yb) = plain[i], cached[i]
            torch.testing.assert_close(xa, xb)
            torch.testing.assert_close(ya, yb)
    assert sorted(reads[3 * len(mixed_df):]) == list(range(len(mixed_df)))  # cached: first epoch only
    assert len(reads) == 4 * len(mixed_df)  # plain: every epoch
    # an item changed in place by its consumer does not change what the cache serves next
    fixed = "center_crop" if policy == "random_crop" else policy
    eval_ds = TamperDataset(mixed_df, size=(16, 20), policy=fixed, seed=4, cache=True)
    x0 = eval_ds[0][0].clone()
    eval_ds[0][0].mul_(0)
    torch.testing.assert_close(eval_ds[0][0], x0)


def test_make_dataloaders_cache_loads_in_main_process(mixed_df):
    dls = make_dataloaders(mixed_df.iloc[:5], mixed_df.iloc[5:], size=(16, 16), bs=2, num_workers=2,
                           device="cpu", cache=True)
    assert dls.train.fake_l.num_workers == 0 and dls.train.dataset.cache and dls.valid.dataset.cache
    first = [b[0].sum().item() for b in dls.valid]
    assert len(dls.valid.dataset._cache) == 1
    assert [b[0].sum().item() for b in dls.valid] == first


def test_split_deterministic_and_stratified():
    df = pd.DataFrame({"image": [f"{i}.png" for i in range(50)], "label": [1] * 30 + [0] * 20})
    a_tr, a_va = split(df, valid_pct=0.2, seed=7)
    b_tr, b_va = split(df, valid_pct=0.2, seed=7)
    pd.testing.assert_frame_equal(a_va, b_va)
    pd.testing.assert_frame_equal(a_tr, b_tr)
    assert len(a_va) == 10 and a_va.label.sum() == 6  # 60 % tampered in both parts
    assert set(a_tr.image).isdisjoint(a_va.image) and len(a_tr) + len(a_va) == 50
    _, c_va = split(df, valid_pct=0.2, seed=8)
    assert set(c_va.image) != set(a_va.image)


def test_make_dataloaders_batches(mixed_df):
    from fastai.data.core import DataLoaders

    tr, va = mixed_df.iloc[:5], mixed_df.iloc[5:]
    dls = make_dataloaders(tr, va, size=(16, 16), bs=2, policy="random_crop", device="cpu", seed=0)
    assert isinstance(dls, DataLoaders)
    batches = list(dls.train)
    assert len(batches) == 2  # 5 items, bs 2, drop_last
    xb, yb = batches[0]
    assert xb.shape == (2, 3, 16, 16) and yb.shape == (2, 1, 16, 16)
    assert xb.dtype == torch.float32 and yb.dtype == torch.float32
    assert dls.train.shuffle and not dls.valid.shuffle and not dls.valid.drop_last
    xv, yv = dls.valid.one_batch()
    assert xv.shape == (1, 3, 16, 16) and yv.shape == (1, 1, 16, 16)
    with pytest.raises(ValueError, match="bs"):
        make_dataloaders(tr.iloc[:1], va, bs=2, device="cpu")
    # a fastai Learner trains on it as is: batches are (images, masks)
    from fastai.learner import Learner

    torch.manual_seed(0)
    learn = Learner(dls, torch.nn.Conv2d(3, 1, 3, padding=1), loss_func=torch.nn.BCEWithLogitsLoss())
    learn.fit(1, lr=1e-2)
    train_loss, valid_loss = learn.recorder.values[-1][:2]
    assert np.isfinite(train_loss) and np.isfinite(valid_loss)


def test_split_stratifies_on_a_column_with_missing_values():
    """Authentic rows have no manipulation: stratifying on it must treat 'missing' as its own class."""
    import pandas as pd
    from paper_repro.data import split

    df = pd.DataFrame({"image": [f"{i}.png" for i in range(40)],
                       "manipulation": ["splicing"] * 10 + ["copy-move"] * 10 + [None] * 20})
    tr, va = split(df, valid_pct=0.25, seed=1, stratify="manipulation")
    assert len(tr) + len(va) == 40 and set(tr["image"]).isdisjoint(va["image"])
    assert va["manipulation"].isna().sum() == 5 and (va["manipulation"] == "splicing").sum() in (2, 3)


def test_benco_json_relative_paths_from_its_folder_or_the_working_directory(tmp_path, monkeypatch):
    """IMDL-BenCo reads relative paths from the working directory; we try the JSON's folder first, then the
    working directory, and the report says which rule found each."""
    data = tmp_path / "data"
    save(data / "Tp" / "a.png", rand_rgb(1))
    save_mask(data / "Gt" / "a.png", box_mask())
    save(data / "Au" / "b.png", rand_rgb(2))
    # a list kept beside the data, paths relative to it
    beside = data / "list.json"
    beside.write_text(json.dumps([["Tp/a.png", "Gt/a.png"], ["Au/b.png", "Negative"]]))
    elsewhere = tmp_path / "lists" / "benco.json"  # BenCo's convention: paths relative to where it runs
    elsewhere.parent.mkdir()
    elsewhere.write_text(json.dumps([["data/Tp/a.png", "data/Gt/a.png"], ["data/Au/b.png", "Negative"]]))
    monkeypatch.chdir(tmp_path / "lists")
    df = manifest("benco-json", beside)
    assert df.attrs["problems"] == [] and df["image"].map(lambda p: Path(p).is_file()).all()
    assert "2 from the JSON folder" in " ".join(df.attrs["report"])
    monkeypatch.chdir(tmp_path)
    df2 = manifest("benco-json", elsewhere)
    assert df2.attrs["problems"] == [] and df2["label"].tolist() == [1, 0]
    assert "2 from the working directory" in " ".join(df2.attrs["report"])
    assert set(df2["note"]) == {"path from the working directory"}
    monkeypatch.chdir(tmp_path / "lists")  # from neither place: reported, naming both folders
    df3 = manifest("benco-json", elsewhere)
    assert any("then the working directory" in p for p in df3.attrs["problems"])
