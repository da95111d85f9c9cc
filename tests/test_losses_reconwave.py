"""Segmentation, pixel contrastive and restoration losses of ReConWave-Net (Yu et al. 2026)."""
import pytest
import torch
import torch.nn.functional as F

from paper_repro.losses import loss_for
from paper_repro.losses.contrastive import ReConWaveLoss, SupervisedPixelContrastive, downsample_mask, supcon
from paper_repro.losses.restoration import FocalFrequencyLoss, ForensicRestorationLoss, canny_edges
from paper_repro.losses.segmentation import BCEDiceLoss, BCELoss, SigmoidFocalLoss


pytestmark = pytest.mark.usefixtures("one_thread")


def _mask(b=2, h=32, w=32):
    m = torch.zeros(b, 1, h, w)
    m[:, :, 8:20, 4:24] = 1
    return m


def test_bce_dice_perfect_vs_wrong_and_resizing():
    mask = _mask()
    good, parts = BCEDiceLoss()({"logits": (mask * 2 - 1) * 20}, mask)
    bad, _ = BCEDiceLoss()({"logits": (1 - 2 * mask) * 20}, mask)
    assert good < 1e-3 and bad > 10 and set(parts) == {"bce", "dice"}
    # logits at half resolution are upsampled to the mask
    small = F.interpolate((mask * 2 - 1) * 20, scale_factor=0.5, mode="nearest")
    assert BCEDiceLoss()({"logits": small}, mask)[0] < 0.05
    # pos_weight scales the BCE of positive pixels only
    z = torch.zeros(2, 1, 32, 32)
    b1 = BCELoss()({"logits": z}, mask)[0]
    b3 = BCELoss(pos_weight=3.0)({"logits": z}, mask)[0]
    frac = mask.mean()
    torch.testing.assert_close(b3, b1 * (1 + 2 * frac))
    torch.testing.assert_close(b1, F.binary_cross_entropy_with_logits(z, mask))


def test_losses_are_fp32_under_bf16():
    mask = _mask()
    logits = torch.randn(2, 1, 32, 32, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = {"logits": logits.to(torch.bfloat16)}
        loss, _ = BCEDiceLoss()(out, mask)
    assert loss.dtype == torch.float32
    ref, _ = BCEDiceLoss()({"logits": logits.to(torch.bfloat16).float()}, mask)
    torch.testing.assert_close(loss, ref)
    loss.backward()
    assert logits.grad is not None


def test_sigmoid_focal_reduces_to_half_bce_without_focusing():
    mask = _mask()
    logits = torch.randn(2, 1, 32, 32)
    f0, parts = SigmoidFocalLoss(alpha=0.5, gamma=0.0)({"logits": logits}, mask)
    torch.testing.assert_close(f0, 0.5 * F.binary_cross_entropy_with_logits(logits, mask))
    # focusing down-weights easy pixels
    easy = (mask * 2 - 1) * 3
    assert SigmoidFocalLoss(gamma=2.0)({"logits": easy}, mask)[0] < SigmoidFocalLoss(gamma=0.0)({"logits": easy}, mask)[0] * 0.1
    assert "focal" in parts
    with pytest.raises(KeyError, match="logits"):
        SigmoidFocalLoss()({"embeddings": logits}, mask)


def test_downsample_mask_area_threshold():
    m = torch.zeros(1, 1, 4, 4)
    m[0, 0, :2, :2] = 1
    m[0, 0, 2, 2] = 1  # 1/4 of a 2x2 cell: below 0.5
    lab = downsample_mask(m, (2, 2))
    assert lab.tolist() == [[[1, 0], [0, 0]]]


def _separated_embeddings(mask, d=16, noise=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    a, t = torch.randn(d, generator=g), torch.randn(d, generator=g)
    lab = mask[:, :1]
    e = lab * t[:, None, None] + (1 - lab) * a[:, None, None]
    return F.normalize(e + noise * torch.randn(e.shape, generator=g), dim=1)


def test_pixel_contrastive_prefers_separated_embeddings():
    torch.manual_seed(0)
    mask = _mask(2, 16, 16)
    emb = _separated_embeddings(mask)
    perm = torch.randperm(16 * 16)
    shuffled = emb.flatten(2)[:, :, perm].reshape_as(emb)
    crit = SupervisedPixelContrastive(temperature=0.1, max_anchors=256, max_views=64)
    good, parts = crit({"embeddings": emb}, mask)
    bad, _ = crit({"embeddings": shuffled}, mask)
    assert torch.isfinite(good) and good < bad - 0.3
    assert "contrastive" in parts
    # mask given at full resolution: labels are downsampled to the embedding grid
    full = F.interpolate(mask, scale_factor=4, mode="nearest")
    torch.manual_seed(1)
    a = crit(emb, full)[0]
    torch.manual_seed(1)
    torch.testing.assert_close(a, crit(emb, mask)[0])


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_pixel_contrastive_single_class_is_a_zero_with_grad(value):
    emb = F.normalize(torch.randn(2, 8, 8, 8), dim=1).requires_grad_(True)
    loss, _ = SupervisedPixelContrastive()(emb, torch.full((2, 1, 32, 32), value))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.all(emb.grad == 0)


def test_reconwave_loss_parts_and_weight():
    torch.manual_seed(0)
    mask = _mask(2, 32, 32)
    out = {"logits": torch.randn(2, 1, 32, 32), "embeddings": _separated_embeddings(_mask(2, 8, 8), seed=1)}
    total, parts = loss_for("reconwave")(out, mask)
    assert set(parts) == {"bce", "dice", "contrastive"}
    torch.testing.assert_close(total, parts["bce"] + parts["dice"] + 0.1 * parts["contrastive"], atol=0.05, rtol=0)
    t0, p0 = ReConWaveLoss()({"logits": out["logits"]}, mask)
    assert set(p0) == {"bce", "dice"}
    torch.testing.assert_close(t0, p0["bce"] + p0["dice"])


def test_focal_frequency_loss():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 16, 16, generator=g)
    ffl = FocalFrequencyLoss()
    assert ffl(x, x.clone()).item() == 0.0
    y = x + 0.1 * torch.randn(x.shape, generator=g)
    assert ffl(y, x) > 0
    # the spectrum weight is at most 1, so FFL is bounded by the plain mean squared spectral distance
    d = torch.fft.fft2(y, norm="ortho") - torch.fft.fft2(x, norm="ortho")
    assert ffl(y, x) <= (d.abs() ** 2).mean() + 1e-7
    # alpha=1: weight |d| / max|d| per image and channel, so FFL = mean(|d|^3 / max|d|)
    a = d.abs()
    ref = (a ** 3 / a.amax(dim=(-2, -1), keepdim=True)).mean()
    torch.testing.assert_close(ffl(y, x), ref, rtol=1e-5, atol=1e-8)
    # the weight is detached: the gradient is that of the weighted squared distance with fixed weights
    yy = y.clone().requires_grad_(True)
    ffl(yy, x).backward()
    assert yy.grad is not None and torch.isfinite(yy.grad).all()


def test_canny_edges_equal_kornias_hysteresis():
    """The connected-component hysteresis gives kornia's iterated one, pixel for pixel, on noise, on photos with
    long edge chains (a chain that needs many rounds) and across a batch (no component joins two images)."""
    import kornia
    from skimage import data as skd

    g = torch.Generator().manual_seed(0)
    noise = torch.rand(3, 3, 48, 64, generator=g)
    photo = torch.from_numpy(skd.astronaut()[::2, ::2].copy()).permute(2, 0, 1).float()[None] / 255
    # a weak spiral joined to one strong pixel at its end: hysteresis must walk the whole chain
    spiral = torch.zeros(1, 1, 64, 64)
    spiral[0, 0, 8:56, 8] = spiral[0, 0, 8, 8:56] = spiral[0, 0, 8:56, 55] = spiral[0, 0, 55, 16:56] = 0.3
    spiral[0, 0, 55, 16] = 1.0
    for x, thr in ((noise, (0.1, 0.2)), (noise, (0.3, 0.9)), (photo, (0.1, 0.2)), (torch.cat([photo, photo.flip(-1)]), (0.2, 0.6)),
                   (spiral, (0.1, 0.2)), (spiral, (0.5, 1.5))):
        ours = canny_edges(x, *thr)
        ref = kornia.filters.canny(x, *thr)[1]
        assert ours.shape == ref.shape and ours.dtype == ref.dtype
        assert torch.equal(ours, ref)
    assert canny_edges(photo).sum() > 100  # there are edges to compare


def test_forensic_loss_weights_the_tampered_region_more():
    clean = torch.full((1, 3, 32, 32), 0.5)  # flat: no Canny edges, frequency magnitudes translation-invariant
    mask = torch.zeros(1, 1, 32, 32)
    mask[:, :, 4:12, 4:12] = 1
    inside, outside = clean.clone(), clean.clone()
    inside[:, :, 4:12, 4:12] += 0.2
    outside[:, :, 20:28, 20:28] += 0.2
    crit = ForensicRestorationLoss()
    li, pi = crit({"restored": inside}, mask, clean=clean)
    lo, po = crit({"restored": outside}, mask, clean=clean)
    assert li > lo * 1.3
    torch.testing.assert_close(pi["ffl"], po["ffl"])
    assert pi["l1"] > po["l1"] and pi["edge"] > po["edge"]
    assert crit({"restored": clean}, mask, clean=clean)[0].item() == 0.0
    # forensic=False: plain L1, blind to the mask
    plain = ForensicRestorationLoss(forensic=False)
    a, pa = plain({"restored": inside}, mask, clean=clean)
    b, _ = plain({"restored": outside}, mask, clean=clean)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, (inside - clean).abs().mean())
    assert set(pa) == {"l1"}


def test_forensic_loss_classifier_and_strength_terms():
    clean = torch.rand(2, 3, 16, 16)
    logits = torch.tensor([[5.0, 0, 0, 0, 0], [0, 0, 0, 0, 5.0]])
    out = {"restored": clean, "disturbance_logits": logits, "strength": torch.tensor([[0.0], [0.5]])}
    crit = loss_for("restorer")
    assert isinstance(crit, ForensicRestorationLoss)
    right, parts = crit(out, None, clean=clean, disturbance=torch.tensor([0, 4]), strength=torch.tensor([0.0, 0.5]))
    wrong, _ = crit(out, None, clean=clean, disturbance=torch.tensor([1, 2]), strength=torch.tensor([0.3, -0.2]))
    assert right < 0.01 < wrong and {"cls", "strength"} <= set(parts)
    with pytest.raises(ValueError, match="clean"):
        crit(out, None)


def test_focal_pixel_term_and_dice_off():
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 16, 16)
    mask = (torch.rand(2, 1, 16, 16) > 0.7).float()
    out = {"logits": logits}
    focal_dice = BCEDiceLoss(pos_weight=3.0, pixel="focal")
    total, parts = focal_dice(out, mask)
    focal, _ = SigmoidFocalLoss(alpha=0.75, gamma=2.0)(out, mask)  # pos_weight 3 -> alpha 3 / (1 + 3)
    assert set(parts) == {"focal", "dice"}
    assert total == pytest.approx(float(focal + parts["dice"]), rel=1e-6)
    bce_only, parts = BCEDiceLoss(pos_weight=3.0, dice_weight=0.0)(out, mask)
    assert set(parts) == {"bce"}
    assert bce_only == pytest.approx(float(BCELoss(3.0)(out, mask)[0]), rel=1e-6)
    loss = ReConWaveLoss(segmentation="focal", pos_weight=3.0, contrastive_weight=0.0)
    assert loss(out, mask)[0] == pytest.approx(float(total), rel=1e-6)
    with pytest.raises(ValueError, match="pixel term"):
        BCEDiceLoss(pixel="hinge")


def test_supcon_with_a_validity_mask_equals_supcon_of_the_valid_rows():
    g = torch.Generator().manual_seed(0)
    z = F.normalize(torch.randn(12, 5, generator=g), dim=1)
    y = torch.tensor([0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1])
    valid = torch.tensor([1, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0], dtype=torch.bool)
    torch.testing.assert_close(supcon(z, y, 0.1, valid=valid), supcon(z[valid], y[valid], 0.1))
    # an anchor without a positive is left out (it stays a negative of the others), not a NaN
    lone = supcon(z[:3], y[:3], 0.1)
    by_hand = -torch.log_softmax(z[:3] @ z[:3].t() / 0.1 - 1e9 * torch.eye(3), dim=1)[[0, 1], [1, 0]].mean()
    torch.testing.assert_close(lone, by_hand)
    assert supcon(z[1:3], y[1:3], 0.1).item() == 0.0  # two rows of different classes: no anchor has a positive


def test_pixel_sample_has_a_fixed_shape_and_respects_both_caps():
    torch.manual_seed(0)
    crit = SupervisedPixelContrastive(max_anchors=64, max_views=10)
    labels = torch.zeros(4, 8, 8, dtype=torch.long)
    labels[0, :2, :2] = 1          # 4 tampered pixels in image 0
    labels[1, :, :4] = 1           # 32 tampered pixels in image 1: capped at 10
    emb = torch.arange(4 * 64, dtype=torch.float32).reshape(4, 1, 8, 8).expand(4, 3, 8, 8).contiguous()
    z, y, valid, counts = crit.sample(emb, labels)
    assert z.shape == (64, 3) and y.shape == valid.shape == (64,)
    assert counts.tolist() == [32, 14]  # authentic: 4 x 10 candidates capped at 32; tampered: 4 + 10
    picked = z[valid & (y == 1), 0].long()
    assert len(set(picked.tolist())) == 14 and all(labels.flatten()[picked] == 1)
    per_image = torch.bincount(picked // 64, minlength=4)
    assert per_image.tolist() == [4, 10, 0, 0]
    assert all(labels.flatten()[z[valid & (y == 0), 0].long()] == 0)


def test_pixel_contrastive_step_reads_nothing_back_from_the_device():
    """No host synchronisation in the loss (forward and backward): no nonzero, no item, no boolean indexing.
    On a GPU each of those stalls the step until the device catches up; on the CPU they are counted here."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Spy(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.seen = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.__name__.split(".")[0]
            bool_index = name == "index" and any(
                t is not None and t.dtype == torch.bool for t in (args[1] if len(args) > 1 else []))
            if name in ("nonzero", "_local_scalar_dense", "is_nonzero", "masked_select") or bool_index:
                self.seen.append(name)
            return func(*args, **(kwargs or {}))

    torch.manual_seed(0)
    mask = _mask(2, 32, 32)
    out = {"logits": torch.randn(2, 1, 32, 32, requires_grad=True),
           "embeddings": _separated_embeddings(_mask(2, 8, 8), seed=1).requires_grad_(True)}
    with Spy() as spy:
        total, _ = loss_for("reconwave", pos_weight=3.0)(out, mask)
        total.backward()
    assert spy.seen == [], spy.seen
    assert torch.isfinite(total) and out["embeddings"].grad.abs().sum() > 0
