"""Published-number tables (paper_repro/paper_numbers/*.csv) and the `beside` comparison helper."""
import numpy as np
import pandas as pd
import pytest

from paper_repro import paper as pp


@pytest.fixture(scope="module")
def rw():
    return pp.paper_numbers("reconwave")


@pytest.fixture(scope="module")
def others():
    return pp.paper_numbers("others")


def test_csvs_have_documented_columns_and_numeric_values(rw, others):
    assert tuple(rw.columns) == pp.COLUMNS
    assert tuple(others.columns) == ("paper",) + pp.COLUMNS
    for df in (rw, others):
        assert len(df) > 0
        assert pd.api.types.is_float_dtype(df["value"]) and np.isfinite(df["value"]).all()
        assert pd.api.types.is_float_dtype(df["level"])
        assert set(df["perturbation"]) <= set(pp.PERTURBATIONS)
        assert set(df["metric"]) <= set(pp.METRICS)
        assert set(df["dataset"]) <= set(pp.DATASETS)
        # a level exactly where the perturbation has one
        has_level = df["perturbation"].isin(["brightness", "contrast"])
        assert df.loc[has_level, "level"].notna().all() and df.loc[~has_level, "level"].isna().all()
        # one number per key within a table
        assert not df.duplicated(["table", *pp.KEYS]).any()
    assert set(others["paper"]) <= set(pp.PAPERS)


def test_table1_mean_column_is_mean_of_the_four_levels(rw):
    t1 = rw[rw["table"] == "table1"]
    checked = 0
    for (method, manip, metric), g in t1.groupby(["method", "manipulation", "metric"]):
        mean = g.loc[g["perturbation"] == "mean", "value"]
        levels = g.loc[g["perturbation"] != "mean", "value"]
        if mean.empty:
            continue
        assert len(levels) == 4, (method, manip, metric)
        assert abs(levels.mean() - mean.iloc[0]) <= 0.02, (method, manip, metric, levels.tolist(), mean.iloc[0])
        checked += 1
    assert checked >= 10  # 4 copy-move + 1 splice rows x (psnr, ssim)


def test_values_in_plausible_ranges(rw, others):
    both = pd.concat([rw, others.drop(columns="paper")])
    psnr = both.loc[both["metric"] == "psnr", "value"]
    assert len(psnr) and psnr.between(5, 50).all()
    unit = both.loc[both["metric"].isin(["ssim", "f1", "iou", "auc"]), "value"]
    assert len(unit) and unit.between(0, 1).all()


def test_table1_restorer_beats_unrestored_at_every_level(rw):
    t1 = rw[(rw["table"] == "table1") & (rw["metric"] == "psnr")]
    wide = t1.pivot_table(index=["manipulation", "perturbation", "level"], columns="method", values="value")
    both = wide[["unrestored", "reconwave_restorer"]].dropna()
    assert len(both) == 4
    assert (both["reconwave_restorer"] > both["unrestored"] + 10).all()


def test_paper_levels_match_csv(rw):
    for table, grid in pp.PAPER_LEVELS.items():
        t = rw[rw["table"] == table]
        for pert, levels in grid.items():
            assert set(t.loc[t["perturbation"] == pert, "level"]) == set(levels)


def test_missing_table_raises_with_reason_and_paper_filter_works():
    with pytest.raises(KeyError, match="not retrievable"):
        pp.paper_numbers("reconwave", "table2")
    with pytest.raises(ValueError, match="paper must be"):
        pp.paper_numbers("nope")
    lp = pp.paper_numbers("lpclnet")
    assert len(lp) and set(lp["paper"]) == {"lpclnet"}
    assert lp.loc[(lp["dataset"] == "casia1") & (lp["metric"] == "f1"), "value"].item() == pytest.approx(0.529)


def test_beside_computes_diff_and_normalises_keys():
    ours = pd.DataFrame({
        "method": ["Unrestored", "reconwave_restorer", "reconwave_restorer", "msec_net"],
        "dataset": ["unspecified"] * 4,
        "manipulation": ["Copy-Move", "copy_move", "copy_move", "copy_move"],
        "perturbation": ["brightness", "contrast", "mean", "brightness"],
        "level": [0.5 + 1e-9, 2.0, np.nan, 0.3],  # 0.3 is not a published level
        "metric": ["psnr", "ssim", "psnr", "psnr"],
        "value": [7.0, 0.95, 30.0, 20.0],
    })
    out = pp.beside(ours, "table1")
    assert list(out.columns) == list(pp.KEYS) + ["ours", "paper", "diff"]
    assert len(out) == 4
    np.testing.assert_allclose(out["paper"].iloc[:3], [7.26, 0.93, 31.16])
    np.testing.assert_allclose(out["diff"].iloc[:3], [7.0 - 7.26, 0.95 - 0.93, 30.0 - 31.16])
    assert np.isnan(out["paper"].iloc[3]) and np.isnan(out["diff"].iloc[3])
    inner = pp.beside(ours, "table1", metric="psnr", how="inner")
    assert len(inner) == 2 and set(inner["metric"]) == {"psnr"}


def test_beside_rejects_bad_input():
    ours = pd.DataFrame({"method": ["unrestored"], "value": [1.0]})
    with pytest.raises(ValueError, match="lacks columns"):
        pp.beside(ours, "table1")
    with pytest.raises(ValueError, match="unknown join keys"):
        pp.beside(ours, "table1", on=["method", "colour"])
    # method alone does not identify a table-1 number: refuse rather than fan out
    with pytest.raises(ValueError, match="uniquely"):
        pp.beside(ours, "table1", on=["method"])
    with pytest.raises(KeyError, match="table7"):
        pp.beside(ours, "table7", on=["method"])
