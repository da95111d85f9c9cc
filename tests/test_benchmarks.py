"""The lever study's setups (benchmarks/levers.py) are valid profiles, each one change from the recipe it names."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from paper_repro import profiles

LEVERS = Path(__file__).resolve().parents[1] / "benchmarks" / "levers.py"


def _load(script: str):
    """A benchmark script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(script, LEVERS.parent / f"{script}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _readme_table(header: str) -> list[list[str]]:
    """The body rows (cells stripped) of the markdown table in docs/cpu-profile.md whose header line starts
    with ``header``."""
    readme = (LEVERS.parents[1] / "docs" / "cpu-profile.md").read_text().splitlines()
    start = next(i for i, line in enumerate(readme) if line.startswith(header))
    rows = []
    for line in readme[start + 2:]:  # past the header and its |---| line
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


@pytest.fixture(scope="module")
def levers():
    return _load("levers")


def test_every_lever_setup_builds_a_profile_and_changes_exactly_its_recipe(levers):
    cpu = profiles.get("cpu")
    assert set(levers.RECIPES) == {s["recipe"] for s in levers.SETUPS.values()}
    assert set(levers.RECIPES) <= set(levers.SETUPS)  # each recipe's own row is in the table
    for name, setup in levers.SETUPS.items():
        recipe = levers.RECIPES[setup["recipe"]]
        prof = cpu.replace(**setup["profile"])  # raises on a misspelt profile field
        for k, v in recipe.items():  # the recipe's own settings stand unless the setup changes that field
            if k not in setup["profile"] or setup["profile"][k] == v:
                assert getattr(prof, k) == (tuple(v) if isinstance(v, tuple) else v), (name, k)
        changed = {k for k, v in setup["profile"].items() if recipe.get(k) != v}
        changed |= {k for k in ("model", "loss", "seed") if setup.get(k)} | (
            {"epochs"} if setup.get("epochs_factor", 1) != 1 else set())
        if name in levers.RECIPES:
            assert not changed, name
        elif ", training seed " in name:
            assert changed == {"seed"}, name
        else:
            assert changed, f"{name} changes nothing from {setup['recipe']}"


def test_the_photos_synthetic_recipe_is_the_cpu_profiles_own(levers):
    cpu = profiles.get("cpu")
    for k, v in levers.PHOTOS_INSTEAD_OF_ONTHEFLY.items():
        assert getattr(cpu, k) == v


def test_a_batch_of_16_gets_twice_the_epochs_for_the_same_steps(levers):
    assert levers.SETUPS["photos-synthetic recipe, batch 16"]["epochs_factor"] == 2
    assert levers.SETUPS["photos-synthetic recipe, batch 16, half the steps"].get("epochs_factor", 1) == 1
    base = profiles.get("cpu", epochs={"detector": 4}, max_steps={"detector": 400})
    for budget, epochs in (("table", lambda p: p.epochs["detector"]),
                           ("main", lambda p: p.main_budget["detector"]["epochs"])):
        doubled = levers.setup_profile(base, levers.SETUPS["photos-synthetic recipe, batch 16"], budget)
        same = levers.setup_profile(base, levers.SETUPS["photos-synthetic recipe, batch 16, half the steps"], budget)
        assert doubled.batch_size == same.batch_size == 16
        assert epochs(doubled) == 2 * epochs(same) == 2 * epochs(base)


def test_heldout_predict_gives_intervals_and_a_paired_difference_against_another_run(tmp_path, capsys):
    import json

    from paper_repro import experiments as E

    mod = _load("heldout_predict")
    steps = {s: 2 for s in profiles.STAGES}
    micro = profiles.get("smoke", max_steps=steps, epochs={s: 1 for s in profiles.STAGES},
                         checkpoints_dir=tmp_path / "ck", results_dir=tmp_path / "res", figures_dir=tmp_path / "fig")
    ckpt = E.train_or_load(micro, "rw", "reconwave")
    capsys.readouterr()  # the training's own output
    common = ["--profile", "smoke", "--checkpoint", str(ckpt), "--max-images", "4", "--tta", "none"]
    assert mod.main([*common, "--out", str(tmp_path / "a")]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["n_images"] == 4 and first["f1_low"] <= first["f1"] <= first["f1_high"]
    assert first["auc_low"] <= first["auc"] <= first["auc_high"]
    # the same checkpoint on the same images: a paired difference of exactly 0
    assert mod.main([*common, "--out", str(tmp_path / "b"), "--against", str(tmp_path / "a")]) == 0
    second = json.loads(capsys.readouterr().out)
    for m in ("f1", "auc"):
        assert second[f"{m}_minus_against"] == second[f"{m}_minus_against_low"] == \
            second[f"{m}_minus_against_high"] == pytest.approx(0.0, abs=1e-9)
    # a run on other images cannot be paired
    import pandas as pd
    scores = pd.read_csv(tmp_path / "a" / "scores.csv")
    scores.iloc[:2].to_csv(tmp_path / "a" / "scores.csv", index=False)
    with pytest.raises(SystemExit, match="not in its scores.csv"):
        mod.main([*common, "--out", str(tmp_path / "c"), "--against", str(tmp_path / "a")])


def test_the_documented_lever_table_is_the_committed_study():
    """Every row of the documented lever table reads the committed CSV (rounded as printed), and every measured
    setup is in it: the prose cannot drift from the numbers."""
    import pandas as pd

    from paper_repro import experiments as E

    rows = {cells[0]: cells for cells in _readme_table("| setup (one change from the recipe) |")}
    table = E.lever_results("cpu")
    assert set(rows) - {"all-tampered mask"} == set(table["setup"])
    for _, r in table.iterrows():
        setup, steps, f1, vs, auc, ood, seconds = rows[r["setup"]]
        assert int(steps) == int(r["steps"])
        assert float(f1) == pytest.approx(r["valid_f1"], abs=5e-4)
        assert float(vs) == pytest.approx(r["f1_vs_recipe"], abs=5e-4)
        assert float(auc) == pytest.approx(r["valid_auc"], abs=5e-4)
        kinds = [float(v) for v in ood.split(" / ")]
        assert kinds == pytest.approx([r["ood_f1_splicing"], r["ood_f1_copy-move"], r["ood_f1_removal"]], abs=5e-4)
        assert float(seconds.rstrip("*")) == pytest.approx(r["train_seconds"], abs=0.5)
    trivial = rows["all-tampered mask"]
    assert float(trivial[2]) == pytest.approx(table["all_tampered_f1"].iloc[0], abs=5e-4)
    assert not pd.isna(table["recipe_f1"]).any()


def test_the_documented_main_budget_table_is_the_committed_runs():
    """The documented table of detectors trained at the main budget reads benchmarks/main-budget-cpu.csv: F1 with its
    interval, the paired difference from the shipped detector, AUC and the per-kind F1, rounded as printed."""
    import pandas as pd

    tol = 6e-4  # printed to 3 decimals from values the CSV holds to 4
    t = pd.read_csv(LEVERS.parent / "main-budget-cpu.csv")
    t = t[t["tta"] == "none"]
    names = {"shipped: Lite0, training seed 0": "EfficientNet-Lite0 (shipped, cpu profile)",
             "Lite0, training seed 1": "EfficientNet-Lite0 (shipped recipe, training seed 1)",
             "Lite1, training seed 0": "EfficientNet-Lite1 (lever study's choice)"}
    table = _readme_table("| set | detector (2000 steps) |")
    for cells in table:
        dataset = "casia1" if cells[0].startswith("held-out CASIA v1") else "photos-ood"
        rows = t[(t["detector"] == names[cells[1]]) & (t["dataset"] == dataset)].set_index("manipulation")
        every = rows.loc["all"]
        f1, interval = cells[2].split(" ", 1)
        assert float(f1) == pytest.approx(every["f1"], abs=tol)
        assert [float(v) for v in interval.strip("[]").split(", ")] == pytest.approx(
            [every["f1_low"], every["f1_high"]], abs=tol)
        if cells[3]:
            diff, interval = cells[3].split(" ", 1)
            assert [float(diff), *(float(v) for v in interval.strip("[]").split(", "))] == pytest.approx(
                [every["f1_minus_lite0"], every["f1_minus_lite0_low"], every["f1_minus_lite0_high"]], abs=tol)
        else:
            assert pd.isna(every["f1_minus_lite0"])  # the shipped detector is what the others are paired with
        assert float(cells[4]) == pytest.approx(every["auc"], abs=tol)
        for kind, v in zip(("splicing", "copy-move", "removal"), cells[5].split(" / ")):
            if v == "-":
                assert kind not in rows.index
            else:
                assert float(v) == pytest.approx(rows.loc[kind, "f1"], abs=tol)
    assert len(table) == 6


@pytest.mark.parametrize("name", ["lever-study-cpu.csv", "main-budget-cpu.csv", "decision-threshold-cpu.csv",
                                  "hparam-search-cpu.csv", "arm-budget-curve-cpu.csv"])
def test_every_benchmark_row_says_which_code_and_machine_measured_it(name):
    import re

    import pandas as pd

    t = pd.read_csv(LEVERS.parent / name)
    assert {"commit", "date", "cpu"} <= set(t.columns)
    assert t["commit"].map(lambda c: bool(re.fullmatch(r"[0-9a-f]{40}(\+uncommitted changes)?", str(c)))).all()
    assert pd.to_datetime(t["date"], utc=True).notna().all() and t["cpu"].notna().all()


def test_the_reference_manifest_pins_the_benchmark_tables_it_was_published_with():
    import json

    from paper_repro import reference

    manifest = json.loads((LEVERS.parents[1] / "reference" / "cpu" / "manifest.json").read_text())
    assert manifest["benchmarks_sha256"] == reference.benchmark_hashes(), (
        "a benchmark CSV changed: pin it in reference/cpu/manifest.json (reference.benchmark_hashes())")


def test_crop_cost_gives_one_consistent_row_per_round_and_batch_size(tmp_path, capsys):
    import pandas as pd

    mod = _load("crop_cost")
    out = tmp_path / "crop.csv"
    args = ["--profile", "smoke", "--batch-sizes", "2", "4", "--rounds", "2", "--quick", "--out", str(out)]
    assert mod.main(args) == 0
    df = pd.read_csv(out)
    assert sorted(zip(df["round"], df["batch_size"])) == [(0, 2), (0, 4), (1, 2), (1, 4)]
    assert (df["seconds_per_step"] > 0).all()
    assert df["seconds_per_step"].to_numpy() == pytest.approx((df["batch_size"] / df["images_per_second"]).to_numpy())
    assert (df["ms_per_crop"] * df["images_per_second"]).to_numpy() == pytest.approx(1000.0)
    assert {"commit", "date", "cpu", "precision"} <= set(df.columns)
    assert "smallest batch" in capsys.readouterr().out
    assert mod.main(args) == 0  # a second run appends its rows
    assert len(pd.read_csv(out)) == 8
    with pytest.raises(SystemExit):
        mod.main(["--batch-sizes", "0"])


def test_wall_time_estimate_prices_every_planned_step(capsys):
    from paper_repro.experiments import RUNS

    mod = _load("wall_time_estimate")
    smoke = profiles.get("smoke")
    prices = {m: 0.5 for m in {r.model for r in RUNS.values()} if m != "mpc-finetune"}
    plan, n, n_auth = mod.estimate(smoke, prices, classifier_seconds=2.0)
    assert set(plan["key"]) == set(RUNS) and 0 < n_auth < n
    assert (plan["seconds_per_step"] == 0.5).all()  # the head priced at MPC's whole step when not given
    assert plan["hours"].sum() * 3600 == pytest.approx(0.5 * plan["steps"].sum() + 2.0 * plan["classifier_steps"].sum())
    with pytest.raises(SystemExit, match="no step time for ncl"):
        mod.estimate(smoke, {k: v for k, v in prices.items() if k != "ncl"})
    assert mod.main(["--profile", "smoke", "--step-seconds", *[f"{k}={v}" for k, v in prices.items()]]) == 0
    assert "total:" in capsys.readouterr().out
