"""ReConWave-Net classification-guided restorer (Yu et al. 2026: the abstract, Table 7 attentions; the rest is our design)."""
import pytest
import torch
import torch.nn.functional as F

from paper_repro.losses import loss_for
from paper_repro.models import create
from paper_repro.models.restorer import ATTENTIONS, DeformableAttention, image_statistics
from paper_repro.perturb import DISTURBANCE_CLASSES, random_disturbance


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("size", [(64, 96), (32, 48)])  # bottleneck 8x12 and 4x6 (not a window multiple)
def test_restorer_forward_backward_shapes(attention, size):
    torch.manual_seed(0)
    m = create("restorer", width=4, attention=attention)
    x = torch.rand(2, 3, *size)
    out = m(x)
    assert out["restored"].shape == x.shape
    assert out["disturbance_logits"].shape == (2, len(DISTURBANCE_CLASSES)) and out["strength"].shape == (2, 1)
    # zero-initialised gain/bias head: the untrained restorer is the identity
    torch.testing.assert_close(out["restored"], x)
    dist, cls, strength = random_disturbance(x, torch.Generator().manual_seed(0))
    loss, parts = loss_for("restorer")(m(dist), None, clean=x, disturbance=cls, strength=strength)
    loss.backward()
    assert torch.isfinite(loss) and {"l1", "ffl", "edge", "cls", "strength"} <= set(parts)
    assert m.head.weight.grad.abs().sum() > 0
    assert m.classifier.mlp[-1].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_restorer_is_conditioned_on_the_disturbance_class(attention):
    torch.manual_seed(0)
    m = create("restorer", width=4, attention=attention).eval()
    for mod in (m.head, m.film[-1]):
        torch.nn.init.normal_(mod.weight, std=0.05)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        a = m(x, disturbance=torch.tensor([1]), strength=torch.tensor([0.3]))["restored"]
        b = m(x, disturbance=torch.tensor([4]), strength=torch.tensor([0.3]))["restored"]
    assert (a - b).abs().max() > 1e-4


def test_detached_condition_keeps_restoration_gradients_out_of_the_classifier():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    for detach in (True, False):
        m = create("restorer", width=4, attention="vit", detach_condition=detach)
        for mod in (m.head, m.film[-1]):
            torch.nn.init.normal_(mod.weight, std=0.05)
        m(x)["restored"].sum().backward()
        g = m.classifier.mlp[-1].weight.grad
        assert (g is None or g.abs().sum() == 0) == detach


def test_deformable_attention_samples_at_reference_and_offset_points():
    torch.manual_seed(0)
    att = DeformableAttention(8, heads=2, points=3)
    for lin in (att.offsets, att.weights):
        torch.nn.init.zeros_(lin.weight)
        torch.nn.init.zeros_(lin.bias)
    vmap = torch.randn(1, 8, 5, 7)
    q = torch.randn(1, 35, 8)
    tokens = vmap.flatten(2).transpose(1, 2)
    # zero offsets: every sample is the query's own pixel -> proj(value(x)) pointwise
    torch.testing.assert_close(att(q, vmap), att.proj(att.value(tokens)), atol=1e-5, rtol=0)
    # offsets of +1 pixel in x: the value map shifted left by one column, zeros past the border
    with torch.no_grad():
        att.offsets.bias.view(2, 3, 2)[..., 0] = 1.0
    v = att.value(tokens).transpose(1, 2).reshape(1, 8, 5, 7)
    shifted = torch.cat([v[..., 1:], torch.zeros_like(v[..., :1])], dim=-1)
    expected = att.proj(shifted.flatten(2).transpose(1, 2))
    border = torch.zeros(5, 7, dtype=torch.bool)
    border[:, -1] = True
    got = att(q, vmap)
    torch.testing.assert_close(got[:, ~border.flatten()], expected[:, ~border.flatten()], atol=1e-5, rtol=0)
    torch.testing.assert_close(got[:, border.flatten()], att.proj(torch.zeros(1, 5, 8)), atol=1e-5, rtol=0)


def test_image_statistics_and_bad_inputs():
    x = torch.full((1, 3, 16, 16), 0.25)
    s = image_statistics(x)
    torch.testing.assert_close(s[0, :3], torch.full((3,), 0.25))
    torch.testing.assert_close(s[0, 3:6], torch.zeros(3))
    with pytest.raises(ValueError, match="attention"):
        create("restorer", attention="performer")
    with pytest.raises(ValueError, match="multiples of 8"):
        create("restorer", width=4)(torch.rand(1, 3, 36, 32))


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_restorer_learns_to_undo_a_brightness_shift(attention):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    clean = F.interpolate(torch.rand(4, 3, 8, 8, generator=g), size=(32, 32), mode="bilinear") * 0.6 + 0.1
    dist = (clean + 0.2).clamp(0, 1)
    mask = torch.zeros(4, 1, 32, 32)
    mask[:, :, 8:20, 8:20] = 1
    m = create("restorer", width=8, attention=attention)
    crit = loss_for("restorer")
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    labels, strength = torch.full((4,), 1), torch.full((4,), 0.2)
    l1 = []
    for _ in range(30):
        loss, parts = crit(m(dist), mask, clean=clean, disturbance=labels, strength=strength)
        opt.zero_grad()
        loss.backward()
        opt.step()
        l1.append(parts["l1"].item())
    assert l1[-1] < 0.5 * l1[0], l1
    m.eval()
    with torch.no_grad():
        out = m(dist)
    assert (out["restored"] - clean).abs().mean() < (dist - clean).abs().mean()


def test_inverse_restorer_starts_as_the_analytic_inverse_of_the_decided_class():
    """``inverse=True``: with the true class and strength given, the untrained restorer (zero-initialised
    refinement) returns exactly the analytic inverse (perturb.invert without the clean image)."""
    from paper_repro import perturb as P

    torch.manual_seed(0)
    m = create("restorer", width=8, inverse=True).eval()
    x = torch.rand(2, 3, 32, 32)
    for name, level, cls, strength in (("brightness", 0.3, 1, 0.3), ("brightness", -0.4, 2, -0.4),
                                        ("contrast", 0.6, 3, -0.4), ("contrast", 1.8, 4, 0.8)):
        y = P.apply(name, x, level)
        out = m(y, disturbance=torch.full((2,), cls), strength=torch.full((2,), strength))
        assert torch.allclose(out["restored"], P.invert(y, name, level), atol=1e-5), (name, level)
        assert out["strength_per_class"].shape == (2, 5)


def test_anchor_strengths_read_the_extremes_of_a_black_to_white_photo():
    from paper_repro import perturb as P
    from paper_repro.models.restorer import anchor_strengths

    x = torch.rand(1, 3, 64, 64)
    x[..., 0, 0], x[..., 0, 1] = 0.0, 1.0  # the clean photo reaches black and white
    a = anchor_strengths(P.brightness(x, 0.25))
    assert a[0, 1].item() == pytest.approx(0.25, abs=1e-6)
    a = anchor_strengths(P.brightness(x, -0.3))
    assert a[0, 2].item() == pytest.approx(-0.3, abs=1e-6)
    a = anchor_strengths(P.contrast(x, 0.7))
    assert a[0, 3].item() == pytest.approx(-0.3, abs=1e-6)


def _ramp(levels: int = 256, repeat: int = 4) -> torch.Tensor:
    """A clean grey ramp on the 8-bit grid: every level 0..255 equally often, (1, 3, repeat, levels)."""
    row = torch.arange(levels, dtype=torch.float32) / 255.0
    return row.view(1, 1, 1, -1).expand(1, 3, repeat, levels).contiguous()


def test_histogram_features_tell_clean_darkened_and_contrast_changed_ramps_apart():
    from paper_repro import perturb as P
    from paper_repro.models.restorer import N_HISTOGRAM_FEATURES, histogram_features

    clean, dark = _ramp(), P.brightness(_ramp(), -0.3)
    lower, higher = P.contrast(_ramp(), 0.7), P.contrast(_ramp(), 2.0)
    f = {k: histogram_features(v)[0] for k, v in dict(clean=clean, dark=dark, lower=lower, higher=higher).items()}
    assert all(v.shape == (N_HISTOGRAM_FEATURES,) for v in f.values())
    clip0, clip255, second, _first, empty, darkest, brightest = range(32, 39)
    # clean: flat histogram over the whole range, one pixel level at each end, no comb
    assert f["clean"][clip0].item() == pytest.approx(1 / 256) and f["clean"][clip255].item() == pytest.approx(1 / 256)
    assert f["clean"][second].item() == pytest.approx(0.0, abs=1e-6) and f["clean"][empty].item() == 0.0
    assert (f["clean"][darkest].item(), f["clean"][brightest].item()) == (0.0, 1.0)
    # darkened by 0.3: the darkest 0.3 of the levels pile up at 0, nothing reaches white
    assert f["dark"][clip0].item() == pytest.approx(77 / 256, abs=1 / 256)
    assert f["dark"][brightest].item() == pytest.approx(0.7, abs=1 / 255) and f["dark"][clip255].item() == 0.0
    # lower contrast: no pile-up at 0, the top empty, doubled bins (peaks) in between
    assert f["lower"][clip0].item() <= 2 / 256 and f["lower"][brightest].item() == pytest.approx(0.7, abs=1 / 255)
    assert f["lower"][second].item() > 0.5 and f["lower"][empty].item() == 0.0
    # higher contrast: every other level inside the range is empty, half the ramp clipped at white
    assert f["higher"][empty].item() == pytest.approx(0.5, abs=0.02)
    assert f["higher"][clip255].item() == pytest.approx(0.5, abs=0.01)
    # content-invariant: the order of the pixels does not matter
    perm = lower.flatten(2)[..., torch.randperm(lower[0, 0].numel())].view_as(lower)
    assert torch.allclose(histogram_features(perm), histogram_features(lower))


def test_comb_gain_reads_a_stored_gain_and_nothing_else():
    import torch.nn.functional as F

    from paper_repro import perturb as P
    from paper_repro.models.restorer import COMB_MIN_EMPTY, anchor_strengths, comb_gain

    ramp = _ramp()
    for beta in (1.5, 2.0):
        y = P.store8(P.contrast(ramp, beta))
        assert comb_gain(y).item() == pytest.approx(beta - 1, abs=0.03)
        assert anchor_strengths(y)[0, 4].item() == pytest.approx(beta - 1, abs=0.03)
    # no gain, no comb: clean, darkened, brightened by half a level's multiple, lower contrast
    for y in (ramp, P.store8(P.brightness(ramp, -0.3)), P.store8(P.brightness(ramp, 0.1)),
              P.store8(P.contrast(ramp, 0.7))):
        assert comb_gain(y).item() < COMB_MIN_EMPTY
    # a gain resized off the 8-bit grid has no comb: the anchor falls back to the clipped share f / (1 - f)
    # (a ramp four pixels per level, so that the resized gain of 2 still reaches every level)
    wide = ramp.repeat_interleave(4, dim=-1)
    y = P.contrast(wide, 2.0)
    assert comb_gain(y).item() == pytest.approx(1.0, abs=0.03)
    blurred = F.interpolate(F.interpolate(y, scale_factor=0.5, mode="bilinear", antialias=True, align_corners=False),
                            size=y.shape[-2:], mode="bilinear", align_corners=False)
    assert comb_gain(blurred).item() < COMB_MIN_EMPTY
    lum = blurred.mean(1)
    f = (lum >= 1 - 0.5 / 255).float().mean().item()
    assert anchor_strengths(blurred)[0, 4].item() == pytest.approx(f / (1 - f), abs=1e-5)


def test_store8_rounds_halves_up_so_a_half_level_shift_leaves_no_comb():
    from paper_repro import perturb as P
    from paper_repro.models.restorer import histogram_features

    ramp = _ramp()
    shifted = P.store8(P.brightness(ramp, 0.1))  # 25.5 levels
    codes = (shifted * 255).round()
    assert torch.allclose(shifted * 255, codes, atol=1e-3)
    assert torch.equal(codes[0, 0, 0, :200], torch.arange(26, 226, dtype=codes.dtype))  # every level moved by 26
    assert histogram_features(shifted)[0, 36].item() == 0.0  # no empty level in range
    assert histogram_features(torch.round(P.brightness(ramp, 0.1) * 255) / 255)[0, 36].item() > 0.2  # half to even


def test_histogram_quantiser_keeps_levels_and_moves_a_half_level_shift_in_one_piece():
    from paper_repro.models.restorer import histogram_features

    ramp = _ramp()
    # alpha = 0.1 is 25.5 levels: rounding would send alternate levels 25 and 26 up (a comb); the quantiser
    # moves the whole histogram by 25 levels, as a shift by a whole number of levels does
    half = histogram_features((ramp + 25.5 / 255).clamp(0, 1))
    assert torch.allclose(half, histogram_features((ramp + 25 / 255).clamp(0, 1)))
    rounded = torch.round((ramp + 25.5 / 255).clamp(0, 1) * 255) / 255
    assert histogram_features(rounded)[0, 36].item() > 0.2  # what rounding would have shown: empty bins
    assert histogram_features(ramp)[0, 36].item() == 0.0


def test_decision_defaults_to_clean_when_the_evidence_is_weak():
    from paper_repro.models.restorer import decide_disturbance

    probs = torch.tensor([[0.10, 0.60, 0.10, 0.10, 0.10],   # confident: brighter
                          [0.30, 0.05, 0.45, 0.10, 0.10],   # most probable "darker", but weak
                          [0.05, 0.05, 0.05, 0.05, 0.80]])  # confident: higher contrast
    assert decide_disturbance(probs).tolist() == [1, 2, 4]
    assert decide_disturbance(probs, clean_threshold=0.5).tolist() == [1, 0, 4]


def _restorer_deciding(cls: int, **cfg):
    m = create("restorer", width=8, inverse=True, histogram=True, **cfg)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in m.head.parameters():  # a refinement that changes every pixel, as a trained one does
            p.normal_(0, 0.1)
        last = m.classifier.mlp[-1]
        last.weight[:5].zero_()
        last.bias[:5] = -10.0
        last.bias[cls] = 10.0
    return m.eval()


def test_a_photo_decided_clean_passes_through_the_restorer_unchanged():
    x = torch.rand(2, 3, 32, 32)
    out = _restorer_deciding(0, clean_threshold=0.5, skip_clean=True)(x)
    assert out["disturbance"].tolist() == [0, 0]
    assert torch.equal(out["restored"], x)
    # without skip_clean, or when a disturbance is decided, the refinement changes the photo
    assert not torch.equal(_restorer_deciding(0, skip_clean=False)(x)["restored"], x)
    decided_dark = _restorer_deciding(2, skip_clean=True)(x)
    assert decided_dark["disturbance"].tolist() == [2, 2] and not torch.equal(decided_dark["restored"], x)


def test_classifier_pretraining_is_seeded_learns_and_leaves_the_global_rng_alone():
    from paper_repro.models.restorer import DisturbanceClassifier
    from paper_repro.train import ClassifierPretrainCallback

    g = torch.Generator().manual_seed(0)
    photos = [(torch.rand(3, 32, 32, generator=g) * 0.9 + 0.05, torch.zeros(1, 32, 32)) for _ in range(8)]

    def run(seed):
        torch.manual_seed(0)
        clf = DisturbanceClassifier(8, 32, per_class=True, histogram=True)
        cb = ClassifierPretrainCallback(seed, steps=60, batch=4, views=2, lr=5e-3, progress=False)
        state = torch.get_rng_state()
        history = cb.pretrain(clf, photos)
        assert torch.equal(torch.get_rng_state(), state)
        return clf, history

    a, ha = run(0)
    b, hb = run(0)
    _, hc = run(1)
    assert ha == hb and ha != hc
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert sum(ha[-10:]) / 10 < 0.7 * sum(ha[:10]) / 10  # the loss falls


def test_a_frozen_classifier_stays_fixed_through_training_mode_and_steps():
    torch.manual_seed(0)
    m = create("restorer", width=8, inverse=True, histogram=True).freeze_classifier()
    m.train()
    assert not m.classifier.training and m.down[0][0].training  # batch norm of the classifier keeps its statistics
    before = {k: v.clone() for k, v in m.classifier.state_dict().items()}
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    clean = torch.rand(4, 3, 32, 32)
    x, labels, strength = random_disturbance(clean, generator=torch.Generator().manual_seed(0))
    loss, _ = loss_for("restorer")(m(x), None, clean=clean, disturbance=labels, strength=strength)
    loss.backward()
    opt.step()
    assert all(torch.equal(v, before[k]) for k, v in m.classifier.state_dict().items())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.head.parameters())


def test_interval_mean_under_a_value_prior():
    from paper_repro.models.restorer import interval_mean

    lo, hi = torch.tensor([0.5, 0.0, 0.3]), torch.tensor([1.0, 0.5, 0.3 + 1e-6])
    uniform = interval_mean(torch.ones(256), lo, hi)
    assert torch.allclose(uniform, 0.5 * (lo + hi), atol=2e-3)  # a flat histogram: the midpoint
    spike = torch.zeros(256)
    spike[200] = 5.0
    got = interval_mean(spike, lo, hi)
    assert got[0].item() == pytest.approx(200 / 255)  # all the mass inside: that value
    assert got[1].item() == pytest.approx(0.25)  # no mass inside: the midpoint
    assert got[2].item() == pytest.approx(0.3, abs=1e-5)


def test_prior_fill_with_the_photos_own_histogram_is_the_oracle_fill():
    """A grey photo brightened by 0.5: with its own code histogram as the prior, the restorer's analytic inverse
    given the truth fills the clipped pixels with their clean mean, which is what the oracle does."""
    from paper_repro.models.restorer import invert_disturbance
    from paper_repro.perturb import apply, invert, store8

    g = torch.Generator().manual_seed(0)
    grey = store8(0.35 + 0.6 * torch.rand(1, 1, 24, 24, generator=g)).expand(1, 3, 24, 24).contiguous()
    y = store8(apply("brightness", grey, 0.5))
    assert (y >= 1 - 0.5 / 255).float().mean() > 0.3  # a good part clips
    probs = F.one_hot(torch.tensor([1]), 5).float()
    strength = torch.full((1, 5), 0.5)
    prior = torch.bincount((grey * 255).round().long().reshape(-1), minlength=256).float()
    filled = invert_disturbance(y, probs, strength, prior=prior)
    oracle = invert(y, "brightness", 0.5, clean=grey)
    assert torch.allclose(filled, oracle, atol=1e-4)
    midpoint = invert_disturbance(y, probs, strength)
    assert torch.allclose(midpoint, invert(y, "brightness", 0.5), atol=1e-6)
    assert F.mse_loss(filled, grey) < F.mse_loss(midpoint, grey)


def test_the_value_prior_is_a_buffer_only_when_asked_for_and_is_set_from_whole_photos():
    from paper_repro.train import ValuePriorCallback

    assert "value_prior" not in create("restorer", width=8).state_dict()  # earlier checkpoints still load
    m = create("restorer", width=8, inverse=True, prior_fill=True)
    assert torch.equal(m.state_dict()["value_prior"], torch.ones(256))
    with pytest.raises(ValueError, match="256"):
        m.set_value_prior(torch.zeros(256))
    with pytest.raises(ValueError, match="prior_fill"):
        create("restorer", width=8).set_value_prior(torch.ones(256))

    class Photos:
        def __init__(self):
            g = torch.Generator().manual_seed(1)
            self.images = [torch.rand(5, 7, 3, generator=g).numpy() for _ in range(6)]

        def __len__(self):
            return len(self.images)

        def read(self, i):
            return self.images[i], None

        def __getitem__(self, i):
            raise AssertionError("the prior reads whole photos, never a random crop")

    cb = ValuePriorCallback(seed=0, n_images=4)
    counts = cb.histogram(Photos())
    assert counts.sum() == 4 * 5 * 7 * 3 and (counts == cb.histogram(Photos())).all()
    assert not (counts == ValuePriorCallback(seed=1, n_images=4).histogram(Photos())).all()
    assert ValuePriorCallback(seed=0, n_images=99).histogram(Photos()).sum() == 6 * 5 * 7 * 3
    m.set_value_prior(counts)
    assert torch.equal(m.value_prior, torch.as_tensor(counts, dtype=torch.float32))
