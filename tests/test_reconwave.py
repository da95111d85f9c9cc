"""ReConWave-Net detector, DWT, CBAM and the pipeline / restoration baselines (Yu et al. 2026)."""
import numpy as np
import pytest
import pywt
import torch

from paper_repro.models import create
from paper_repro.models.blocks import CBAM
from paper_repro.models.dwt import WAVELETS, DWT2d, IDWT2d
from paper_repro.models.pipeline import ReConWavePipeline
from paper_repro.losses import loss_for


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_dwt_is_invertible_and_matches_pywt(wavelet):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 32, 48, generator=g)
    bands = DWT2d(wavelet)(x)
    assert all(b.shape == (2, 3, 16, 24) for b in bands)
    torch.testing.assert_close(IDWT2d(wavelet)(*bands), x, atol=1e-5, rtol=0)
    cA, (cH, cV, cD) = pywt.dwt2(x[1, 2].double().numpy(), wavelet, mode="periodization")
    for ours, ref in zip(bands, (cA, cH, cV, cD)):
        np.testing.assert_allclose(ours[1, 2].numpy(), ref, atol=1e-5)
    # orthogonal wavelets preserve energy
    if wavelet != "bior4.4":
        energy = sum((b ** 2).sum() for b in bands)
        torch.testing.assert_close(energy, (x ** 2).sum(), rtol=1e-5, atol=1e-3)


def test_dwt_on_maps_smaller_than_the_filter_and_bad_input():
    x = torch.randn(1, 2, 4, 6)
    for w in ("sym4", "bior4.4"):
        bands = DWT2d(w)(x)
        np.testing.assert_allclose(bands[0][0, 1].numpy(), pywt.dwt2(x[0, 1].numpy(), w, mode="periodization")[0], atol=1e-5)
        torch.testing.assert_close(IDWT2d(w)(*bands), x, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="even"):
        DWT2d()(torch.randn(1, 1, 5, 6))
    with pytest.raises(ValueError, match="wavelet"):
        DWT2d("no-such-wavelet")


def test_cbam_rescales_without_changing_sign():
    torch.manual_seed(0)
    cbam = CBAM(8)
    x = torch.randn(2, 8, 12, 10)
    y = cbam(x)
    assert y.shape == x.shape
    assert torch.all(y.abs() <= x.abs() + 1e-6) and torch.all(y * x >= 0)
    assert not torch.allclose(y, x * 0.25)  # attention actually varies over channels/positions


# Table 4's four rows (haar), plus the full model with every wavelet
_CASES = [("haar", d, c) for d in (False, True) for c in (False, True)] + [(w, True, True) for w in WAVELETS[1:]]


@pytest.mark.parametrize("wavelet,dwfel,contrastive", _CASES)
def test_reconwave_forward_backward_non_square(wavelet, dwfel, contrastive):
    torch.manual_seed(0)
    m = create("reconwave", width=4, wavelet=wavelet, dwfel=dwfel, contrastive=contrastive, embed_dim=16)
    x = torch.rand(2, 3, 64, 96)
    out = m(x)
    assert out["logits"].shape == (2, 1, 64, 96)
    if contrastive:
        e = out["embeddings"]
        assert e.shape == (2, 16, 16, 24)  # projection head at 1/4 resolution
        torch.testing.assert_close(e.norm(dim=1), torch.ones(2, 16, 24), atol=1e-5, rtol=0)
    else:
        assert "embeddings" not in out and m.proj is None
    loss, parts = loss_for("reconwave")(out, (torch.rand(2, 1, 64, 96) > 0.7).float())
    assert torch.isfinite(loss) and ("contrastive" in parts) == contrastive
    loss.backward()
    assert m.stem[0][0].weight.grad.abs().sum() > 0
    has_dwt = any(isinstance(mod, DWT2d) for mod in m.modules())
    assert has_dwt == dwfel
    if dwfel:
        assert m.down[0].fuse[0].weight.grad.abs().sum() > 0  # the wavelet branch is in the graph


def test_reconwave_bad_inputs_and_features():
    m = create("reconwave", width=4, return_features=True)
    out = m(torch.rand(1, 3, 32, 64))
    assert out["features"].shape == (1, 16, 8, 16)
    with pytest.raises(ValueError, match="multiples of 16"):
        m(torch.rand(1, 3, 40, 64))
    with pytest.raises(ValueError, match="wavelet"):
        create("reconwave", wavelet="db9")


def test_pipeline_restore_switch_and_frozen_restorer():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 64, 96)
    p = create("reconwave-pipeline", restorer_cfg=dict(width=4, attention="vit"), detector_cfg=dict(width=4))
    p.train()
    assert not p.restorer.training  # frozen restorer stays in eval mode
    out = p(x)
    assert out["logits"].shape == (2, 1, 64, 96) and out["restored"].shape == x.shape
    assert out["disturbance_logits"].shape == (2, 5) and out["strength"].shape == (2, 1)
    loss, _ = loss_for("reconwave-pipeline")(out, (torch.rand(2, 1, 64, 96) > 0.5).float())
    loss.backward()
    assert all(q.grad is None for q in p.restorer.parameters())
    assert p.detector.head.weight.grad is not None

    q = ReConWavePipeline(restore=False, detector_cfg=dict(width=4, contrastive=False))
    out = q(x)
    assert q.restorer is None and "disturbance_logits" not in out and out["restored"] is x
    det_only = q.detector(x)["logits"]
    torch.testing.assert_close(out["logits"], det_only)

    # the restorer really sits in front of the detector: a non-identity restorer changes the logits
    p.restorer.head.bias.data[3:] = 0.1
    torch.testing.assert_close(p(x)["restored"], (x + 0.1).clamp(0, 1))
    with pytest.raises(TypeError, match="unknown options"):
        create("reconwave-pipeline", width=4)


def _moment_image(seed=0, mean=0.45, std=0.25):
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(2, 3, 32, 32, generator=g)
    z = (z - z.mean(dim=(1, 2, 3), keepdim=True)) / z.std(dim=(1, 2, 3), keepdim=True)
    return mean + std * z


def test_restore_baselines():
    x = torch.rand(2, 3, 32, 32)
    out = create("restore-none")(x)
    assert out["restored"] is x and torch.all(out["disturbance_logits"].argmax(1) == 0)

    clean = _moment_image()
    cls = create("restore-classical")
    o = cls(clean)
    torch.testing.assert_close(o["restored"], clean, atol=1e-4, rtol=0)
    assert torch.all(o["disturbance_logits"].argmax(1) == 0)

    low = clean.mean(dim=(1, 2, 3), keepdim=True) + 0.5 * (clean - clean.mean(dim=(1, 2, 3), keepdim=True))
    o = cls(low)
    torch.testing.assert_close(o["restored"], clean, atol=1e-4, rtol=0)
    assert torch.all(o["disturbance_logits"].argmax(1) == 3)
    torch.testing.assert_close(o["strength"], torch.full((2, 1), -0.5), atol=1e-3, rtol=0)

    bright = clean + 0.1  # max 0.88 + 0.1: no clipping
    o = cls(bright)
    torch.testing.assert_close(o["restored"], clean, atol=1e-4, rtol=0)
    assert torch.all(o["disturbance_logits"].argmax(1) == 1)
    torch.testing.assert_close(o["strength"], torch.full((2, 1), 0.1), atol=1e-3, rtol=0)
    assert torch.all(cls(clean - 0.1)["disturbance_logits"].argmax(1) == 2)


def _synthetic_batch(n=4, h=64, w=64):
    """Flat noisy images; tampered rectangles / discs carry a coloured sinusoidal texture."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 3, h, w, generator=g) * 0.2 + 0.4
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    mask = torch.zeros(n, 1, h, w)
    for i in range(n):
        if i % 2 == 0:
            y0, x0 = torch.randint(0, h // 2, (2,), generator=g)
            hh, ww = torch.randint(12, h // 2, (2,), generator=g)
            m = (yy >= y0) & (yy < y0 + hh) & (xx >= x0) & (xx < x0 + ww)
        else:
            cy, cx = torch.randint(16, h - 16, (2,), generator=g)
            r = torch.randint(8, 14, (1,), generator=g)
            m = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
        mask[i, 0] = m.float()
    tex = (torch.sin(xx * 1.3) * torch.sin(yy * 0.9) * 0.15 + 0.1) * torch.tensor([1.0, 0.3, -0.5])[:, None, None]
    return (x + tex * mask).clamp(0, 1), mask


@pytest.mark.slow
def test_reconwave_overfits_a_small_batch():
    torch.manual_seed(0)
    x, mask = _synthetic_batch()
    m = create("reconwave", width=8)
    crit = loss_for("reconwave")
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    f1 = 0.0
    for step in range(1, 201):
        m.train()
        loss, _ = crit(m(x), mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 0:
            m.eval()
            with torch.no_grad():
                pred = (m(x)["logits"] > 0).float()
            f1 = (2 * (pred * mask).sum() / (pred.sum() + mask.sum())).item()
            if f1 > 0.9:
                break
    assert f1 > 0.9, f"F1 {f1:.3f} after {step} steps"


def test_freeze_bn_keeps_the_pretrained_encoders_statistics():
    from paper_repro.models import create

    torch.manual_seed(0)
    model = create("reconwave", encoder="efficientnet-lite0", width=8, embed_dim=8, freeze_bn=True)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items() if "running_" in k}
    model.train()
    enc_bn = [m for m in model.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    dec_bn = [m for m in model.dec.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert enc_bn and dec_bn and not any(m.training for m in enc_bn) and all(m.training for m in dec_bn)
    out = model(torch.rand(2, 3, 64, 64))
    out["logits"].mean().backward()
    after = model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # ImageNet statistics kept
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for m in enc_bn for p in m.parameters())
    free = create("reconwave", encoder="efficientnet-lite0", width=8, embed_dim=8).train()
    assert all(m.training for m in free.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with pytest.raises(ValueError, match="freeze_bn"):
        create("reconwave", encoder="scratch", freeze_bn=True)
