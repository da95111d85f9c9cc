"""Training: Learner factory, exact checkpoint/resume, mixed precision, final checkpoints, profiles."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from fastai.callback.core import Callback, CancelFitException

from paper_repro import profiles
from paper_repro.data import make_dataloaders, manifest, split
from paper_repro.train import (AutocastCallback, CheckpointResumeCallback, DictLoss, fit, load_model, make_learner,
                               read_checkpoint)

SIZE = 32
MODEL_CFG = {"width": 4, "depth": 2, "embed_dim": 8, "embed_level": 1}
# max_views=8 makes the contrastive loss sample pixels with torch.randperm, so the global RNG matters
LOSS_CFG = {"max_views": 8, "max_anchors": 16}


@pytest.fixture(scope="module")
def frames():
    df = manifest("synthetic")  # the built-in synthetic set (bundled scikit-image photos)
    train_df, valid_df = split(df.iloc[:16], valid_pct=0.25, seed=0)
    return train_df, valid_df  # 12 train (3 batches of 4), 4 valid


def _dls(frames, bs=4):
    return make_dataloaders(*frames, size=(SIZE, SIZE), bs=bs, seed=0)


def _learner(frames, ckpt_dir, cbs=None, **kw):
    kw.setdefault("model_cfg", MODEL_CFG)
    kw.setdefault("loss_cfg", LOSS_CFG)
    kw.setdefault("precision", "bf16")
    return make_learner("reconwave", _dls(frames), ckpt_dir=ckpt_dir, seed=0, quiet=True, cbs=cbs, **kw)


def _cpu_state(module):
    """A module's state as CPU copies (fastai moves a fitted model to the GPU where there is one)."""
    return {k: v.detach().clone().cpu() for k, v in module.state_dict().items()}


def _weights(learn):
    return {k: v.float() for k, v in _cpu_state(learn.model).items()}


def _values(learn):
    return np.array([[float(v) for v in row] for row in learn.recorder.values])


@pytest.fixture(scope="module")
def reference(frames, tmp_path_factory):
    """An uninterrupted 2-epoch run: final weights and per-epoch recorder rows."""
    d = tmp_path_factory.mktemp("ref")
    learn = _learner(frames, d)
    metrics = fit(learn, epochs=2, lr=3e-3)
    return _weights(learn), _values(learn), metrics


class Kill(Callback):
    """Simulates a kill: raises ``exc`` at ``event`` of training batch ``batch`` in epoch ``epoch``."""

    order = 20  # before the checkpoint callback (95)

    def __init__(self, epoch, batch, event="before_batch", exc=CancelFitException):
        self.at, self.event, self.exc = (epoch, batch), event, exc

    def _maybe(self, event):
        if self.training and event == self.event and (self.epoch, self.iter) == self.at:
            raise self.exc()

    def before_batch(self):
        self._maybe("before_batch")

    def after_batch(self):
        self._maybe("after_batch")


def _assert_same(learn, reference):
    ref_w, ref_vals, ref_metrics = reference
    w = _weights(learn)
    assert w.keys() == ref_w.keys()
    for k in ref_w:
        assert torch.allclose(w[k], ref_w[k], atol=1e-6), f"weights differ after resume: {k}"
    vals = _values(learn)
    assert vals.shape == ref_vals.shape
    np.testing.assert_allclose(vals, ref_vals, rtol=0, atol=1e-6, equal_nan=True)


def test_reference_run_trains_and_writes_final(reference, frames, tmp_path):
    ref_w, ref_vals, metrics = reference
    assert ref_vals.shape[0] == 2 and set(metrics) >= {"train_loss", "valid_loss", "f1", "iou"}
    # the weights moved away from the initialisation
    init = _weights(_learner(frames, None))
    assert any(not torch.allclose(init[k], ref_w[k]) for k in init if init[k].is_floating_point())


def test_resume_after_clean_interrupt_mid_epoch(frames, reference, tmp_path):
    """Interrupted between two batches (epoch 2, before its batch 2): the state is saved there, and a new
    Learner resumes from exactly that point."""
    learn = _learner(frames, tmp_path, cbs=[Kill(epoch=1, batch=1)])
    fit(learn, epochs=2, lr=3e-3)
    assert not learn.fit_completed
    assert not (tmp_path / "final.pt").exists()
    st = torch.load(tmp_path / "last.pt", weights_only=True)
    assert (st["epoch"], st["batches_done"]) == (1, 1)

    resumed = _learner(frames, tmp_path)
    metrics = fit(resumed, epochs=2, lr=3e-3)
    assert any(isinstance(cb, CheckpointResumeCallback) for cb in resumed.cbs)
    assert resumed.resumed_from == (1, 1)  # the documented learner attribute
    _assert_same(resumed, reference)
    assert metrics == pytest.approx(reference[2], nan_ok=True, abs=1e-6)
    assert read_checkpoint(tmp_path / "final.pt")["metrics"] == pytest.approx(reference[2], nan_ok=True, abs=1e-6)


def test_resume_twice_after_a_kill_inside_a_batch_and_at_an_epoch_boundary(frames, reference, tmp_path):
    """1) A KeyboardInterrupt after the optimiser step of epoch 1's batch 2 (inside the batch: its
    bookkeeping is half done) is not saved; the periodic checkpoint after batch 1 is kept.
    2) The resumed run is killed again before epoch 2's first batch: the end-of-epoch checkpoint is the
    newest. 3) A fit with another schedule refuses that checkpoint. 4) The second resume finishes with
    the reference weights and metrics, and 5) a further call finds the finished fit and trains nothing."""
    learn = _learner(frames, tmp_path, checkpoint_every=1, cbs=[Kill(0, 1, "after_batch", KeyboardInterrupt)])
    with pytest.raises(KeyboardInterrupt):
        fit(learn, epochs=2, lr=3e-3)
    st = torch.load(tmp_path / "last.pt", weights_only=True)
    assert (st["epoch"], st["batches_done"]) == (0, 1)
    assert torch.is_autocast_cpu_enabled() is False  # the autocast context was closed on the way out

    learn = _learner(frames, tmp_path, checkpoint_every=1, cbs=[Kill(1, 0)])
    fit(learn, epochs=2, lr=3e-3)
    st = torch.load(tmp_path / "last.pt", weights_only=True)
    assert (st["epoch"], st["batches_done"]) == (1, 0)

    with pytest.raises(RuntimeError, match="2 epochs x 3 batches, this fit has 3 x 3"):
        fit(_learner(frames, tmp_path), epochs=3, lr=3e-3)

    resumed = _learner(frames, tmp_path, checkpoint_every=1)
    fit(resumed, epochs=2, lr=3e-3)
    _assert_same(resumed, reference)

    again = _learner(frames, tmp_path)
    fit(again, epochs=2, lr=3e-3)
    assert again.train_iter == resumed.train_iter == 6
    _assert_same(again, reference)


def test_bf16_autocast_runs_model_in_bf16_and_loss_in_fp32(frames):
    seen = {}

    class Probe(Callback):
        order = 11

        def after_loss(self):
            seen["pred"] = self.pred["logits"].dtype
            seen["loss"] = self.loss.dtype

    learn = _learner(frames, None, cbs=[Probe()], metrics=False)
    learn.model.head.register_forward_hook(lambda m, i, o: seen.__setitem__("inside", o.dtype))
    fit(learn, epochs=1, lr=1e-3, max_steps=1)
    assert any(isinstance(cb, AutocastCallback) for cb in learn.cbs)
    assert seen["inside"] == torch.bfloat16
    assert seen["pred"] == torch.float32 and seen["loss"] == torch.float32


def test_dict_loss_passes_extras_and_keeps_parts():
    class Echo(torch.nn.Module):
        def forward(self, outputs, mask, clean=None, strength=None):
            total = (outputs["restored"] - clean).abs().mean() + strength.sum() * 0
            return total, {"l1": total, "n": torch.tensor(float(mask.sum()))}

    loss = DictLoss(Echo(), extra_names=("clean", "strength"))
    pred = {"restored": torch.ones(2, 3, 4, 4, dtype=torch.bfloat16)}
    out = loss(pred, torch.ones(2, 1, 4, 4), torch.zeros(2, 3, 4, 4), torch.zeros(2))
    assert out.dtype == torch.float32 and float(out) == 1.0
    assert float(loss.parts["n"]) == 32 and not loss.parts["l1"].requires_grad
    with pytest.raises(ValueError, match="extra"):
        loss(pred, torch.ones(2, 1, 4, 4), 1, 2, 3)


def test_final_checkpoint_roundtrip(frames, reference, tmp_path):
    learn = _learner(frames, tmp_path)
    fit(learn, epochs=1, lr=3e-3, max_steps=2)
    assert learn.train_iter == 2  # max_steps caps the batches per epoch (3 available)
    payload = read_checkpoint(tmp_path / "final.pt")
    assert payload["model_name"] == "reconwave" and payload["model_cfg"] == MODEL_CFG
    assert payload["stage"] == "detector" and math.isfinite(payload["metrics"]["valid_loss"])
    model = load_model(tmp_path / "final.pt")
    x = torch.rand(2, 3, SIZE, SIZE)
    learn.model.eval()
    with torch.no_grad():
        assert torch.equal(model(x)["logits"], learn.model.cpu()(x)["logits"])
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_model(tmp_path / "nope.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a paper_repro final checkpoint"):
        load_model(tmp_path / "foreign.pt")


def test_profiles():
    smoke = profiles.get("smoke")
    assert set(profiles.PROFILES) == {"smoke", "cpu", "paper"}
    assert smoke.image_size % 32 == 0 and smoke.results_dir.name == "smoke"
    assert tuple(smoke.alphas) == (-0.5, -0.3, -0.1, 0.1, 0.3, 0.5)
    p = profiles.get("smoke", epochs={"detector": 7}, seed=3)
    assert p.epochs["detector"] == 7 and p.epochs["restorer"] == smoke.epochs["restorer"] and p.seed == 3
    assert p.stage("detector")["epochs"] == 7
    assert profiles.get("paper").image_size == 512 and profiles.get("cpu").image_size == 256
    cpu = profiles.get("cpu")  # native-resolution crops on the JPEG grid, pretrained encoder, whole-image evaluation
    assert cpu.size_policy == "random_crop" and cpu.crop_grid == 8 and cpu.eval_size is None
    assert cpu.model_cfg("reconwave")["encoder"] == "efficientnet-lite0" and smoke.eval_size == smoke.size
    assert profiles.get("smoke").model_cfg("reconwave")["width"] == smoke.width["reconwave"]
    d = profiles.get("cpu").asdict()
    assert isinstance(d["results_dir"], str) and d["name"] == "cpu"
    with pytest.raises(KeyError, match="smoke, cpu, paper"):
        profiles.get("fast")
    with pytest.raises(TypeError, match="unknown profile field"):
        profiles.get("smoke", imagesize=3)
    # a model's own learning rate replaces its stage's, for that model only, in either budget
    q = profiles.get("smoke", model_lr={"lpclnet": 3e-3}, lr={"detector": 1e-3})
    assert q.stage("detector", model="lpclnet")["lr"] == 3e-3 and q.stage("detector", model="ncl")["lr"] == 1e-3
    assert q.stage("detector", "main", model="lpclnet")["lr"] == 3e-3 and q.stage("detector")["lr"] == 1e-3


def test_restorer_stage_disturbs_batches_and_logs_psnr_and_loss_parts(frames, tmp_path):
    seen = []

    class Spy(Callback):
        order = 2  # after DisturbanceCallback (1)

        def before_batch(self):
            if self.training:
                mask, clean, labels, strength = self.yb
                seen.append((self.xb[0].clone(), clean.clone(), labels.clone(), strength.clone()))

    learn = make_learner("restorer", _dls(frames), model_cfg={"width": 4, "levels": 2, "heads": 2, "window_size": 4},
                         ckpt_dir=tmp_path, seed=0, quiet=True, precision="fp32", cbs=[Spy()],
                         disturbance_cfg={"p_clean": 0.0})
    assert learn.stage == "restorer"
    metrics = fit(learn, epochs=1, lr=1e-3, max_steps=2)
    assert "psnr" in metrics and 5 < metrics["psnr"] < 100
    x, clean, labels, strength = seen[0]
    assert (labels > 0).all()  # p_clean=0: every image is disturbed ...
    assert not torch.allclose(x, clean)  # ... and the model sees the disturbed image
    for img_x, img_c, lab, s in zip(x, clean, labels, strength):  # brightness classes: x = clip(clean + alpha)
        if int(lab) in (1, 2):
            assert torch.allclose(img_x, (img_c + s).clamp(0, 1), atol=1e-6)
    import pandas as pd

    hist = pd.read_csv(tmp_path / "history.csv")
    assert {"train_l1", "train_cls", "train_strength", "valid_l1", "psnr"} <= set(hist.columns)


def test_detector_disturbance_augments_training_batches_only(frames, tmp_path):
    seen = {"train": [], "valid": []}

    class Spy(Callback):
        order = 2  # after DisturbanceCallback (1)

        def before_batch(self):
            seen["train" if self.training else "valid"].append((self.xb[0].clone(), len(self.yb)))

    class Raw(Callback):
        order = 0  # before DisturbanceCallback: the loader's clean images

        def before_batch(self):
            if self.training:
                seen.setdefault("raw", []).append(self.xb[0].clone())

    learn = _learner(frames, tmp_path, cbs=[Spy(), Raw()], disturbance_cfg={"p_clean": 0.0})
    fit(learn, epochs=1, lr=1e-3, max_steps=2)
    x, n_targets = seen["train"][0]
    assert n_targets == 1  # the detector's targets stay (mask,)
    assert not torch.allclose(x, seen["raw"][0])  # p_clean=0: the training images are disturbed
    valid_x = seen["valid"][0][0]
    assert torch.equal(valid_x, learn.dls.valid.one_batch()[0])  # validation stays clean
    plain = _learner(frames, tmp_path / "plain", cbs=[Raw()])
    assert not any(type(cb).__name__ == "DisturbanceCallback" for cb in plain.cbs)


def test_mpc_pretrain_then_finetune_with_frozen_backbone(frames, tmp_path):
    dls = _dls(frames)
    pre = make_learner("mpc", dls, model_cfg={"preset": "tiny"}, ckpt_dir=tmp_path / "pre", seed=0, quiet=True,
                       precision="fp32")
    assert pre.stage == "pretrain" and pre.metrics == []
    fit(pre, epochs=1, lr=1e-3, max_steps=1)
    tuned = make_learner("mpc-finetune", dls, model_cfg={"preset": "tiny"}, ckpt_dir=tmp_path / "ft", seed=0,
                         quiet=True, precision="fp32", init_from=tmp_path / "pre" / "final.pt")
    backbone = _cpu_state(tuned.model.backbone)
    pre_backbone = {k[len("backbone."):]: v for k, v in _cpu_state(pre.model).items() if k.startswith("backbone.")}
    assert all(torch.equal(backbone[k], pre_backbone[k]) for k in backbone)  # loaded from stage 1
    head = _cpu_state(tuned.model.head)
    metrics = fit(tuned, epochs=1, lr=1e-2, max_steps=2)
    assert {"f1", "iou"} <= set(metrics)
    assert all(torch.equal(v, backbone[k]) for k, v in _cpu_state(tuned.model.backbone).items())  # frozen
    assert any(not torch.equal(v, head[k]) for k, v in _cpu_state(tuned.model.head).items())  # head trained


def test_every_registered_model_builds_from_every_profile():
    """Profiles give each registered model a configuration its factory accepts (the pipeline composes
    the detector's and the restorer's)."""
    from paper_repro import profiles
    from paper_repro.models import available, create

    for name in profiles.PROFILES:
        prof = profiles.get(name)
        cfg = prof.model_cfg("reconwave-pipeline")
        assert cfg["detector_cfg"]["width"] == prof.width["reconwave"]
        if name == "smoke":
            for model_name in available():
                create(model_name, **prof.model_cfg(model_name))


def _adamw_learner(frames, ckpt_dir, cbs=None, **kw):
    from paper_repro.train.optim import opt_func

    return _learner(frames, ckpt_dir, cbs=cbs, opt_func=opt_func("adamw"), **kw)


def test_fused_adamw_follows_fastais_adam_and_resumes_exactly(frames, tmp_path):
    """``optimizer="adamw"`` (torch's fused AdamW behind fastai's OptimWrapper) makes the same updates as
    fastai's Adam (weight decay on matrices / kernels only) up to float order, and an interrupted fit
    resumes to the uninterrupted weights; a checkpoint written with the other optimiser is refused."""
    from fastai.optimizer import OptimWrapper

    adam = _learner(frames, None, precision="fp32")
    fit(adam, epochs=1, lr=3e-3)
    adamw = _adamw_learner(frames, None, precision="fp32")
    fit(adamw, epochs=1, lr=3e-3)
    assert isinstance(adamw.opt, OptimWrapper) and adamw.opt.opt.defaults["fused"]
    groups = adamw.opt.opt.param_groups
    assert [g["weight_decay"] for g in groups] == [0.01, 0.0]
    assert all(p.ndim > 1 for p in groups[0]["params"]) and all(p.ndim <= 1 for p in groups[1]["params"])
    w_adam, w_adamw = _weights(adam), _weights(adamw)
    moved = [k for k in w_adam if not torch.equal(w_adam[k], _weights(_learner(frames, None))[k])]
    assert moved
    for k in w_adam:
        assert torch.allclose(w_adam[k], w_adamw[k], atol=2e-5), k
    adamw.opt.set_hypers(wd=0.05)  # fastai's Learner.fit(wd=...) path: the no-decay group stays at 0
    assert [g["weight_decay"] for g in adamw.opt.opt.param_groups] == [0.05, 0.0]
    # the fast hypers / set_hyper give what fastai's generic OptimWrapper versions give
    generic = OptimWrapper(opt=adamw.opt.opt)
    adamw.opt.set_hyper("mom", 0.85)
    adamw.opt.set_hyper("lr", 2e-3)
    assert adamw.opt.hypers == generic.hypers and generic.hypers[0]["mom"] == 0.85
    assert [g["betas"] for g in adamw.opt.opt.param_groups] == [(0.85, 0.99)] * 2
    generic.set_hyper("lr", [1e-3, 5e-4])
    adamw.opt.set_hyper("sqr_mom", [0.98, 0.97])
    assert adamw.opt.hypers == generic.hypers and [h["lr"] for h in generic.hypers] == [1e-3, 5e-4]

    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    ref = _adamw_learner(frames, ref_dir)
    fit(ref, epochs=2, lr=3e-3)
    killed = _adamw_learner(frames, run_dir, cbs=[Kill(epoch=1, batch=1)])
    fit(killed, epochs=2, lr=3e-3)
    assert torch.load(run_dir / "last.pt", weights_only=True)["opt"]["optimizer"] == "adamw"
    with pytest.raises(RuntimeError, match="optimizer 'adamw', this fit uses 'adam'"):
        fit(_learner(frames, run_dir), epochs=2, lr=3e-3)
    resumed = _adamw_learner(frames, run_dir)
    fit(resumed, epochs=2, lr=3e-3)
    _assert_same(resumed, (_weights(ref), _values(ref), None))


def test_profile_optimizer_is_checked_and_reaches_the_learner(frames):
    from fastai.optimizer import Adam, Optimizer, OptimWrapper

    with pytest.raises(ValueError, match="optimizer must be one of"):
        profiles.get("smoke", optimizer="sgd")
    assert profiles.get("cpu").optimizer == "adam" and profiles.get("smoke").optimizer == "adamw"
    for name, kind in (("adamw", OptimWrapper), ("adam", Optimizer)):
        learn = make_learner("reconwave", _dls(frames), profile=profiles.get("smoke", optimizer=name),
                             model_cfg=MODEL_CFG, quiet=True)
        learn.create_opt()
        assert isinstance(learn.opt, kind)
    assert Adam  # fastai's own class is the "adam" optimiser


def test_restorer_stops_on_validation_psnr_and_keeps_the_best_epoch(frames, tmp_path, capsys):
    """KeepBestCallback: the fit ends after ``patience`` epochs without a better validation PSNR, with the best
    epoch's weights and metrics, and counts as finished (``final.pt`` written)."""
    from paper_repro.train import KeepBestCallback

    scripted = iter([20.0, 22.0, 21.0, 21.5, 30.0, 31.0])  # epoch 2 is the best; 3 and 4 do not improve
    snapshots = []

    class Script(Callback):
        order = KeepBestCallback.order - 1  # after the recorder wrote the epoch's row, before the tracker reads it

        def after_epoch(self):
            self.recorder.values[-1][self.recorder.metric_names[1:].index("psnr")] = next(scripted)
            snapshots.append(_weights(self.learn))

    learn = make_learner("restorer", _dls(frames), model_cfg={"width": 4, "levels": 2, "heads": 2, "window_size": 4},
                         ckpt_dir=tmp_path, seed=0, quiet=True, precision="fp32",
                         cbs=[Script(), KeepBestCallback("psnr", patience=1)])
    metrics = fit(learn, epochs=6, lr=1e-3, max_steps=6)
    assert len(snapshots) == 4  # epochs 1-4 ran: the stop came after the second epoch in a row without a better PSNR
    assert learn.selected_epoch == 1 and metrics["psnr"] == 22.0
    w = _weights(learn)
    assert all(torch.equal(w[k], snapshots[1][k]) for k in w)
    assert (tmp_path / "final.pt").is_file()
    assert "interrupted" not in capsys.readouterr().out  # a deliberate stop is not reported as an interruption


class _RawWeights(Callback):
    """Records the model's floating-point weights before the fit and after every optimiser step."""

    order = 25  # after EMACallback (20)

    def before_fit(self):
        self.seen = [_float_state(self.learn.model)]

    def after_step(self):
        self.seen.append(_float_state(self.learn.model))


def _float_state(model):
    return {k: v.detach().clone().float() for k, v in model.state_dict().items() if v.dtype.is_floating_point}


def _ema_learner(frames, ckpt_dir, cbs=None, schedule="one_cycle"):
    prof = profiles.get("smoke", ema=0.8, schedule=schedule)
    return make_learner("reconwave", _dls(frames), profile=prof, model_cfg=MODEL_CFG, loss_cfg=LOSS_CFG,
                        ckpt_dir=ckpt_dir, seed=0, quiet=True, precision="fp32", cbs=cbs)


def test_ema_of_weights_is_what_the_fit_ends_with_and_resumes_exactly(frames, tmp_path):
    raw = _RawWeights()
    learn = _ema_learner(frames, tmp_path / "a", cbs=[raw])
    fit(learn, epochs=2, lr=3e-3)
    expected = raw.seen[0]
    for w in raw.seen[1:]:
        expected = {k: 0.8 * expected[k] + 0.2 * w[k] for k in expected}
    final = _float_state(learn.model)
    assert len(raw.seen) == 1 + 2 * 3
    assert all(torch.allclose(final[k], expected[k], atol=1e-6) for k in expected)
    assert not all(torch.equal(final[k], raw.seen[-1][k]) for k in final)  # not simply the last weights
    stored = read_checkpoint(tmp_path / "a" / "final.pt")["state_dict"]
    assert all(torch.allclose(stored[k].float(), final[k]) for k in final)

    killed = _ema_learner(frames, tmp_path / "b", cbs=[Kill(epoch=1, batch=1)])
    fit(killed, epochs=2, lr=3e-3)
    assert not killed.fit_completed
    resumed = _ema_learner(frames, tmp_path / "b")
    fit(resumed, epochs=2, lr=3e-3)
    again = _float_state(resumed.model)
    assert all(torch.allclose(again[k], final[k], atol=1e-6) for k in final)
    with pytest.raises(ValueError, match="ema"):
        profiles.get("smoke", ema=1.0)


def test_constant_schedule_keeps_the_peak_rate(frames, tmp_path):
    learn = _ema_learner(frames, tmp_path, schedule="constant")
    fit(learn, epochs=2, lr=3e-3)
    assert learn.recorder.lrs and all(lr == pytest.approx(3e-3) for lr in learn.recorder.lrs)
    cycled = _ema_learner(frames, tmp_path / "cycle")
    fit(cycled, epochs=2, lr=3e-3)
    assert max(cycled.recorder.lrs) > 2e-3 and min(cycled.recorder.lrs) < 1e-3  # warm-up and annealing
    with pytest.raises(ValueError, match="schedule"):
        profiles.get("smoke", schedule="step")


def test_only_the_main_budget_stops_a_restorer_early(frames):
    """Every restorer of Tables 7-8 trains its full table budget (no early stop, so a table has one ``steps``);
    the shipped restorer's main budget carries the patience, which make_learner turns into KeepBestCallback."""
    from paper_repro import experiments as E
    from paper_repro.train import KeepBestCallback

    cpu = profiles.get("cpu")
    table_rows = [k for k, r in E.RUNS.items() if r.stage == "restorer" and r.budget == "table"]
    assert len(table_rows) >= 4  # the Swin reference, ViT, deformable, L1
    assert all("patience" not in cpu.stage("restorer", E.RUNS[k].budget) for k in table_rows)
    assert {cpu.stage("restorer", E.RUNS[k].budget)["max_steps"] for k in table_rows} == {64}
    assert cpu.stage("restorer", "main")["patience"] == 1
    cfg = {"width": 4, "levels": 2, "heads": 2, "window_size": 4}
    plain = make_learner("restorer", _dls(frames), model_cfg=cfg, quiet=True, precision="fp32")
    stopping = make_learner("restorer", _dls(frames), model_cfg=cfg, quiet=True, precision="fp32", patience=1)
    assert not any(isinstance(cb, KeepBestCallback) for cb in plain.cbs)
    assert [cb.patience for cb in stopping.cbs if isinstance(cb, KeepBestCallback)] == [1]


def test_last_epoch_validation_skips_passes_but_not_training(tmp_path):
    """A table-budget fit validating only after its last epoch trains the very weights of one validating every
    epoch (validation leaves the random streams alone), and its history says which epochs were validated."""
    import pandas as pd

    from paper_repro import profiles
    from paper_repro.experiments import runs

    p = profiles.get("smoke", epochs={"detector": 3}, max_steps={"detector": 6})
    out = {}
    for mode in ("every_epoch", "last_epoch"):
        q = p.replace(table_validation=mode, checkpoints_dir=tmp_path / mode)
        final = runs.train_or_load(q, "t", "reconwave")
        out[mode] = (torch.load(final, map_location="cpu", weights_only=False),
                     pd.read_csv(final.parent / "history.csv"))
    (every, h_every), (last, h_last) = out["every_epoch"], out["last_epoch"]
    assert all(torch.equal(every["state_dict"][k], last["state_dict"][k]) for k in every["state_dict"])
    assert h_every["valid_loss"].notna().all() and len(h_last) == 3
    assert h_last["valid_loss"].isna().tolist() == [True, True, False]
    assert last["metrics"]["valid_loss"] == pytest.approx(every["metrics"]["valid_loss"])
    spec = json.loads((tmp_path / "last_epoch" / "t" / "spec.json").read_text())
    assert spec["table_validation"] == "last_epoch"
    with pytest.raises(ValueError, match="table_validation"):
        p.replace(table_validation="sometimes")
