"""Published-number tables (paper_repro/paper_numbers/*.csv) and the `beside` comparison helper."""
from pathlib import Path

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


SHARED_TABLES = Path(__file__).resolve().parents[2] / "shared" / "paper" / "reconwave_net_tables.csv"


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
        # a level exactly where the paper printed one (alpha=... / beta=... columns)
        printed = df["column"].str.startswith(("alpha=", "beta="))
        assert df.loc[printed, "level"].notna().all() and df.loc[~printed, "level"].isna().all()
        # one number per key and column within a table
        assert not df.duplicated(["table", *pp.KEYS, "column"]).any()
    assert set(others["paper"]) <= set(pp.PAPERS)


@pytest.mark.skipif(not SHARED_TABLES.is_file(), reason=f"transcription of the tables not found at {SHARED_TABLES}")
@pytest.mark.parametrize("n", range(1, 9))
def test_every_table_equals_the_published_transcription(n):
    src = pd.read_csv(SHARED_TABLES, dtype=str, keep_default_na=False)
    expected = pp.from_published_table(SHARED_TABLES)
    expected = expected[expected["table"] == f"table{n}"].reset_index(drop=True)
    got = pp.paper_numbers("reconwave", f"table{n}")
    assert len(got) == len(expected) == (src["table"] == str(n)).sum()
    pd.testing.assert_frame_equal(got[list(pp.COLUMNS)].reset_index(drop=True), expected[list(pp.COLUMNS)],
                                  check_dtype=False)
    # value for value against the source file, row order kept
    np.testing.assert_array_equal(got["value"].to_numpy(), src.loc[src["table"] == str(n), "value"].astype(float))


def test_tables_2_3_mean_is_mean_of_clean_and_four_levels(rw):
    checked = 0
    for t, pert in (("table2", "brightness"), ("table3", "contrast")):
        d = rw[rw["table"] == t]
        for (method, ds, metric), g in d.groupby(["method", "dataset", "metric"]):
            five = g[g["column"].str.startswith("level ") | (g["perturbation"] == "clean")]["value"]
            mean = g.loc[(g["perturbation"] == pert) & g["level"].isna() & ~g["column"].str.startswith("level "),
                         "value"]
            assert len(five) == 5 and len(mean) == 1, (t, method, ds, metric)
            assert abs(five.mean() - mean.iloc[0]) <= 0.011, (t, method, ds, metric, five.tolist(), mean.iloc[0])
            checked += 1
    assert checked == 2 * 6 * 4 * 2  # two tables x six methods x four datasets x (F1, IoU)


def test_tables_2_3_share_the_clean_column_and_cover_all_datasets_and_baselines(rw):
    clean = rw[rw["table"].isin(["table2", "table3"]) & (rw["perturbation"] == "clean")]
    wide = clean.pivot_table(index=["method", "dataset", "metric"], columns="table", values="value")
    assert len(wide) == 6 * 4 * 2 and (wide["table2"] == wide["table3"]).all()
    assert set(clean["dataset"]) == {"casia1", "columbia", "coverage", "dso1"}
    assert set(clean["method"]) == {"reconwave+restorer", "mvss_net", "pscc_net", "trufor", "mgqformer", "safire"}


def test_full_model_row_is_the_same_in_tables_4_to_8(rw):
    full = {"table4": "reconwave", "table5": "reconwave", "table6": "reconwave+restorer", "table7": "restorer",
            "table8": "restorer"}
    for t, method in full.items():
        g = rw[(rw["table"] == t) & (rw["method"] == method) & (rw["metric"] == "f1")]
        got = {(p, None if np.isnan(lv) else lv): v for p, lv, v in zip(g["perturbation"], g["level"], g["value"])}
        assert got == {("clean", None): 0.730, ("brightness", 0.5): 0.659, ("contrast", 2.0): 0.655}, t
        assert set(rw.loc[rw["table"] == t, "dataset"]) == {"unspecified"}


def test_table5_symlet_iou_above_f1_is_kept_and_flagged(rw):
    g = rw[(rw["table"] == "table5") & (rw["method"] == "reconwave-sym4") & (rw["perturbation"] == "clean")]
    vals = dict(zip(g["metric"], g["value"]))
    assert vals == {"f1": 0.662, "iou": 0.694}
    assert any("typo" in why for why in pp.SUSPECT_VALUES.values())


def test_no_reconwave_table_is_listed_missing():
    assert not [k for k in pp.MISSING_TABLES if k.startswith("reconwave/")]
    for n in range(1, 9):
        assert len(pp.paper_numbers("reconwave", f"table{n}")) > 0


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
    assert checked == 4 * 3 * 2  # 4 methods x 3 forgery types x (psnr, ssim)


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
    assert len(both) == 3 * 4  # three forgery types x four levels
    assert (both["reconwave_restorer"] > both["unrestored"] + 10).all()


def test_paper_levels_match_csv(rw):
    for table, grid in pp.PAPER_LEVELS.items():
        t = rw[rw["table"] == table]
        for pert, levels in grid.items():
            assert set(t.loc[t["perturbation"] == pert, "level"]) == set(levels)


def test_missing_table_raises_with_reason_and_paper_filter_works():
    with pytest.raises(KeyError, match="no per-dataset numbers"):
        pp.paper_numbers("ncl", "table2")
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
    with pytest.raises(KeyError, match="table9"):
        pp.beside(ours, "table9", on=["method"])


def test_the_papers_baselines_name_its_own_row_by_the_paper_not_by_a_run_key():
    from paper_repro import experiments as E

    rows = list(E.paper_baselines(metric="f1").index)
    assert "ReConWave-Net (the paper's)" in rows
    assert not set(rows) & (set(E.RUNS) | {"reconwave+restorer"})
