"""MPC: multi-resolution backbone, two-view pretraining loss, frozen-backbone stage 2."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from paper_repro.losses import loss_for
from paper_repro.losses.mpc import MPCFinetuneLoss, MPCPretrainLoss, mpc_infonce
from paper_repro.losses.patch_contrastive import patch_labels
from paper_repro.models import create
from paper_repro.models.mpc import MPC


def tiny(name="mpc", **kw):
    torch.manual_seed(0)
    return create(name, preset="tiny", **kw)


def rect_mask(b=2, h=64, w=64):
    m = torch.zeros(b, 1, h, w)
    m[0, :, 8:40, 12:44] = 1
    if b > 1:
        m[1, :, 20:60, 4:36] = 1
    return m


def separated_outputs(mask, d=16, noise=0.05, flip_branches=False, seed=0):
    """MPC-like outputs whose every scale/view puts authentic on e0 and tampered on e1."""
    g = torch.Generator().manual_seed(seed)
    e = torch.eye(d)

    def emb(grid, flip=False):
        lab = patch_labels(mask, 1, grid=grid).clamp(max=1)  # mixed pixels: any vector, they are ignored
        if flip:
            lab = 1 - lab
        v = e[lab] + noise * torch.randn(*lab.shape, d, generator=g)
        return F.normalize(v.permute(0, 3, 1, 2), dim=1)

    H, W = mask.shape[-2:]
    grids = [(H // 4, W // 4), (H // 8, W // 8), (H // 16, W // 16), (H // 32, W // 32)]

    def view():
        return {"embeddings": emb(grids[0]), "branch_embeddings": [emb(g_, flip_branches) for g_ in grids[1:]]}

    out = view()
    out["view2"] = view()
    return out


def shuffle(t, seed=1):
    g = torch.Generator().manual_seed(seed)
    B, D, h, w = t.shape
    flat = t.permute(0, 2, 3, 1).reshape(-1, D)
    return flat[torch.randperm(len(flat), generator=g)].reshape(B, h, w, D).permute(0, 3, 1, 2)


def shuffled_outputs(out):
    s = {"embeddings": shuffle(out["embeddings"]), "branch_embeddings": [shuffle(b) for b in out["branch_embeddings"]]}
    if "view2" in out:
        s["view2"] = shuffled_outputs(out["view2"])
    return s


# ---------------------------------------------------------------------------------------------
# model
def test_forward_shapes_non_square_and_two_views_in_train_mode():
    model = tiny()
    x = torch.rand(2, 3, 64, 96)
    model.train()
    out = model(x)
    assert out["logits"].shape == (2, 1, 64, 96)
    assert out["embeddings"].shape == (2, 32, 16, 24)
    assert [tuple(b.shape) for b in out["branch_embeddings"]] == [(2, 32, 8, 12), (2, 32, 4, 6), (2, 32, 2, 3)]
    for e in [out["embeddings"], *out["branch_embeddings"]]:
        assert torch.allclose(e.norm(dim=1), torch.ones_like(e[:, 0]), atol=1e-4)
    assert "view2" in out and out["view2"]["embeddings"].shape == out["embeddings"].shape
    total, parts = loss_for("mpc")(out, rect_mask(2, 64, 96))
    total.backward()
    assert parts["cross_view"] > 0 and parts["cross_scale"] > 0 and parts["intra"] > 0
    bb = [p.grad for p in model.backbone.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in bb)
    model.eval()
    assert "view2" not in model(x)


def test_two_views_differ_in_train_mode_and_match_in_eval_mode():
    model = tiny()
    x = torch.rand(2, 3, 64, 64)
    model.train()
    out = model.two_view_forward(x)
    assert not torch.allclose(out["embeddings"], out["view2"]["embeddings"], atol=1e-4)
    model.eval()
    with torch.no_grad():
        out = model.two_view_forward(x)
    assert torch.allclose(out["embeddings"], out["view2"]["embeddings"])
    assert torch.allclose(out["logits"], out["view2"]["logits"])


def test_no_dropout_no_droppath_gives_identical_views():
    model = tiny(drop_path=0.0, dropout=0.0)
    model.train()
    out = model.two_view_forward(torch.rand(2, 3, 64, 64))
    assert torch.allclose(out["embeddings"], out["view2"]["embeddings"], atol=1e-6)


def test_bad_config_and_input_raise():
    with pytest.raises(ValueError, match="modules"):
        create("mpc", preset="tiny", modules=(1, 1))
    with pytest.raises(ValueError, match="multiples of 32"):
        tiny()(torch.rand(1, 3, 64, 40))


def test_three_branch_variant_runs():
    model = tiny(num_branches=3, modules=(1, 1))
    out = model(torch.rand(1, 3, 64, 64))
    assert len(out["branch_embeddings"]) == 2
    assert out["logits"].shape == (1, 1, 64, 64)


# ---------------------------------------------------------------------------------------------
# stage-1 loss
def test_mpc_infonce_hand_computed():
    a = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    n = torch.tensor([[0.0, 1.0]])
    t = 0.5
    got = mpc_infonce(a, a, n, t, same_set=True)
    # each anchor: positive logit = similarity to the other anchor (0.6), one negative
    want = 0.5 * sum(-math.log(math.exp(0.6 / t) / (math.exp(0.6 / t) + math.exp(s / t))) for s in (0.0, 0.8))
    assert got.item() == pytest.approx(want, rel=1e-5)
    got2 = mpc_infonce(a[:1], a, n, t)  # other set: mean over all positives (1.0 and 0.6)
    want2 = -math.log(math.exp(0.8 / t) / (math.exp(0.8 / t) + math.exp(0.0)))
    assert got2.item() == pytest.approx(want2, rel=1e-5)


def test_pretrain_loss_prefers_separating_embeddings_on_every_term():
    torch.manual_seed(0)
    m = rect_mask()
    good = separated_outputs(m)
    loss = MPCPretrainLoss()
    _, pg = loss(good, m)
    _, ps = loss(shuffled_outputs(good), m)
    for k in ("intra", "cross_scale", "cross_view"):
        assert pg[k] < ps[k] - 0.5, k


def test_cross_scale_term_compares_scales():
    """If the coarse branches put the classes on swapped axes, only the cross-scale term objects."""
    m = rect_mask()
    loss = MPCPretrainLoss()
    _, same = loss(separated_outputs(m), m)
    _, flip = loss(separated_outputs(m, flip_branches=True), m)
    assert flip["cross_scale"] > same["cross_scale"] + 1.0
    assert flip["intra"] == pytest.approx(same["intra"].item(), rel=1e-4)


def test_cross_view_term_needs_view2():
    m = rect_mask()
    out = separated_outputs(m)
    out.pop("view2")
    total, parts = MPCPretrainLoss()(out, m)
    assert parts["cross_view"] == 0.0 and torch.isfinite(total)


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_pretrain_loss_finite_on_one_class_masks(fill):
    model = tiny()
    model.train()
    out = model(torch.rand(2, 3, 64, 64))
    total, parts = loss_for("mpc")(out, torch.full((2, 1, 64, 64), fill))
    total.backward()
    assert torch.isfinite(total) and total.item() == 0.0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_pretrain_loss_is_fp32_under_bf16_autocast():
    model = tiny()
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.rand(2, 3, 64, 64))
        total, parts = loss_for("mpc")(out, rect_mask())
    assert total.dtype == torch.float32 and torch.isfinite(total)
    assert all(v.dtype == torch.float32 for v in parts.values())


# ---------------------------------------------------------------------------------------------
# stage 2
def test_finetune_freezes_backbone():
    model = tiny("mpc-finetune")
    model.train()
    assert not model.backbone.training and model.head.training
    bn = next(mm for mm in model.backbone.modules() if isinstance(mm, nn.BatchNorm2d))
    before = bn.running_mean.clone()
    out = model(torch.rand(2, 3, 64, 64))
    assert "view2" not in out
    total, _ = loss_for("mpc-finetune")(out, rect_mask())
    total.backward()
    assert all(p.grad is None and not p.requires_grad for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.head.parameters())
    assert torch.equal(bn.running_mean, before)  # eval-mode BN: statistics untouched


def test_finetune_head_learns():
    model = tiny("mpc-finetune")
    x, m = torch.rand(2, 3, 64, 64), rect_mask()
    loss = loss_for("mpc-finetune")
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    first = None
    for _ in range(15):
        total, _ = loss(model(x), m)
        first = total.item() if first is None else first
        opt.zero_grad()
        total.backward()
        opt.step()
    assert total.item() < 0.7 * first


def test_stage1_checkpoint_loads_into_stage2(tmp_path):
    stage1 = tiny()
    with torch.no_grad():
        for p in stage1.parameters():
            p.add_(0.01)
    path = tmp_path / "stage1.pt"
    torch.save(stage1.state_dict(), path)
    for src in (path, str(path), stage1.state_dict(), stage1.backbone.state_dict()):
        s2 = create("mpc-finetune", preset="tiny", backbone_state=src)
        for (k, a), b in zip(stage1.backbone.state_dict().items(), s2.backbone.state_dict().values()):
            assert torch.equal(a, b), k
    s2 = MPC.from_pretrained(path, preset="tiny")
    assert s2.backbone_frozen and torch.equal(next(s2.backbone.parameters()), next(stage1.backbone.parameters()))
    with pytest.raises(FileNotFoundError, match="no local checkpoint"):
        create("mpc-finetune", preset="tiny", backbone_state=tmp_path / "missing.pt")
    with pytest.raises(RuntimeError):  # width mismatch fails loudly
        create("mpc-finetune", preset="tiny", width=12, backbone_state=path)


def test_focal_loss_hand_computed_and_resizes():
    logits = torch.zeros(1, 1, 4, 4)
    mask = torch.ones(1, 1, 8, 8)
    total, parts = MPCFinetuneLoss()({"logits": logits}, mask)
    # p = 0.5 everywhere: alpha_t (0.5) * (1 - p_t)^2 (0.25) * CE (log 2)
    assert total.item() == pytest.approx(0.5 * 0.25 * math.log(2), rel=1e-5)
    assert parts["focal"] == total


def test_pretraining_loss_is_nonzero_and_falls_on_tampered_photos():
    """Stage 1 through the hand-written loop on the built-in synthetic set: the loss starts well above 0 and
    its last ten steps average under half of its first ten. (A mask of per-pixel noise, as random benchmark
    data has, leaves no pure embedding pixel, so the loss is exactly 0 there.)"""
    from paper_repro import bench, profiles

    prof = profiles.get("smoke")
    df, _ = bench._synthetic_frames(prof, 64, True)
    imgs, masks = bench._pool_tensors(df, prof.size, 32)
    g = torch.Generator().manual_seed(0)
    dl = torch.utils.data.DataLoader(bench._Pool(imgs, masks, 8 * 40), batch_size=8, shuffle=True, generator=g)
    res = bench.manual_fit(bench._fresh_model("mpc", prof.model_cfg("mpc"), 0), loss_for("mpc"), dl, lr=1e-3,
                           max_steps=40)
    losses = res["losses"]
    assert min(losses[:10]) > 1.0
    assert sum(losses[-10:]) < 0.5 * sum(losses[:10])

    noise = (torch.rand(2, 1, 64, 64, generator=g) > 0.5).float()
    out = create("mpc", preset="tiny").train()(imgs[:2])
    assert loss_for("mpc")(out, noise)[0].item() == 0.0
    assert loss_for("mpc")(out, masks[:2])[0].item() > 0
