"""Real CASIA v1.0 (needs $PAPER_REPRO_DATA/casia1): the adapter pairs all 920 masks, reports the one
tampered image without mask, keeps the 800 authentic images, and every pair loads with matching sizes.

No file name of the real set is written here: the maskless image is found on disk at test time.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from paper_repro.config import data_root
from paper_repro.data import image_size, manifest, read_pair

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def casia():
    root = data_root()
    if root is None:
        pytest.skip("PAPER_REPRO_DATA is unset or missing: real CASIA v1.0 not available")
    if not (root / "casia1").is_dir():
        pytest.skip(f"{root}/casia1 not found: real CASIA v1.0 not available")
    return root / "casia1", manifest("casia1", root / "casia1")


def test_counts(casia):
    _, df = casia
    assert (df.label == 1).sum() == 920
    assert (df.label == 0).sum() == 800
    assert len(df) == 1720
    assert df.loc[df.label == 1, "mask"].notna().all() and df.loc[df.label == 0, "mask"].isna().all()
    assert df.loc[df.label == 1, "mask"].nunique() == 920  # each mask used once
    assert set(df.loc[df.label == 1, "manipulation"]) == {"copy-move", "splicing"}
    assert df.attrs["problems"] == []


def test_maskless_image_reported_by_name(casia):
    root, df = casia
    on_disk = {p.name for p in (root / "Sp").iterdir() if p.is_file()}
    missing = on_disk - {Path(p).name for p in df["image"]}
    assert len(missing) == 1
    (name,) = missing
    assert any(name in line and "no ground-truth mask" in line for line in df.attrs["report"])


def test_transposed_mask_flagged(casia):
    _, df = casia
    fixed = df[df["mask_fix"].notna()]
    assert len(fixed) == 1 and fixed["mask_fix"].item() == "transpose"
    h, w = image_size(fixed["image"].item())
    assert image_size(fixed["mask"].item()) == (w, h) and h != w


def test_every_pair_loads(casia):
    _, df = casia
    for _, row in df[df.label == 1].iterrows():
        image, mask = read_pair(row)
        assert image.shape[:2] == mask.shape, row["image"]
        assert mask.any(), f"{row['mask']} has no tampered pixel"
        assert not mask.all(), f"{row['mask']} is all tampered"
    for _, row in df[df.label == 0].iterrows():  # headers only: authentic images are plain JPEGs
        assert min(image_size(row["image"])) > 0


def test_grouped_split_shares_no_source_photo(casia):
    """The rule the `cpu` / `paper` profiles use for casia1:train / casia1:test: no source photo (authentic or
    used in a tampered image) on both sides; every row carries its ids."""
    from paper_repro import experiments as E
    from paper_repro.experiments import splits

    _, df = casia
    assert df["sources"].notna().all()
    train, test = splits._split(df, E.SPLIT_TEST_FRACTION, 0, "grouped")
    ids = lambda d: {i for v in d["sources"] for i in v.split(";")}  # noqa: E731
    assert not ids(train) & ids(test)
    assert len(train) + len(test) == len(df)
    assert 0.28 <= len(test) / len(df) <= 0.33
    assert (test["label"] == 1).sum() > 200 and (test["label"] == 0).sum() > 200
    # the old random split leaks: many held-out images share a photo with training
    rtrain, rtest = splits._split(df, E.SPLIT_TEST_FRACTION, 0, "random")
    leaked = sum(bool(set(v.split(";")) & ids(rtrain)) for v in rtest["sources"])
    assert leaked > 100


def test_the_readmes_split_sizes_are_the_split(casia):
    """The README's sentence on CASIA v1's grouped split states what the split gives (every number of it)."""
    import re
    from pathlib import Path

    from paper_repro import experiments as E
    from paper_repro.data.splits import source_groups
    from paper_repro.experiments import splits

    _, df = casia
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    m = re.search(r"\*\*([\d,]+) training / (\d+) held-out images \((\d+) tampered, (\d+) authentic\)\*\*, (\d+)\s+"
                  r"groups, the largest (\d+) rows \(the held-out side: (\d+) groups, the largest (\d+) rows\)", readme)
    assert m, "the README's split sentence is missing or reworded"
    n_train, n_test, n_tampered, n_authentic, n_groups, largest, test_groups, test_largest = (
        int(v.replace(",", "")) for v in m.groups())
    train, test = splits._split(df, E.SPLIT_TEST_FRACTION, 0, "grouped")
    groups = pd.Series(source_groups(df)).value_counts()
    held_out = pd.Series(source_groups(test)).value_counts()
    assert (len(train), len(test)) == (n_train, n_test)
    assert ((test["label"] == 1).sum(), (test["label"] == 0).sum()) == (n_tampered, n_authentic)
    assert (len(groups), int(groups.max())) == (n_groups, largest)
    assert (len(held_out), int(held_out.max())) == (test_groups, test_largest)
    leak = re.search(r"it put (\d+) held-out\s+images beside a training image", readme)
    rtrain, rtest = splits._split(df, E.SPLIT_TEST_FRACTION, 0, "random")
    ids = {i for v in rtrain["sources"] for i in v.split(";")}
    assert leak and int(leak.group(1)) == sum(bool(set(v.split(";")) & ids) for v in rtest["sources"])
