"""The registries: one class for every named family, one door to a model, one list of results tables, and a
detector added from outside the package through a run line and a smoke table."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from paper_repro import profiles
from paper_repro.registry import Registry

ROOT = Path(__file__).resolve().parents[1]


def test_registry_refuses_a_second_registration_and_names_what_it_has():
    reg = Registry("widget")
    reg.register("a", 1, colour="red")

    @reg.register("b")
    def b():
        return 2

    assert list(reg) == ["a", "b"] and reg["b"] is b and len(reg) == 2 and "a" in reg
    assert reg.meta("a") == {"colour": "red"}
    with pytest.raises(ValueError, match="widget 'a' is registered twice"):
        reg.register("a", 3)
    with pytest.raises(KeyError, match="unknown widget 'c'; registered: a, b"):
        reg["c"]
    assert reg.unregister("a") == 1 and list(reg) == ["b"]


def test_every_family_uses_the_one_registry():
    from paper_repro import perturb
    from paper_repro.data import DATASETS
    from paper_repro.losses.registry import LOSSES
    from paper_repro.models import MODELS, REFERENCE_KINDS
    from paper_repro.results import TABLES

    for reg in (perturb.PERTURBATIONS, DATASETS, LOSSES, MODELS, REFERENCE_KINDS, TABLES):
        assert isinstance(reg, Registry) and len(reg) > 0
    with pytest.raises(ValueError, match="registered twice"):
        MODELS.register("reconwave", lambda **cfg: None)
    with pytest.raises(KeyError, match="unknown dataset 'nope'"):
        from paper_repro.data import manifest

        manifest("nope", "/tmp")


def test_a_registered_dataset_is_read_by_manifest(tmp_path):
    from paper_repro.data import DATASETS, image_row, manifest, register_dataset

    (tmp_path / "a.png").write_bytes(b"")

    @register_dataset("test-flat", "root/*.png, all authentic")
    def _flat(root, ctx):
        ctx.report.append("flat folder")
        return [image_row(p, label=0) for p in sorted(Path(root).glob("*.png"))]

    try:
        df = manifest("test-flat", tmp_path)
        assert len(df) == 1 and df["label"].tolist() == [0] and df["dataset"].tolist() == ["test-flat"]
        assert "flat folder" in df.attrs["report"]
    finally:
        DATASETS.unregister("test-flat")


def test_one_door_loads_a_module_a_file_a_name_and_a_run_key(tmp_path):
    from paper_repro.experiments import RUNS, checkpoint
    from paper_repro.models import UnknownModelError, create, load

    net = create("reconwave", **profiles.get("smoke").model_cfg("reconwave"))
    assert load(net) is net and not net.training
    payload = {"model_name": "reconwave", "model_cfg": dict(net.model_cfg), "state_dict": net.state_dict()}
    torch.save(payload, tmp_path / "final.pt")
    back = load(tmp_path / "final.pt")
    assert all(torch.equal(back.state_dict()[k], v) for k, v in net.state_dict().items())
    assert type(load("restore-oracle")).__name__ == "KnownDisturbanceInverse"
    with pytest.raises(UnknownModelError, match="neither a checkpoint file nor a registered model, a run key"):
        load("no-such-thing")
    with pytest.raises(FileNotFoundError):  # an unknown reference is also what a missing file raises
        load(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="needs a profile"):
        load("reconwave-table")
    prof = profiles.get("smoke", checkpoints_dir=tmp_path / "ck", epochs={"restorer": 1}, max_steps={"restorer": 2})
    assert "restorer-table" in RUNS
    model = load("restorer-table", prof)
    assert model.checkpoint_path == str(checkpoint(prof, "restorer-table"))
    # "restorer" is a run key and a model name: with a profile it is the profile's trained run
    prof = prof.replace(main_budget={"restorer": {"epochs": 1, "max_steps": 2}})
    assert load("restorer", prof).checkpoint_path == str(checkpoint(prof, "restorer"))
    assert not hasattr(load("restorer"), "checkpoint_path")  # without one: the model of that name


def test_the_oracles_are_registered_restorers_that_are_told_the_disturbance():
    from paper_repro import perturb as P
    from paper_repro.models import load

    x = torch.rand(2, 3, 16, 16)
    y = P.brightness(x, 0.5)
    for name, clean in (("restore-oracle", x), ("restore-known", None)):
        got = load(name)(y, perturbation="brightness", level=0.5, clean=x)["restored"]
        assert torch.equal(got, P.invert(y, "brightness", 0.5, clean=clean))
    assert not torch.equal(load("restore-oracle")(y, perturbation="brightness", level=0.5, clean=x)["restored"],
                           load("restore-known")(y, perturbation="brightness", level=0.5, clean=x)["restored"])


# ------------------------------------------------------------------------------------------ results tables
def _saved_names(nb: Path) -> set[str]:
    src = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
    return set(re.findall(r"(?:save_table|compare_with_paper)\([^\"]*?\"([a-z0-9_]+)\"", src))


def test_the_catalog_lists_exactly_the_tables_each_notebook_writes():
    from paper_repro.results import written_by

    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert len(notebooks) == 10
    for nb in notebooks:
        assert _saved_names(nb) == set(written_by(nb.name[:2])), nb.name


def test_every_catalogued_function_exists_and_every_table_figure_names_a_table():
    import importlib

    from paper_repro.report import TABLE_FIGURES
    from paper_repro.results import TABLES

    for name in TABLES:
        fn = TABLES[name].function
        if fn:
            module, _, attr = fn.rpartition(".")
            assert callable(getattr(importlib.import_module(module), attr)), fn
    assert {table for table, _ in TABLE_FIGURES.values()} <= set(TABLES)


def test_save_table_refuses_an_unregistered_name(tmp_path):
    import pandas as pd

    from paper_repro import report

    prof = profiles.get("smoke", results_dir=tmp_path)
    assert report.save_table(pd.DataFrame({"a": [1]}), prof, "seed_noise").name == "seed_noise.csv"
    with pytest.raises(KeyError, match="unknown results table 'my_table'"):
        report.save_table(pd.DataFrame({"a": [1]}), prof, "my_table")


# ---------------------------------------------------------------------------------- adding a detector
class _ToyDetector(nn.Module):
    """A 1x1 convolution: the smallest detector the contract allows (``logits`` at the input's size)."""

    def __init__(self, width: int = 4):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 1, 1))

    def forward(self, x):
        return {"logits": self.conv(x)}


class _ToyLoss(nn.Module):
    def forward(self, outputs, mask, **extra):
        bce = nn.functional.binary_cross_entropy_with_logits(outputs["logits"], mask)
        return bce, {"bce": bce.detach()}


def test_a_detector_added_from_outside_runs_through_the_method_comparison(tmp_path, monkeypatch):
    """Adding a detector: its model (one registration), its loss (one registration) and one run line; the
    method comparison then trains it, scores it beside ReConWave-Net and the all-tampered reference, and
    counts its steps."""
    from paper_repro.experiments import RUNS, Run, method_comparison, run_budget
    from paper_repro.losses.registry import LOSSES, register_loss
    from paper_repro.models import MODELS, register

    register("toy-detector")(lambda **cfg: _ToyDetector(**cfg))
    register_loss("toy-detector")(lambda **cfg: _ToyLoss())
    monkeypatch.setitem(RUNS, "toy", Run("toy-detector", "detector", label="toy detector", compare=True))
    try:
        prof = profiles.get("smoke", checkpoints_dir=tmp_path / "ck", results_dir=tmp_path / "res",
                            figures_dir=tmp_path / "fig", n_bootstrap=50)
        table = method_comparison(prof, methods=["toy"])
        assert {"toy", "reconwave-table+restorer-table", "all-tampered"} <= set(table["method"])
        toy = table[(table["method"] == "toy") & (table["metric"] == "f1") & (table["perturbation"] == "clean")]
        assert len(toy) >= 1 and toy["value"].between(0, 1).all() and toy["vs_ref"].notna().all()
        assert (toy["steps"] == run_budget(prof, "toy")["steps"]).all() and toy["steps"].iloc[0] > 0
    finally:
        MODELS.unregister("toy-detector")
        LOSSES.unregister("toy-detector")


def test_training_stages_are_registered_objects_matching_the_profiles_list():
    from paper_repro.train import MASK_STAGES, make_learner
    from paper_repro.train.stages import STAGES as TRAINING_STAGES

    assert tuple(TRAINING_STAGES) == profiles.STAGES and MASK_STAGES == ("detector", "finetune")
    assert TRAINING_STAGES["restorer"].loss_extras == ("clean", "disturbance", "strength")
    assert not TRAINING_STAGES["restorer"].ema and TRAINING_STAGES["detector"].ema
    with pytest.raises(ValueError, match="unknown stage 'nope'"):
        make_learner("reconwave", None, profile="smoke", stage="nope")


def test_a_cache_entry_is_keyed_by_its_whole_spec_and_the_schema(tmp_path, monkeypatch):
    from paper_repro import cache

    calls = []

    def compute():
        calls.append(1)
        return {"n": len(calls)}

    read = lambda p: json.loads(p.read_text())  # noqa: E731
    write = lambda v, p: p.write_text(json.dumps(v))  # noqa: E731
    a = cache.entry(tmp_path, "sweep", {"det": "x", "size": [64, 64]})
    assert a.name.startswith("sweep-") and a == cache.entry(tmp_path, "sweep", {"size": (64, 64), "det": "x"})
    assert cache.get_or_compute(a, compute, read, write) == {"n": 1}
    assert cache.get_or_compute(a, compute, read, write) == {"n": 1} and len(calls) == 1  # read back
    assert cache.entry(tmp_path, "sweep", {"det": "y", "size": [64, 64]}) != a
    a.write_text("{broken")
    assert cache.get_or_compute(a, compute, read, write) == {"n": 2}  # a broken entry is recomputed
    monkeypatch.setattr(cache, "SCHEMA", cache.SCHEMA + 1)
    assert cache.entry(tmp_path, "sweep", {"det": "x", "size": [64, 64]}) != a  # a new schema: a new entry
    assert not list(tmp_path.glob("*.tmp"))
