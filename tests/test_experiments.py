"""Orchestration in paper_repro.experiments: deterministic splits, cached training, tidy tables.

Trains only "micro" runs (2 optimiser steps at 64x64) into a temporary checkpoints folder.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from paper_repro import experiments as E
from paper_repro.experiments import runs, splits
from paper_repro import profiles


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    root = tmp_path_factory.mktemp("micro")
    steps = {s: 2 for s in profiles.STAGES}
    return profiles.get("smoke", max_steps=steps, epochs={s: 1 for s in profiles.STAGES},
                        checkpoints_dir=root / "ck", results_dir=root / "res", figures_dir=root / "fig")


def test_datasets_for_smoke_split_is_deterministic_and_disjoint(micro):
    train, valid, evals = E.datasets_for(micro)
    assert len(train) + len(valid) == micro.n_synthetic
    assert len(valid) == math.ceil(micro.valid_fraction * micro.n_synthetic)
    assert not set(train["image"]) & set(valid["image"])
    assert list(evals) == ["synthetic"]
    assert list(evals["synthetic"]["image"]) == list(valid["image"])[: micro.max_eval_images]
    # every manipulation (and authentic) is on both sides: the split is stratified
    assert set(splits.strata_of(train)) == set(splits.strata_of(valid)) == {"authentic", "splicing", "copy-move", "removal"}
    splits._DATA_CACHE.clear()
    train2, valid2, _ = E.datasets_for(profiles.get("smoke", checkpoints_dir=micro.checkpoints_dir))
    assert list(train2["image"]) == list(train["image"]) and list(valid2["image"]) == list(valid["image"])
    # another seed gives another split
    _, valid3, _ = E.datasets_for(micro.replace(seed=1))
    assert list(valid3["image"]) != list(valid["image"])


def test_real_profile_without_data_root_says_what_is_missing(monkeypatch):
    monkeypatch.delenv("PAPER_REPRO_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="PAPER_REPRO_DATA"):
        E.datasets_for(profiles.get("cpu"))


def test_train_or_load_trains_once_and_retrains_on_a_new_spec(micro):
    from paper_repro.train import load_model

    path = E.train_or_load(micro, "rw", "reconwave")
    assert path == micro.checkpoints_dir / "rw" / "final.pt"
    mtime = path.stat().st_mtime_ns
    again = E.train_or_load(micro, "rw", "reconwave")
    assert again == path and path.stat().st_mtime_ns == mtime  # cached, not retrained
    model = load_model(path)
    assert model.model_name == "reconwave" and model.checkpoint["stage"] == "detector"
    losses = pd.read_csv(path.parent / "losses.csv")
    assert len(losses) == 2 and np.isfinite(losses["loss"]).all()  # max_steps=2
    # a different configuration under the same key is not silently reused
    E.train_or_load(micro, "rw", "reconwave", model_cfg={"dwfel": False})
    assert path.stat().st_mtime_ns != mtime
    assert load_model(path).dwfel is False
    # tuple-valued options survive the JSON spec: still cached on the second call
    lp = E.train_or_load(micro, "lp", "lpclnet", model_cfg={"aspp_dilations": (1, 2)})
    lp_mtime = lp.stat().st_mtime_ns
    assert E.train_or_load(micro, "lp", "lpclnet", model_cfg={"aspp_dilations": (1, 2)}).stat().st_mtime_ns == lp_mtime


def test_spec_records_where_training_items_load(micro):
    # loader workers draw their own flip stream: a cached (main-process) and a worker-loaded run differ
    args = ("reconwave", {}, "detector", {}, ["fp"], None, None, {"epochs": 1}, False, None, "every_epoch")
    cached = runs._spec(micro.replace(cache_images=True, num_workers=2), *args)
    workers = runs._spec(micro.replace(cache_images=False, num_workers=2), *args)
    in_main = runs._spec(micro.replace(cache_images=False, num_workers=0), *args)
    assert cached["loader_workers"] == 0 and workers["loader_workers"] == 2
    assert cached != workers and cached == in_main
    # every field is recorded, whatever its value, with the cache schema
    from paper_repro import cache

    assert cached["schema"] == cache.SCHEMA and cached["optimizer"] == micro.optimizer
    assert {"ema", "size_policy", "crop_grid", "augment", "onthefly_tampering", "table_validation"} <= set(cached)


def test_tidy_sweep_means_are_over_tampered_images_and_levels():
    rows = []
    for img, tampered in (("a", True), ("b", True), ("c", False)):
        for pert, lv, f1 in (("clean", np.nan, 0.9), ("brightness", 0.5, 0.4), ("brightness", -0.5, 0.2),
                             ("contrast", 2.0, 0.6)):
            val = (f1 + (0.1 if img == "b" else 0.0)) if tampered else np.nan
            rows.append(dict(image=img, dataset="d1", method="m", perturbation=pert, level=lv, f1=val, iou=val,
                             auc=val, tampered=tampered))
    res = pd.DataFrame(rows)
    res2 = res.assign(dataset="d2", f1=res["f1"] + 0.2)
    t = E.tidy_sweep(pd.concat([res, res2]), metrics=("f1",))
    get = lambda ds, p, lv: t[(t.dataset == ds) & (t.perturbation == p)  # noqa: E731
                              & ((t.level == lv) if not math.isnan(lv) else t.level.isna())]["value"].item()
    assert get("d1", "clean", np.nan) == pytest.approx(0.95)
    assert get("d1", "brightness", 0.5) == pytest.approx(0.45)
    # the sweep's aggregate averages the clean column and its levels, as the "mean" of the paper's Tables 2-3
    assert get("d1", "brightness", np.nan) == pytest.approx((0.95 + 0.45 + 0.25) / 3)
    assert get("d1", "contrast", np.nan) == pytest.approx((0.95 + 0.65) / 2)
    assert get("d1", "mean", np.nan) == pytest.approx((0.45 + 0.25 + 0.65) / 3)  # clean excluded
    assert get("mean", "brightness", 0.5) == pytest.approx((0.45 + 0.65) / 2)  # mean over datasets
    assert t.loc[(t.dataset == "d1") & (t.perturbation == "clean"), "n_images"].item() == 2


def test_tidy_sweep_reports_benco_aggregation_beside_ours():
    """f1_benco / iou_benco: IMDL-BenCo's mean over every image with authentic images as 0."""
    rows = []
    for img, tampered, f1 in (("a", True, 0.8), ("b", True, 0.4), ("c", False, np.nan), ("d", False, np.nan)):
        rows.append(dict(image=img, dataset="d1", method="m", perturbation="clean", level=np.nan, f1=f1, iou=f1,
                         auc=f1, tampered=tampered))
    t = E.tidy_sweep(pd.DataFrame(rows))
    val = lambda m: t[(t.metric == m) & (t.perturbation == "clean")]["value"].item()  # noqa: E731
    assert val("f1") == pytest.approx(0.6)  # ours: tampered images only
    assert val("f1_benco") == pytest.approx((0.8 + 0.4 + 0 + 0) / 4)  # BenCo: every image, authentic = 0
    assert val("iou_benco") == pytest.approx(0.3)
    assert t[(t.metric == "f1_benco") & (t.perturbation == "clean")]["n_images"].item() == 4


def test_table1_and_table6_on_a_micro_profile(micro):
    t1 = E.table1_restoration(micro)
    assert list(t1.columns[:len(E.TIDY_COLUMNS)]) == E.TIDY_COLUMNS
    ours = t1[t1["dataset"] != "(paper)"]
    assert set(ours["method"]) == {"unrestored", "classical", "reconwave_restorer", "oracle"}
    assert np.isfinite(ours["value"]).all()
    # the oracle knows the disturbance: no restorer, learned or classical, beats it at any level
    psnr = ours[(ours.manipulation == "all") & (ours.metric == "psnr")].pivot_table(
        index=["perturbation", "level"], columns="method", values="value")
    for m in ("unrestored", "classical", "reconwave_restorer"):
        assert (psnr["oracle"] >= psnr[m] - 1e-6).all(), m
    # the paper's copy-move numbers are joined to ours; the paper-only rows carry no value of ours
    row = ours[(ours.method == "unrestored") & (ours.manipulation == "copy-move") & (ours.perturbation == "brightness")
               & (ours.level == 0.5) & (ours.metric == "psnr")]
    assert row["paper"].item() == pytest.approx(7.26)
    assert row["diff"].item() == pytest.approx(row["value"].item() - 7.26)
    assert t1.loc[t1.method == "retinexformer", "value"].isna().all()
    # moment matching undoes most of a global gain / offset: the classical correction beats no restoration
    mean = ours[(ours.manipulation == "all") & (ours.perturbation == "mean") & (ours.metric == "psnr")]
    assert mean.set_index("method")["value"]["classical"] > mean.set_index("method")["value"]["unrestored"]

    t6 = E.table6_restoration_onoff(micro)
    assert list(t6.columns[:1 + len(E.TIDY_COLUMNS)]) == ["restoration"] + E.TIDY_COLUMNS
    assert set(t6["restoration"]) == {"none", "classical", "learned", "reference"}
    assert set(t6["metric"]) == {"f1", "iou", "auc", "f1_benco", "iou_benco"}
    models = t6[t6["restoration"] != "reference"]
    vals = models["value"].dropna()
    assert len(vals) == len(models) and ((vals >= 0) & (vals <= 1)).all()
    # the all-tampered reference stands beside the models: F1 = 2p / (1 + p) per tampered image, AUC 0.5
    ref = t6[(t6["method"] == E.REFERENCE) & (t6["perturbation"] == "clean")].set_index("metric")["value"]
    assert 0 < ref["f1"] <= 1 and ref["iou"] <= ref["f1"] and ref["auc"] == pytest.approx(0.5)
    # Table 6 does not name its dataset: its rows stand beside our first evaluation set, at its conditions
    from paper_repro import paper as pp

    ref = pp.paper_numbers("reconwave", "table6")
    matched = t6[t6["paper"].notna()]
    assert set(matched["method"]) == {"reconwave", "reconwave+restorer"}  # the classical row is ours only
    assert set(zip(matched["perturbation"], matched["level"].fillna(-1))) == {
        ("clean", -1), ("brightness", 0.5), ("contrast", 2.0)}
    for _, r in matched.iterrows():
        lv = ref["level"].isna() if np.isnan(r["level"]) else ref["level"] == r["level"]
        want = ref.loc[(ref["method"] == r["method"]) & (ref["perturbation"] == r["perturbation"]) & lv
                       & (ref["metric"] == r["metric"]), "value"].item()
        assert r["paper"] == want and r["diff"] == pytest.approx(r["value"] - want)
    assert "paper_missing" not in t6.attrs
    s = E.summarize(t6, index="restoration")
    conditions = ("clean", "brightness", "contrast", "mean")
    assert list(s.columns) == [f"{m} {p}" for m in ("f1", "f1_benco", "iou", "iou_benco", "auc") for p in conditions]
    # the evaluation was cached: a second call reads it back identically
    pd.testing.assert_frame_equal(E.table6_restoration_onoff(micro), t6)


def test_profile_budgets_per_table_and_main_and_loss_kwargs_merge():
    p = profiles.get("smoke", max_steps={"detector": 5}, main_budget={"detector": {"max_steps": 50, "epochs": 9}},
                     loss_kwargs={"reconwave": {"pos_weight": 3.0}})
    assert p.stage("detector")["max_steps"] == 5 and p.stage("detector", "table") == p.stage("detector")
    main = p.stage("detector", "main")
    assert main["max_steps"] == 50 and main["epochs"] == 9 and main["lr"] == p.lr["detector"]
    assert p.stage("restorer", "main") == p.stage("restorer")  # no main budget for it: the table's
    with pytest.raises(KeyError, match="budget"):
        p.stage("detector", "reconwave-plain")  # budgets are per table, never per run key
    cpu = profiles.get("cpu")
    table_rows = [k for k, r in E.RUNS.items() if r.budget == "table" and r.stage == "detector"]
    assert len({cpu.stage("detector", E.RUNS[k].budget)["max_steps"] for k in table_rows}) == 1
    assert p.loss_cfg("reconwave") == {"pos_weight": 3.0}
    assert p.loss_cfg("reconwave", pos_weight=1.0, contrastive_weight=0.0) == {"pos_weight": 1.0,
                                                                              "contrastive_weight": 0.0}
    assert p.loss_cfg("ncl") == {}
    with pytest.raises(ValueError, match="authentic_fraction"):
        profiles.get("smoke", authentic_fraction=1.5)


def test_keep_authentic_drops_a_seeded_share_of_authentic_rows_only():
    df = pd.DataFrame({"image": [f"i{k}" for k in range(40)], "label": [0] * 30 + [1] * 10})
    half = runs._keep_authentic(df, 0.5, seed=0)
    assert (half["label"] == 1).sum() == 10 and (half["label"] == 0).sum() == 15
    assert list(half.index) == sorted(half.index)  # manifest order kept
    assert list(runs._keep_authentic(df, 0.5, seed=0)["image"]) == list(half["image"])
    assert list(runs._keep_authentic(df, 0.5, seed=1)["image"]) != list(half["image"])
    assert (runs._keep_authentic(df, 0.0, seed=0)["label"] == 1).all()
    assert runs._keep_authentic(df, 1.0, seed=0) is df


def test_train_or_load_uses_the_run_schedule_and_profile_loss_kwargs(micro):
    import json

    p = micro.replace(main_budget={"detector": {"max_steps": 1}}, loss_kwargs={"reconwave": {"pos_weight": 2.0}},
                      authentic_fraction=0.0)
    path = E.train_or_load(p, "rw-short", "reconwave", budget="main")
    spec = json.loads((path.parent / "spec.json").read_text())
    assert spec["schedule"]["max_steps"] == 1 and spec["loss_cfg"] == {"pos_weight": 2.0}
    assert len(pd.read_csv(path.parent / "losses.csv")) == 1
    assert json.loads((path.parent / "budget.json").read_text())["steps"] == 1
    assert E.run_budget(p, "no-such-run") == {"steps": 0, "params": 0, "encoder": "none"}
    # authentic images are left out of the detector's training data: another data fingerprint
    full = json.loads((E.train_or_load(micro, "rw", "reconwave").parent / "spec.json").read_text())
    assert spec["data"][0] != full["data"][0] and spec["data"][1] == full["data"][1]


def test_lever_results_reads_the_benchmark_table_or_names_the_command(tmp_path, monkeypatch):
    from paper_repro import profiles

    prof = profiles.get("smoke")
    with pytest.raises(FileNotFoundError, match="benchmarks/levers.py"):
        E.lever_results(prof, tmp_path / "benchmarks")
    (tmp_path / "benchmarks").mkdir()
    path = tmp_path / "benchmarks" / "lever-study-smoke.csv"
    pd.DataFrame({"setup": ["cpu recipe", "plain"], "steps": [400, 400], "valid_f1": [0.4, 0.35],
                  "valid_iou": [0.3, 0.25], "valid_auc": [0.85, 0.8], "all_tampered_f1": [0.15, 0.15]}).to_csv(
        path, index=False)
    t = E.lever_results(prof, tmp_path / "benchmarks")
    assert list(t["setup"]) == ["cpu recipe", "plain"]
    assert t["f1_vs_recipe"].tolist() == pytest.approx([0.0, -0.05])
    # two recipes: each row is read against the mean of its own recipe's seeds
    pd.DataFrame({"setup": ["cpu recipe", "cpu recipe, training seed 1", "plain", "new", "new, training seed 1",
                            "new + crop"],
                  "recipe": ["cpu recipe"] * 3 + ["new"] * 3, "steps": 400,
                  "valid_f1": [0.4, 0.3, 0.35, 0.5, 0.6, 0.7], "valid_iou": 0.3, "valid_auc": 0.8,
                  "all_tampered_f1": 0.15, "train_seconds": [60, 120, 180, 60, 60, 600]}).to_csv(path, index=False)
    t = E.lever_results(prof, tmp_path / "benchmarks")
    assert t["recipe_f1"].tolist() == pytest.approx([0.35] * 3 + [0.55] * 3)
    assert t["f1_vs_recipe"].tolist() == pytest.approx([0.05, -0.05, 0.0, -0.05, 0.05, 0.15])
    noise = E.lever_noise(t).set_index("recipe")
    # two seeds each: sd of (0.4, 0.3) and of (0.5, 0.6) is 0.0707; "new + crop" (+0.15) is beyond 2 sd, "plain" not
    assert noise["seeds"].tolist() == [2, 2] and noise["seed_sd"].tolist() == pytest.approx([0.0707107] * 2)
    assert noise.loc["new", "beyond_noise"] == "new + crop (+0.150)" and noise.loc["cpu recipe", "beyond_noise"] == ""
    assert noise.loc["new", "train_min_high"] == pytest.approx(10.0)
    pd.DataFrame({"setup": ["a"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="missing columns"):
        E.lever_results(prof, tmp_path / "benchmarks")


def test_shipped_detector_scores_every_held_out_tampered_image_beside_the_all_tampered_mask(micro):
    from paper_repro.data import read_pair

    capped = micro.replace(max_eval_images=4)  # the tables' sample cap does not apply here
    t = E.shipped_detector(capped, tta=("none", "flips"))
    _, valid, _ = E.datasets_for(micro.replace(max_eval_images=None))
    tampered = valid[valid["label"].astype(int) == 1]
    assert len(tampered) > 4
    assert set(t["dataset"]) == {"synthetic"} and list(dict.fromkeys(t["tta"])) == ["none", "flips"]
    pooled = t[t["manipulation"] == "all"].set_index("tta")
    assert pooled.loc["none", "n_images"] == len(tampered)
    kinds = t[(t["manipulation"] != "all") & (t["tta"] == "none")]
    assert kinds["n_images"].sum() == len(tampered)
    assert set(kinds["manipulation"]) == set(tampered["manipulation"])
    # the trivial reference: F1 of an all-ones mask is 2p / (1 + p), p the tampered fraction of each image
    p = np.array([read_pair(r)[1].mean() for _, r in tampered.iterrows()])  # stored at the evaluation size
    assert pooled.loc["none", "all_tampered_f1"] == pytest.approx(float(np.mean(2 * p / (1 + p))), abs=1e-6)
    assert (t["margin"] - (t["f1"] - t["all_tampered_f1"])).abs().max() < 1e-9
    for m in ("f1", "auc", "margin"):
        assert ((t[f"{m}_low"] <= t[m] + 1e-12) & (t[m] <= t[f"{m}_high"] + 1e-12)).all()
    assert (t["steps"] > 0).all() and set(t["encoder"]) == {"scratch"}
    # flip averaging is a different prediction of the same images (an untrained model is not flip-symmetric)
    assert pooled.loc["none", "auc"] != pytest.approx(pooled.loc["flips", "auc"], abs=1e-9)


def test_versus_reference_says_when_a_model_learned_nothing():
    s = pd.DataFrame({"f1 clean": [0.46, 0.19, 0.09, 0.16]},
                     index=pd.Index(["reconwave", "lpclnet", "mpc", E.REFERENCE], name="method"))
    v = E.versus_reference(s)
    assert list(v.index) == ["reconwave", "lpclnet", "mpc"]
    assert list(v["verdict"]) == ["above the reference", "learned nothing", "learned nothing"]
    assert v.loc["lpclnet", "above"] == pytest.approx(0.03)
    with pytest.raises(ValueError, match="all-tampered"):
        E.versus_reference(s.drop(index=E.REFERENCE))


def test_a_smaller_grid_is_read_from_the_full_sweep_without_evaluating_again(micro):
    full = E.sweep_results(micro, E.REFERENCE, None)
    evals = Path(micro.checkpoints_dir) / "_evals"
    before = sorted(p.name for p in evals.iterdir())
    small = E.sweep_results(micro, E.REFERENCE, None, grid=E.ablation_grid(micro))
    assert sorted(p.name for p in evals.iterdir()) == before  # nothing computed, nothing cached anew
    assert set(zip(small["perturbation"], small["level"].fillna(-1))) == {("clean", -1), ("brightness", 0.5),
                                                                         ("contrast", 2.0)}
    want = full[full["perturbation"].eq("clean") | (full["perturbation"].eq("brightness") & full["level"].eq(0.5))
                | (full["perturbation"].eq("contrast") & full["level"].eq(2.0))]
    pd.testing.assert_frame_equal(small.reset_index(drop=True), want.reset_index(drop=True))


def test_a_training_seed_changes_the_weights_not_the_data(micro):
    import json

    a = E.train_or_load(micro, "rw", "reconwave")
    b = E.train_or_load(micro, "rw-seed1", "reconwave", seed=1)
    sa, sb = (json.loads((x.parent / "spec.json").read_text()) for x in (a, b))
    assert sa["data"] == sb["data"] and sa["seed"] == micro.seed and sb["seed"] == 1
    wa, wb = (torch.load(x, map_location="cpu", weights_only=False)["state_dict"] for x in (a, b))
    assert any(not torch.equal(wa[k], wb[k]) for k in wa)


def test_augmented_and_plain_detectors_have_different_specs(micro):
    import json

    plain = E.train_or_load(micro, "rw", "reconwave")
    aug = E.train_or_load(micro, "rw-aug", "reconwave", disturbance_cfg={})
    sp, sa = (json.loads((x.parent / "spec.json").read_text()) for x in (plain, aug))
    assert sa["augment"] is True and sp["augment"] is False  # the evaluation caches cannot mix them up


def test_training_is_deterministic_wherever_it_runs(tmp_path):
    """The same spec trained twice, in two different folders, gives byte-identical final.pt files."""
    import hashlib

    def trained(where):
        p = profiles.get("smoke", max_steps={s: 2 for s in profiles.STAGES}, epochs={s: 1 for s in profiles.STAGES},
                         checkpoints_dir=where / "ck", results_dir=where / "res", figures_dir=where / "fig")
        return hashlib.sha256(E.train_or_load(p, "rw", "reconwave").read_bytes()).hexdigest()

    assert trained(tmp_path / "one") == trained(tmp_path / "two" / "deeper")


def test_restorers_share_a_pretrained_classifier_with_the_same_weights_as_training_it(micro, tmp_path, capsys):
    import torch

    from paper_repro.train import load_model

    def classifier_of(path):
        return load_model(path).classifier.state_dict()

    prof = micro.replace(checkpoints_dir=tmp_path / "ck", classifier_pretrain={"steps": 6, "batch": 2, "views": 2})
    first = E.train_or_load(prof, "res-a", "restorer")
    assert "loaded from" not in capsys.readouterr().out
    cached = list((tmp_path / "ck" / "_classifiers").glob("*.pt"))
    assert len(cached) == 1
    # a second restorer of the same profile (another loss) loads the classifier instead of training it
    second = E.train_or_load(prof, "res-b", "restorer", loss_cfg={"forensic": False})
    assert f"loaded from {cached[0].name}" in capsys.readouterr().out
    # and it is the classifier a fresh pretraining gives (cache removed, same run retrained)
    fresh_dir = tmp_path / "fresh"
    fresh = E.train_or_load(prof.replace(checkpoints_dir=fresh_dir), "res-b", "restorer", loss_cfg={"forensic": False})
    for a, b in ((first, second), (second, fresh)):
        sa, sb = classifier_of(a), classifier_of(b)
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert all(torch.equal(v, load_model(fresh).state_dict()[k]) for k, v in load_model(second).state_dict().items())
    # another seed is another classifier: not shared
    E.train_or_load(prof.replace(seed=1), "res-c", "restorer")
    assert "loaded from" not in capsys.readouterr().out
    assert len(list((tmp_path / "ck" / "_classifiers").glob("*.pt"))) == 2


def test_planned_steps_are_the_steps_a_training_takes(micro):
    import json

    for epochs, max_steps, onthefly in ((2, 3, 0.0), (1, None, 1 / 3), (1, None, 0.0)):
        p = micro.replace(epochs={"detector": epochs}, max_steps={"detector": max_steps}, authentic_fraction=0.5,
                          onthefly_tampering=onthefly)
        train = E.datasets_for(p)[0]
        path = E.train_or_load(p, f"rw-plan-{epochs}-{onthefly:.2f}", "reconwave")
        taken = json.loads((path.parent / "budget.json").read_text())["steps"]
        plan = E.planned_steps(p, len(train), int((train["label"].astype(int) == 0).sum()), keys=["reconwave-table"])
        assert plan["steps"].tolist() == [taken] and taken > 0
    assert taken == (len(train) - int((train["label"].astype(int) == 0).sum() * 0.5 + 0.5)) // p.batch_size


def test_planned_steps_count_a_shared_classifier_once_per_seed():
    cpu = profiles.get("cpu")
    plan = E.planned_steps(cpu, 1000, 200).set_index("key")
    assert plan.loc["reconwave", "steps"] == cpu.main_budget["detector"]["max_steps"]
    assert plan.loc["reconwave-table", "steps"] == cpu.max_steps["detector"]
    restorers = plan[plan["stage"] == "restorer"]
    assert sorted(restorers["classifier_steps"][restorers["classifier_steps"] > 0].index) == \
        ["restorer", "restorer-table-seed1"]  # seed 0 (the shipped restorer's) and seed 1
    assert (plan.loc[plan["stage"] != "restorer", "classifier_steps"] == 0).all()
    with pytest.raises(ValueError, match="n_authentic"):
        E.planned_steps(cpu, 10, 11)
