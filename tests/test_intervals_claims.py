"""Intervals on tidy tables (paper_repro.experiments.intervals) and the claims' bookkeeping."""
import math

import numpy as np
import pandas as pd
import pytest

from paper_repro import experiments as E
from paper_repro.experiments import claims as C
from paper_repro.experiments import intervals as I


def _per_image(method, values_by_condition, tampered=None):
    rows = []
    for (pert, lv), vals in values_by_condition.items():
        for i, v in enumerate(vals):
            rows.append(dict(method=method, dataset="d", image=f"img{i}", perturbation=pert,
                             level=np.nan if lv is None else lv, f1=v,
                             tampered=True if tampered is None else tampered[i]))
    return pd.DataFrame(rows)


def test_add_intervals_gives_each_row_its_interval_and_a_paired_difference():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.1, 0.9, 60)
    a = _per_image("a", {("clean", None): base, ("brightness", 0.5): base - 0.2})
    b = _per_image("b", {("clean", None): base - 0.1, ("brightness", 0.5): base - 0.3})
    res = pd.concat([a, b], ignore_index=True)
    tidy = pd.concat([E.tidy_sweep(a), E.tidy_sweep(b)], ignore_index=True)
    tidy = tidy[tidy["metric"] == "f1"]
    out = I.add_intervals(tidy, res, reference="a", n_resamples=500, seed=1)
    for _, r in out.iterrows():
        assert r["ci_low"] <= r["value"] <= r["ci_high"]
    b_rows = out[out["method"] == "b"]
    # b is exactly 0.1 below a on every image and condition: the paired difference is -0.1 with no spread
    assert np.allclose(b_rows["vs_ref"], -0.1) and np.allclose(b_rows["vs_ref_low"], -0.1)
    assert np.allclose(b_rows["vs_ref_high"], -0.1)
    # the aggregate row ('brightness' = mean of clean and alpha 0.5, per image) is resampled as such
    agg = out[(out["method"] == "a") & (out["perturbation"] == "brightness") & out["level"].isna()].iloc[0]
    assert agg["value"] == pytest.approx(np.mean(base - 0.1))
    assert agg["ci_low"] < agg["value"] < agg["ci_high"]


def test_per_image_leaves_authentic_images_out_and_benco_counts_them_as_zero():
    df = _per_image("a", {("clean", None): [0.5, np.nan, 1.0]}, tampered=[True, False, True])
    plain = I.per_image(df, "f1").iloc[:, 0]
    benco = I.per_image(df, "f1_benco").iloc[:, 0]
    assert plain.mean() == pytest.approx(0.75) and benco.mean() == pytest.approx(0.5)


def test_every_claim_names_known_runs_and_there_are_at_least_fifteen():
    assert len(C.CLAIMS) >= 15
    assert len({c.claim for c in C.CLAIMS}) == len(C.CLAIMS)
    C._check_runs()


def test_the_papers_difference_is_read_off_its_tables():
    dwfel = next(c for c in C.CLAIMS if c.claim == "DWFEL improves F1 (clean)")
    assert C._paper_difference(dwfel) == pytest.approx(0.475 - 0.432)  # Table 4: + DWFEL vs U-Net, clean F1
    onoff = next(c for c in C.CLAIMS if c.claim == "restoration on beats off (alpha=0.5)")
    assert C._paper_difference(onoff) == pytest.approx(0.659 - 0.399)  # Table 6 at alpha = 0.5
    restorer = next(c for c in C.CLAIMS if c.claim.startswith("the restorer beats no restoration"))
    assert C._paper_difference(restorer) == pytest.approx(31.57 - 10.86)  # the abstract's mean PSNR
    ours_only = next(c for c in C.CLAIMS if c.claim.startswith("ReConWave-Net beats LPCLNet"))
    assert math.isnan(C._paper_difference(ours_only))


def test_operating_points_average_tampered_images_of_one_condition():
    import pandas as pd

    from paper_repro.experiments import operating_points

    rows = []
    for method, rec in (("sure", 0.8), ("shy", 0.2)):
        for i in range(4):
            rows.append(dict(method=method, image=f"i{i}", label=1, perturbation="clean", precision=0.5,
                             recall=rec + 0.1 * (i % 2), f1=0.4, auc=0.9, image_score=rec))
        rows.append(dict(method=method, image="a", label=0, perturbation="clean", precision=0.0, recall=0.0,
                         f1=float("nan"), auc=float("nan"), image_score=0.99))
        rows.append(dict(method=method, image="i0", label=1, perturbation="brightness", precision=0.0, recall=0.0,
                         f1=0.0, auc=0.5, image_score=0.0))
    out = operating_points(pd.DataFrame(rows)).set_index("method")
    assert list(out.index) == ["sure", "shy"] and (out["n_images"] == 4).all()
    assert out.loc["sure", "recall"] == pytest.approx(0.85) and out.loc["shy", "recall"] == pytest.approx(0.25)
    assert out.loc["shy", "image_score"] == pytest.approx(0.2)  # the authentic image's score is left out
    assert (out["auc"] == 0.9).all()


def test_choose_threshold_takes_the_best_validation_f1_and_breaks_ties_towards_one_half():
    import pandas as pd

    from paper_repro.experiments import choose_threshold

    rows = [{"tampered": True, "f1@0.3": 0.6, "f1@0.4": 0.5, "f1@0.5": 0.2},
            {"tampered": True, "f1@0.3": 0.2, "f1@0.4": 0.5, "f1@0.5": 0.2},
            {"tampered": False, "f1@0.3": 0.0, "f1@0.4": 0.0, "f1@0.5": 0.0}]  # an authentic image: not counted
    df = pd.DataFrame(rows)
    assert choose_threshold(df, [0.3, 0.4, 0.5]) == 0.4  # tampered means 0.40 / 0.50 / 0.20
    df.loc[2, "tampered"] = True  # counted, the authentic row's zeros would not change the order
    assert choose_threshold(df, [0.3, 0.4, 0.5]) == 0.4
    tie = pd.DataFrame([{"tampered": True, "f1@0.3": 0.5, "f1@0.5": 0.5, "f1@0.7": 0.5}])
    assert choose_threshold(tie, [0.3, 0.7, 0.5]) == 0.5
    assert choose_threshold(tie.assign(**{"f1@0.5": 0.1}), [0.3, 0.7, 0.5]) in (0.3, 0.7)
    with pytest.raises(ValueError):
        choose_threshold(df.assign(tampered=False), [0.3, 0.4])
    with pytest.raises(ValueError):
        choose_threshold(df, [])


def test_each_arm_is_read_over_its_seeds_and_pooled_noise_comes_from_the_part_that_differs():
    dwfel = next(c for c in C.CLAIMS if c.claim == "DWFEL improves F1 (clean)")
    assert C._variants(dwfel, dwfel.a) == [("reconwave-dwfel", "restorer"), ("reconwave-dwfel-seed1", "restorer")]
    assert len(C._variants(dwfel, dwfel.b)) == 2  # every arm of Tables 4 and 5 has at least two seeds
    for c in C.CLAIMS:
        if c.table in ("table4", "table5"):
            assert len(C._variants(c, c.a)) >= 2 and len(C._variants(c, c.b)) >= 2, c.claim
    swin = next(c for c in C.CLAIMS if c.claim == "Swin attention beats ViT (F1, alpha=0.5)")
    assert C._variants(swin, swin.a) == [("reconwave", "restorer-table"), ("reconwave", "restorer-table-seed1")]
    assert C._own_part(swin, swin.b) == "restorer"  # the detector is shared: only the restorer's noise counts
    onoff = next(c for c in C.CLAIMS if c.claim == "restoration on beats off (clean)")
    assert C._own_part(onoff, onoff.b) is None  # no restorer: nothing trained of its own
    lpcl = next(c for c in C.CLAIMS if c.claim.startswith("ReConWave-Net beats LPCLNet"))
    assert C._variants(lpcl, lpcl.a) == [lpcl.a] and C._own_part(lpcl, lpcl.b) == "detector"
    unrestored = next(c for c in C.CLAIMS if c.claim.startswith("the restorer beats no restoration"))
    assert C._own_part(unrestored, unrestored.b) is None and C._own_part(unrestored, unrestored.a) == "restorer"


def test_a_beta_two_claim_names_its_alpha_twin_and_families_split_the_papers_claims_from_ours():
    beta = next(c for c in C.CLAIMS if c.claim == "DWFEL improves F1 (beta=2.0)")
    assert C._twin(beta, C.CLAIMS) == "DWFEL improves F1 (alpha=0.5)"
    assert C._twin(next(c for c in C.CLAIMS if c.claim == "DWFEL improves F1 (clean)"), C.CLAIMS) == ""
    mine = [c.claim for c in C.CLAIMS if c.paper_a is None]
    assert "ReConWave-Net beats LPCLNet (clean F1)" in mine and "DWFEL improves F1 (clean)" not in mine
    assert all(not math.isnan(C._paper_difference(c)) for c in C.CLAIMS if c.paper_a is not None)
