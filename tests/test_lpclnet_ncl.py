"""LPCLNet / NCL models, the contour-patch taxonomy and their contrastive losses."""
import math

import pytest
import torch
import torch.nn.functional as F

from paper_repro.losses import loss_for
from paper_repro.losses.patch_contrastive import (
    AUTHENTIC, CONTOUR, IGNORE, REL_BINARY, REL_EXCLUSIVE, TAMPERED, LPCLLoss, NCLLoss, patch_labels,
    pixel_labels, pool_patches, relation_infonce)
from paper_repro.models import create


# ---------------------------------------------------------------------------------------------
# helpers
def blob_batch(n=4, size=64, seed=0):
    """``n`` images with one wavy blob each whose colour and texture differ from the background."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    imgs, masks = [], []
    for _ in range(n):
        cy, cx = (torch.rand(2, generator=g) * size * 0.4 + size * 0.3).tolist()
        r = size * (0.18 + 0.1 * torch.rand(1, generator=g).item())
        ang = torch.atan2(yy - cy, xx - cx)
        rad = r * (1 + 0.25 * torch.sin(3 * ang + 6 * torch.rand(1, generator=g).item()))
        m = (((yy - cy) ** 2 + (xx - cx) ** 2).sqrt() < rad).float()
        bg = torch.rand(3, 1, 1, generator=g) * 0.5 + 0.25 + 0.05 * torch.randn(3, size, size, generator=g)
        fg = torch.rand(3, 1, 1, generator=g) * 0.5 + 0.25 + 0.2 * torch.randn(3, size, size, generator=g)
        imgs.append((bg * (1 - m) + fg * m).clamp(0, 1))
        masks.append(m[None])
    return torch.stack(imgs), torch.stack(masks)


def rect_mask(b=2, size=32):
    """Rectangles not aligned with 8-pixel patches, so that authentic, tampered and contour patches exist."""
    m = torch.zeros(b, 1, size, size)
    m[0, :, 4:20, 4:20] = 1
    m[1, :, 2:30, 6:27] = 1
    return m[:b]


def class_embeddings(labels, vectors, noise=0.05, seed=0):
    """Embeddings ``(B, D, h, w)``: each pixel gets ``vectors[label]`` plus noise, L2-normalised."""
    g = torch.Generator().manual_seed(seed)
    v = torch.stack(vectors)[labels.clamp_min(0)]  # (B,h,w,D)
    v = v + noise * torch.randn(v.shape, generator=g)
    return F.normalize(v.permute(0, 3, 1, 2), dim=1)


def shuffled(emb, seed=1):
    g = torch.Generator().manual_seed(seed)
    B, D, h, w = emb.shape
    flat = emb.permute(0, 2, 3, 1).reshape(-1, D)
    flat = flat[torch.randperm(len(flat), generator=g)]
    return flat.reshape(B, h, w, D).permute(0, 3, 1, 2).contiguous()


def basis(d=16):
    return [torch.eye(d)[i] for i in range(3)]


def f1(logits, mask):
    p = (logits > 0).float()
    return (2 * (p * mask).sum() / (p.sum() + mask.sum() + 1e-8)).item()


# ---------------------------------------------------------------------------------------------
# taxonomy
def test_patch_labels_hand_made():
    m = torch.zeros(1, 1, 8, 8)
    m[0, 0, :4, :4] = 1          # top-left: all tampered
    m[0, 0, 5, 1] = 1            # bottom-left: one tampered pixel
    m[0, 0, 4:, 4:] = 1
    m[0, 0, 7, 7] = 0            # bottom-right: all but one
    lab = patch_labels(m, 4)
    assert lab.dtype == torch.long and lab.shape == (1, 2, 2)
    assert lab[0].tolist() == [[TAMPERED, AUTHENTIC], [CONTOUR, CONTOUR]]
    # (B,H,W) input and soft masks (binarised at 0.5) are accepted
    assert patch_labels(m[:, 0] * 0.9, 4).tolist() == lab.tolist()
    # patch size 2: the single pixel (5,1) makes only its own 2x2 patch a contour
    lab2 = patch_labels(m, 2)[0]
    assert lab2[2, 0] == CONTOUR and lab2[3, 0] == AUTHENTIC and lab2[2, 1] == AUTHENTIC
    assert lab2[3, 3] == CONTOUR and lab2[2, 2] == TAMPERED


def test_patch_labels_on_embedding_grid_uses_full_resolution():
    m = torch.zeros(1, 1, 8, 8)
    m[0, 0, 0, 0] = 1  # one pixel: a nearest-downsampled mask could lose or keep it; we must see it
    lab = patch_labels(m, 1, grid=(2, 2))  # each embedding pixel covers 4x4 mask pixels
    assert lab[0].tolist() == [[CONTOUR, AUTHENTIC], [AUTHENTIC, AUTHENTIC]]
    m[0, 0, :4, :4] = 1
    assert patch_labels(m, 1, grid=(2, 2))[0, 0, 0] == TAMPERED
    assert patch_labels(m, 2, grid=(4, 4))[0].tolist() == [[TAMPERED, AUTHENTIC], [AUTHENTIC, AUTHENTIC]]


def test_patch_labels_rejects_bad_sizes():
    with pytest.raises(ValueError, match="patch_size"):
        patch_labels(torch.zeros(1, 1, 8, 8), 3)
    with pytest.raises(ValueError, match="grid"):
        patch_labels(torch.zeros(1, 1, 8, 8), 1, grid=(3, 3))
    with pytest.raises(ValueError, match="mask"):
        patch_labels(torch.zeros(1, 2, 8, 8), 2)


def test_pool_patches_is_mean_then_l2():
    emb = torch.zeros(1, 2, 2, 4)
    emb[0, 0, :, :2] = 1.0          # left patch: (1, 0)
    emb[0, 0, 0, 2:] = 1.0          # right patch: half (1, 0), half (0, 1)
    emb[0, 1, 1, 2:] = 1.0
    p = pool_patches(emb, 2)
    assert p.shape == (1, 2, 1, 2)
    assert torch.allclose(p[0, :, 0, 0], torch.tensor([1.0, 0.0]))
    assert torch.allclose(p[0, :, 0, 1], torch.tensor([1.0, 1.0]) / math.sqrt(2))


def test_pixel_labels_contour_option():
    m = torch.zeros(1, 1, 32, 32)
    m[0, 0, 2:12, 2:12] = 1
    plain = pixel_labels(m, (8, 8))            # 4x4-pixel footprints
    assert plain[0, 1, 1] == TAMPERED and plain[0, 7, 7] == AUTHENTIC and plain[0, 0, 0] == IGNORE
    assert (plain != CONTOUR).all()
    with_c = pixel_labels(m, (8, 8), contour_patch_size=2)
    # the top-left 2x2 patch (pixels 0..7) is a contour patch: all its pixels, even the pure one, are class 2
    assert (with_c[0, :2, :2] == CONTOUR).all()
    assert with_c[0, 7, 7] == AUTHENTIC and with_c[0, 6, 6] == AUTHENTIC


# ---------------------------------------------------------------------------------------------
# contrastive losses
def test_relation_infonce_matches_hand_computation():
    f = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 0, 1])
    t = 0.5
    got = relation_infonce(f, y, REL_BINARY, t)
    # anchors 0 and 1: one positive (sim 1) and one negative (sim 0); anchor 2 has no positive
    want = -math.log(math.exp(1 / t) / (math.exp(1 / t) + math.exp(0)))
    assert got.item() == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("relation", [REL_BINARY, REL_EXCLUSIVE])
def test_relation_infonce_one_class_is_finite_zero(relation):
    f = torch.randn(20, 8, requires_grad=True)
    for c in (AUTHENTIC, TAMPERED):
        loss = relation_infonce(f, torch.full((20,), c), relation)
        loss.backward()
        assert loss.item() == 0.0 and torch.isfinite(f.grad).all()


def test_lpcl_loss_prefers_separating_embeddings():
    torch.manual_seed(0)
    m = rect_mask()
    lab = patch_labels(m, 1, grid=(8, 8))
    emb = class_embeddings(lab, basis())  # authentic / tampered / boundary pixels on distinct axes
    logits = torch.zeros(2, 1, 32, 32)
    for contour_cls in (False, True):
        loss = LPCLLoss(patch_size=2, pixel_contour_class=contour_cls)
        _, good = loss({"logits": logits, "embeddings": emb}, m)
        _, bad = loss({"logits": logits, "embeddings": shuffled(emb)}, m)
        assert good["pixel_nce"] < bad["pixel_nce"] - 0.1
        assert good["patch_nce"] < bad["patch_nce"] - 0.1
        assert good["bce"] == pytest.approx(math.log(2), rel=1e-5)


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_lpcl_and_ncl_losses_finite_on_one_class_masks(fill):
    torch.manual_seed(0)
    m = torch.full((2, 1, 64, 64), fill)
    for name in ("lpclnet", "ncl"):
        model = create(name, preset="tiny", embed_dim=8)
        out = model(torch.rand(2, 3, 64, 64))
        total, parts = loss_for(name, patch_size=2)(out, m)
        total.backward()
        assert torch.isfinite(total) and all(torch.isfinite(v) for v in parts.values())
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_lpcl_loss_is_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    x, m = blob_batch(2)
    model = create("lpclnet", preset="tiny")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        total, parts = loss_for("lpclnet", patch_size=2)(out, m)
    assert total.dtype == torch.float32 and torch.isfinite(total)
    assert all(v.dtype == torch.float32 for v in parts.values())


def test_ncl_branches_switch_contour_roles():
    """Branch A must prefer contour patches that look tampered, branch B ones that look authentic."""
    m = rect_mask()
    plab = patch_labels(m, 2, grid=(8, 8))
    assert {AUTHENTIC, TAMPERED, CONTOUR} <= set(plab.unique().tolist())
    lab = plab.repeat_interleave(2, 1).repeat_interleave(2, 2)  # patch label of each embedding pixel
    e_a, e_t, _ = basis()
    as_t = class_embeddings(lab, [e_a, e_t, e_t])   # contour patches embedded like tampered ones
    as_a = class_embeddings(lab, [e_a, e_t, e_a])   # ... like authentic ones
    loss = NCLLoss(patch_size=2)
    z = torch.zeros(2, 1, 32, 32)

    def parts(emb):
        return loss({"logits": z, "logits_a": z, "logits_b": z, "embeddings_a": emb, "embeddings_b": emb}, m)[1]

    pt, pa = parts(as_t), parts(as_a)
    assert pt["contrast_a"] < pa["contrast_a"] - 0.5
    assert pa["contrast_b"] < pt["contrast_b"] - 0.5
    # both branches still separate pure tampered from pure authentic: shuffling hurts both
    ps = parts(shuffled(as_t))
    assert pt["contrast_a"] < ps["contrast_a"] and pa["contrast_b"] < parts(shuffled(as_a))["contrast_b"]


def test_ncl_pivot_term_measures_branch_disagreement():
    m = rect_mask()
    emb = F.normalize(torch.randn(2, 8, 8, 8), dim=1)
    z = torch.zeros(2, 1, 32, 32)
    base = {"logits": z, "logits_a": z, "logits_b": z, "embeddings_a": emb, "embeddings_b": emb}
    _, agree = NCLLoss(patch_size=2)(base, m)
    _, differ = NCLLoss(patch_size=2)({**base, "logits_a": z + 4.0}, m)
    assert agree["pivot"] == 0.0
    want = 0.5 * (torch.sigmoid(torch.tensor(4.0)) - 0.5) ** 2
    assert differ["pivot"].item() == pytest.approx(want.item(), rel=1e-5)


# ---------------------------------------------------------------------------------------------
# models
@pytest.mark.parametrize("name", ["lpclnet", "ncl"])
def test_model_forward_backward_non_square(name):
    torch.manual_seed(0)
    model = create(name, preset="tiny")
    x = torch.rand(2, 3, 64, 96)
    out = model(x)
    assert out["logits"].shape == (2, 1, 64, 96)
    emb = out["embeddings"]
    assert emb.shape[0] == 2 and emb.shape[-2:] == (16, 24)
    assert torch.allclose(emb.norm(dim=1), torch.ones(2, 16, 24), atol=1e-4)
    if name == "ncl":
        for k in ("logits_a", "logits_b"):
            assert out[k].shape == (2, 1, 64, 96)
        for k in ("embeddings_a", "embeddings_b"):
            assert out[k].shape == (2, 32, 16, 24)
    m = (torch.rand(2, 1, 64, 96) > 0.7).float()
    total, _ = loss_for(name, patch_size=2)(out, m)
    total.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", ["lpclnet", "ncl"])
def test_model_rejects_bad_input(name):
    model = create(name, preset="tiny")
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.rand(1, 3, 48, 64))
    with pytest.raises(ValueError, match=r"\(B,3,H,W\)"):
        model(torch.rand(1, 1, 64, 64))
    with pytest.raises(KeyError, match="preset"):
        create(name, preset="huge")


def test_paper_preset_is_larger():
    small = sum(p.numel() for p in create("lpclnet", preset="tiny").parameters())
    big = sum(p.numel() for p in create("lpclnet").parameters())
    assert big > 50 * small


def _overfit(name, steps=300, lr=3e-3):
    torch.manual_seed(0)
    x, m = blob_batch()
    model = create(name, preset="tiny")
    loss = loss_for(name, patch_size=2)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    best = 0.0
    for step in range(1, steps + 1):
        model.train()
        total, _ = loss(model(x), m)
        opt.zero_grad()
        total.backward()
        opt.step()
        if step % 25 == 0:
            model.eval()
            with torch.no_grad():
                best = max(best, f1(model(x)["logits"], m))
            if best > 0.9:
                break
    return best, step


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lpclnet", "ncl"])
def test_overfits_small_batch(name):
    best, step = _overfit(name)
    assert best > 0.9, f"{name}: eval-mode F1 {best:.3f} after {step} steps"
