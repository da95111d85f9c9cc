"""The ``paper`` profile's own code paths, run small on the CPU on every commit.

The ``paper`` profile (GPU, 512 px) differs from ``smoke`` / ``cpu`` in branches that no other test takes: an
uncached loader with worker processes (``cache_images=False``, ``num_workers`` > 0), channels-last,
``checkpoint_every``, the paper-sized model presets, its dataset specs (``photos-synthetic``, ``casia1:train``,
``casia1:test``, ``*`` when the real data is present) and automatic precision selection (bf16 or fp32 on a CPU,
never fp16). This test keeps every one of those settings and shrinks only the image size, the step budget and
the evaluation sets, then trains the restorer, ReConWave-Net and MPC's two stages through
:func:`paper_repro.experiments.checkpoint` and runs one sweep.
"""
from __future__ import annotations

import json

import pytest
import torch

from paper_repro import experiments as E
from paper_repro import profiles
from paper_repro.config import data_root
from paper_repro.train.callbacks import resolve_precision


@pytest.fixture(scope="module")
def paper_small(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    real = data_root()
    overrides = dict(
        image_size=64, batch_size=4, num_workers=2, checkpoint_every=1, max_eval_images=6, eval_batch_size=4,
        epochs={s: 1 for s in profiles.STAGES}, max_steps={s: 3 for s in profiles.STAGES},
        classifier_pretrain={"steps": 20},  # the restorer's classifier pretraining is a step budget too
        alphas=(0.5,), betas=(2.0,), n_synthetic=24, synthetic_size=64,
        checkpoints_dir=root / "ck", results_dir=root / "res", figures_dir=root / "fig")
    if real is None or not (real / "casia1").is_dir() or not (real / "photos").is_dir():
        # without the real data the dataset specs fall back to the built-in synthetic set; every other
        # paper-only branch is still taken
        overrides.update(train_datasets=("synthetic",), eval_datasets=("synthetic",))
    return profiles.get("paper", **overrides)


def test_paper_settings_are_the_ones_exercised(paper_small):
    full = profiles.get("paper")
    assert not paper_small.cache_images and paper_small.num_workers > 0  # uncached loader, worker processes
    assert paper_small.channels_last and paper_small.checkpoint_every
    assert paper_small.model_kwargs == full.model_kwargs and paper_small.width == full.width  # paper-sized models
    assert paper_small.split_rule == full.split_rule == "grouped"
    # AMP selection: on CUDA bf16 or fp16; on a CPU bf16 (native support) or fp32, never fp16
    assert resolve_precision(paper_small.precision, "cpu") in ("bf16", "fp32")
    with pytest.raises(ValueError, match="CUDA"):
        resolve_precision("fp16", "cpu")


def test_paper_profile_trains_every_stage_and_sweeps(paper_small):
    from paper_repro.train import load_model

    for key in ("restorer", "reconwave", "mpc-pretrain", "mpc"):
        final = E.checkpoint(paper_small, key)
        assert final.is_file(), key
        spec = json.loads((final.parent / "spec.json").read_text())
        assert spec["loader_workers"] == paper_small.num_workers  # the uncached worker path was used
        assert spec["size"] == [64, 64]
        assert (final.parent / "history.csv").is_file()
        model = load_model(final)
        assert model.checkpoint["profile"]["name"] == "paper"
        assert model.checkpoint["profile"]["channels_last"] is True
    # the paper-sized ReConWave-Net (width 64) really was built
    rw = load_model(E.checkpoint(paper_small, "reconwave"))
    assert rw.model_cfg["width"] == 64 and sum(p.numel() for p in rw.parameters()) > 5e6
    res = E.sweep_results(paper_small, "reconwave", "restorer")
    assert set(res["perturbation"]) == {"clean", "brightness", "contrast"}
    assert res["auc"].notna().any() and torch.isfinite(torch.tensor(res["f1"].fillna(0).to_numpy())).all()
    names = set(res["dataset"])
    if paper_small.train_datasets != ("synthetic",):
        assert "casia1" in names  # the paper's held-out CASIA split is one of its evaluation sets


def test_paper_reconwave_stands_on_the_pretrained_encoder_and_scratch_stays_an_option():
    from paper_repro.models import create

    full = profiles.get("paper")
    assert full.model_cfg("reconwave")["encoder"] == "efficientnet-lite0"
    assert "photos-ood" in full.eval_datasets  # the out-of-distribution set beside CASIA v1
    scratch = profiles.get("paper", model_kwargs={"reconwave": profiles.SCRATCH_RECONWAVE}).model_cfg("reconwave")
    assert (scratch["encoder"], scratch["depth"], scratch["width"]) == ("scratch", 4, 64)
    model = create("reconwave", **scratch)
    assert model.encoder_name == "scratch" and len(model.enc) == 4
