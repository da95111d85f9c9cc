import numpy as np
import pytest
import torch

from paper_repro import perturb as P


def _img(b=2, c=3, h=16, w=16, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=g).to(dtype)


def test_brightness_known_values_and_clipping():
    x = torch.tensor([0.0, 0.2, 0.7, 0.95]).view(1, 1, 2, 2)
    np.testing.assert_allclose(P.brightness(x, 0.1).flatten(), [0.1, 0.3, 0.8, 1.0], atol=1e-6)
    np.testing.assert_allclose(P.brightness(x, -0.3).flatten(), [0.0, 0.0, 0.4, 0.65], atol=1e-6)
    assert torch.equal(P.brightness(x, 0.0), x)


def test_contrast_known_values_and_clipping():
    x = torch.tensor([0.0, 0.2, 0.6, 0.8]).view(1, 1, 2, 2)
    np.testing.assert_allclose(P.contrast(x, 0.5).flatten(), [0.0, 0.1, 0.3, 0.4], atol=1e-6)
    np.testing.assert_allclose(P.contrast(x, 1.5).flatten(), [0.0, 0.3, 0.9, 1.0], atol=1e-6)
    # centred: mean 0.4, I' = 0.4 + beta (I - 0.4)
    np.testing.assert_allclose(P.contrast(x, 2.0, centered=True).flatten(), [0.0, 0.0, 0.8, 1.0], atol=1e-6)
    np.testing.assert_allclose(P.contrast(x, 0.5, centered=True).flatten(), [0.2, 0.3, 0.5, 0.6], atol=1e-6)


def test_brightness_contrast_match_kornia():
    import kornia

    x = _img()
    assert torch.allclose(P.brightness(x, 0.3), kornia.enhance.adjust_brightness(x, 0.3), atol=1e-6)
    assert torch.allclose(P.contrast(x, 1.5), kornia.enhance.adjust_contrast(x, 1.5), atol=1e-6)


def test_centered_contrast_is_per_image():
    x = torch.stack([torch.full((3, 4, 4), 0.2), torch.full((3, 4, 4), 0.6)])
    x[:, :, 0, 0] += 0.1
    y = P.contrast(x, 2.0, centered=True)
    for i in range(2):
        m = x[i].mean()
        assert torch.allclose(y[i], (m + 2.0 * (x[i] - m)).clamp(0, 1), atol=1e-6)


def test_per_image_parameter_vectors():
    x = _img(b=3)
    alphas = [-0.2, 0.0, 0.3]
    y = P.brightness(x, alphas)
    for i, a in enumerate(alphas):
        assert torch.allclose(y[i], (x[i] + a).clamp(0, 1))
    betas = torch.tensor([0.5, 1.0, 2.0])
    y = P.contrast(x, betas)
    for i, b in enumerate(betas):
        assert torch.allclose(y[i], (x[i] * b).clamp(0, 1))
    # a single image with a one-element vector behaves like the scalar
    assert torch.allclose(P.brightness(x[0], [0.2]), P.brightness(x[0], 0.2))


def test_shape_dtype_device_preserved():
    for dtype in (torch.float32, torch.float64):
        x = _img(dtype=dtype)
        for name, level in [("brightness", 0.3), ("contrast", 0.7), ("jpeg", 80), ("blur", 5), ("noise", 7)]:
            y = P.apply(name, x, level)
            assert y.shape == x.shape and y.dtype == dtype and y.device == x.device, name
            y1 = P.apply(name, x[0], level)
            assert y1.shape == x[0].shape and y1.dtype == dtype, name
    assert P.apply("clean", x, None) is x


def test_bad_input_errors():
    with pytest.raises(TypeError, match="torch.Tensor"):
        P.brightness(np.zeros((3, 4, 4)), 0.1)
    with pytest.raises(ValueError, match="shape"):
        P.brightness(torch.zeros(4, 4), 0.1)
    with pytest.raises(TypeError, match="floating"):
        P.contrast(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), 0.5)
    with pytest.raises(ValueError, match=">= 0"):
        P.contrast(_img(), -0.5)
    with pytest.raises(ValueError, match="one value per image"):
        P.brightness(_img(b=2), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="one value per image"):  # (C,H,W): a vector must not broadcast over W
        P.brightness(torch.rand(3, 4, 4), [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="odd"):
        P.gaussian_blur(_img(), 4)
    with pytest.raises(ValueError, match="quality"):
        P.jpeg(_img(), 0)
    with pytest.raises(KeyError, match="unknown perturbation"):
        P.apply("sharpen", _img(), 1)
    with pytest.raises(ValueError, match="no disturbance class"):
        P.disturbance_label("jpeg", 70)


def test_disturbance_label():
    assert P.DISTURBANCE_CLASSES[P.disturbance_label("clean", None)] == "none"
    assert P.disturbance_label("brightness", 0) == 0 and P.disturbance_label("contrast", 1.0) == 0
    assert P.DISTURBANCE_CLASSES[P.disturbance_label("brightness", 0.3)] == "brighter"
    assert P.DISTURBANCE_CLASSES[P.disturbance_label("brightness", -0.1)] == "darker"
    assert P.DISTURBANCE_CLASSES[P.disturbance_label("contrast", 0.5)] == "lower_contrast"
    assert P.DISTURBANCE_CLASSES[P.disturbance_label("contrast", 2.0)] == "higher_contrast"
    # every point of the paper's sweep grid has a class, clean first
    labels = [P.disturbance_label(n, l) for n, l in P.sweep_grid()]
    assert labels[0] == 0 and 0 not in labels[1:]
    assert len(P.sweep_grid()) == 1 + len(P.BRIGHTNESS_ALPHAS) + len(P.CONTRAST_BETAS)


def test_random_disturbance_consistent_with_labels():
    x = _img(b=64, h=8, w=8, seed=3) * 0.5 + 0.25  # away from the clip limits
    g = torch.Generator().manual_seed(0)
    y, labels, strength = P.random_disturbance(x, generator=g)
    assert y.shape == x.shape and labels.shape == (64,) and strength.shape == (64,)
    assert set(labels.tolist()) == {0, 1, 2, 3, 4}
    for i in range(64):
        lab, s = int(labels[i]), float(strength[i])
        if lab == 0:
            expected, name, level = x[i], "clean", None
        elif lab in (1, 2):
            expected, name, level = P.brightness(x[i], s), "brightness", s
        else:
            expected, name, level = P.contrast(x[i], 1 + s), "contrast", 1 + s
        assert torch.allclose(y[i], expected, atol=1e-6)
        assert P.disturbance_label(name, level) == lab
    assert ((strength[labels == 1] >= 0.1) & (strength[labels == 1] <= 0.5)).all()
    assert ((strength[labels == 2] <= -0.1) & (strength[labels == 2] >= -0.5)).all()
    assert ((strength[labels == 3] >= -0.5) & (strength[labels == 3] <= -0.1)).all()
    assert ((strength[labels == 4] >= 0.2) & (strength[labels == 4] <= 1.0)).all()
    # seeded -> reproducible; a single (C, H, W) image keeps its shape
    y2, labels2, _ = P.random_disturbance(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, y2) and torch.equal(labels, labels2)
    y1, l1, s1 = P.random_disturbance(x[0], generator=g)
    assert y1.shape == x[0].shape and l1.shape == (1,)
    y_clean, l_clean, s_clean = P.random_disturbance(x, generator=g, p_clean=1.0)
    assert torch.equal(y_clean, x) and (l_clean == 0).all() and (s_clean == 0).all()


def test_jpeg():
    x = _img(b=2, h=32, w=32)
    y = P.jpeg(x, 50)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert not torch.equal(y, x)
    # quality 100 is close to lossless; lower quality departs further
    e100, e50 = (P.jpeg(x, 100) - x).abs().mean(), (y - x).abs().mean()
    assert e100 < e50
    flat = torch.full((1, 3, 16, 16), 128 / 255)
    assert torch.allclose(P.jpeg(flat, 70), flat, atol=1.5 / 255)  # flat images survive JPEG


def test_blur():
    x = _img()
    assert torch.equal(P.gaussian_blur(x, 1), x)
    y = P.gaussian_blur(x, 7)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert y.var() < x.var()  # smoothing removes variance of white noise
    # a constant image is unchanged (reflect border), and mean is roughly preserved
    c = torch.full((3, 10, 10), 0.4)
    assert torch.allclose(P.gaussian_blur(c, 5), c, atol=1e-6)
    assert y.mean() == pytest.approx(float(x.mean()), abs=0.02)


@pytest.mark.parametrize("level", P.BENCO_LEVELS["noise"])
def test_noise_level_is_a_variance_in_8bit_units(level):
    """IMDL-BenCo's level v is albumentations' var_limit=(v, v): sigma = sqrt(v) / 255 on [0, 1] images
    (1.70 grey levels at v = 3 ... 4.80 at v = 23), not v / 255."""
    x = torch.full((2, 3, 128, 128), 0.5)
    y = P.gaussian_noise(x, level, generator=torch.Generator().manual_seed(level))
    sigma = float((y - x).std())
    assert sigma == pytest.approx(level ** 0.5 / 255, rel=0.02)  # 98k samples: sampling error ~0.3 %
    assert abs(sigma * 255 - level) > 1.0 or level < 3  # clearly not the std reading


def test_noise():
    x = torch.full((2, 3, 64, 64), 0.5)
    g = torch.Generator().manual_seed(0)
    y = P.gaussian_noise(x, 15, generator=g)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    y2 = P.gaussian_noise(x, 15, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, y2)
    z = P.gaussian_noise(torch.zeros(1, 3, 8, 8), 23)
    assert z.min() >= 0  # clipped


@pytest.mark.parametrize("name,level", [("brightness", 0.3), ("brightness", -0.4), ("contrast", 0.6), ("contrast", 1.8)])
def test_oracle_inverse_is_exact_where_nothing_was_clipped_and_best_constant_where_it_was(name, level):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g)
    y = P.apply(name, x, level)
    r = P.invert(y, name, level, clean=x)
    clipped = (y >= 1 - 0.5 / 255) | (y <= 0.5 / 255) if name == "brightness" else (y >= 1 - 0.5 / 255)
    if name == "contrast" and level < 1:
        assert not clipped.any()
    assert torch.allclose(r[~clipped], x[~clipped], atol=1e-5)
    # the clipped pixels get the per-image, per-channel mean of their clean values: no constant does better
    for b in range(2):
        for c in range(3):
            m = clipped[b, c]
            if m.any():
                assert torch.allclose(r[b, c][m], x[b, c][m].mean().expand(int(m.sum())), atol=1e-5)
    # without the clean image: the middle of the interval the clean value lay in
    mid = P.invert(y, name, level)
    half = 0.5 * (abs(level) if name == "brightness" else 1 - 1 / level)
    assert torch.all((mid[clipped] - x[clipped]).abs() <= half + 1 / 255)
    assert ((r - x) ** 2).mean() < ((y - x) ** 2).mean()


def test_oracle_inverse_rejects_what_cannot_be_inverted():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="only brightness / contrast"):
        P.invert(x, "jpeg", 50)
    with pytest.raises(ValueError, match="beta must be > 0"):
        P.invert(x, "contrast", 0.0)
    assert torch.equal(P.invert(x, "clean", None), x)


def test_conventions_differ_where_they_should_and_round_to_8_bits():
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    ours = P.apply_convention("ours: I + alpha / beta I (kornia)", "contrast", x, 0.7)
    assert torch.allclose(ours, P.contrast(x, 0.7))
    mult = P.apply_convention("(1 + alpha) I / beta I (torchvision brightness)", "brightness", x, 0.5)
    assert torch.allclose(mult, (1.5 * x).clamp(0, 1))
    half = P.apply_convention("I + alpha / 0.5 + beta (I - 0.5)", "contrast", x, 2.0)
    assert torch.allclose(half, (0.5 + 2 * (x - 0.5)).clamp(0, 1))
    # HSV: brightening V keeps the hue of a saturated pixel
    red = torch.tensor([0.4, 0.1, 0.1]).view(1, 3, 1, 1)
    out = P.apply_convention("HSV V + alpha / beta V", "brightness", red, 0.2)
    assert torch.allclose(out.flatten(), torch.tensor([0.6, 0.15, 0.15]), atol=1e-4)
    r8 = P.apply_convention("ours: I + alpha / beta I (kornia)", "contrast", x, 0.7, round8=True)
    assert torch.allclose(r8 * 255, torch.round(r8 * 255), atol=1e-4)
    with pytest.raises(KeyError, match="unknown convention"):
        P.apply_convention("nope", "contrast", x, 0.7)


def test_brightness_plus_half_and_contrast_two_are_one_affine_map_apart():
    """The equivalence the claims rely on to not count alpha = +0.5 and beta = 2.0 twice."""
    import torch

    from paper_repro import perturb as P

    x = torch.rand(2, 3, 17, 19, dtype=torch.float64)
    assert torch.equal(P.brightness(x, 0.5), 0.5 * P.contrast(x, 2.0) + 0.5)
