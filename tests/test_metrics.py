import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import (f1_score, jaccard_score, precision_recall_curve, precision_score, recall_score,
                             roc_auc_score)

from paper_repro import metrics as M


def _random_case(seed, shape=(24, 20), p_pos=0.3, quantize=None):
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < p_pos
    # probabilities correlated with the mask, so scores are neither trivial nor random
    prob = np.clip(0.35 * mask + rng.random(shape) * 0.65, 0, 1)
    if quantize:
        prob = np.round(prob * quantize) / quantize  # creates ties
    return prob, mask


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_pixel_scores_match_sklearn(seed, threshold):
    prob, mask = _random_case(seed, quantize=20 if seed % 2 else None)
    got = M.pixel_scores(prob, mask, threshold=threshold)
    y, pred = mask.ravel(), (prob > threshold).ravel()
    assert got["f1"] == pytest.approx(f1_score(y, pred, zero_division=0))
    assert got["iou"] == pytest.approx(jaccard_score(y, pred, zero_division=0))
    assert got["precision"] == pytest.approx(precision_score(y, pred, zero_division=0))
    assert got["recall"] == pytest.approx(recall_score(y, pred, zero_division=0))
    assert got["auc"] == pytest.approx(roc_auc_score(y, prob.ravel()))


def test_pixel_scores_accepts_torch_and_channel_dim():
    prob, mask = _random_case(3)
    ref = M.pixel_scores(prob, mask)
    got = M.pixel_scores(torch.tensor(prob)[None], torch.tensor(mask)[None, None])
    assert got == pytest.approx(ref)


def test_pixel_scores_no_prediction_gives_zero_f1():
    _, mask = _random_case(1)
    got = M.pixel_scores(np.zeros(mask.shape), mask)
    assert got["f1"] == 0 and got["iou"] == 0 and got["precision"] == 0 and got["recall"] == 0


def test_pixel_scores_bad_input():
    with pytest.raises(ValueError, match="shape"):
        M.pixel_scores(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="empty_policy"):
        M.pixel_scores(np.zeros((4, 4)), np.zeros((4, 4)), empty_policy="ignore")
    with pytest.raises(ValueError, match="NaN"):
        M.pixel_scores(np.full((4, 4), np.nan), np.ones((4, 4)))


def test_empty_mask_policies():
    empty = np.zeros((8, 8))
    clean, noisy = np.zeros((8, 8)), np.zeros((8, 8))
    noisy[2, 3] = 0.9
    r = M.pixel_scores(clean, empty)
    assert all(math.isnan(r[k]) for k in ("f1", "iou", "auc", "precision", "recall"))
    assert M.pixel_scores(clean, empty, empty_policy="perfect")["f1"] == 1.0
    assert M.pixel_scores(noisy, empty, empty_policy="perfect")["iou"] == 0.0
    assert M.pixel_scores(clean, empty, empty_policy="zero")["f1"] == 0.0
    assert math.isnan(M.pixel_scores(clean, empty, empty_policy="perfect")["auc"])
    assert math.isnan(M.best_f1(clean, empty))
    assert M.best_f1(clean, empty, empty_policy="perfect") == 1.0
    # AUC undefined for an all-tampered mask too
    assert math.isnan(M.pixel_scores(np.random.rand(8, 8), np.ones((8, 8)))["auc"])


@pytest.mark.parametrize("seed", range(5))
def test_best_f1(seed):
    prob, mask = _random_case(seed, quantize=10 if seed % 2 else None)
    b = M.best_f1(prob, mask)
    assert b >= M.pixel_scores(prob, mask)["f1"] - 1e-12
    p, r, _ = precision_recall_curve(mask.ravel(), prob.ravel())
    ref = np.nanmax(2 * p * r / (p + r))
    assert b == pytest.approx(ref)
    # brute force over every distinct threshold (prob >= t)
    brute = max(f1_score(mask.ravel(), (prob >= t).ravel()) for t in np.unique(prob))
    assert b == pytest.approx(brute)


def test_image_scores_and_summarize_exclude_authentic():
    cases = [_random_case(s) for s in range(3)]
    probs = [p for p, _ in cases] + [np.zeros((24, 20))]
    masks = [m for _, m in cases] + [np.zeros((24, 20), bool)]
    df = M.image_scores(probs, masks, best=True, names=list("abcd"))
    assert isinstance(df, pd.DataFrame) and list(df.index) == list("abcd")
    assert list(df["tampered"]) == [True, True, True, False]
    for i, (p, m) in enumerate(cases):
        assert df.iloc[i]["f1"] == pytest.approx(M.pixel_scores(p, m)["f1"])
    s = M.summarize(df)
    assert s["f1"] == pytest.approx(np.mean([M.pixel_scores(p, m)["f1"] for p, m in cases]))
    assert s["n_images"] == 4
    # image-level: the authentic map is all zero, so it ranks below every tampered one
    assert s["det_auc"] == 1.0
    df["group"] = ["x", "x", "y", "y"]
    g = M.summarize(df, by="group")
    assert g.loc["y", "f1"] == pytest.approx(df.iloc[2]["f1"])
    assert g.loc["x", "n_images"] == 2


def test_image_scores_accepts_batches():
    cases = [_random_case(s) for s in range(4)]
    probs = torch.tensor(np.stack([p for p, _ in cases]))[:, None]
    masks = torch.tensor(np.stack([m for _, m in cases]))[:, None].float()
    df = M.image_scores(probs, masks)
    ref = M.image_scores([p for p, _ in cases], [m for _, m in cases])
    pd.testing.assert_frame_equal(df, ref)
    with pytest.raises(ValueError, match="masks"):
        M.image_scores(probs, masks[:3])


@pytest.mark.parametrize("policy", ["nan", "perfect", "zero"])
def test_accumulator_equals_per_image(policy):
    cases = [_random_case(s, quantize=8 if s % 2 else None) for s in range(7)]
    probs = [p for p, _ in cases] + [np.zeros((24, 20)), np.full((24, 20), 0.8)]
    masks = [m for _, m in cases] + [np.zeros((24, 20), bool)] * 2
    acc = M.MetricAccumulator(auc=True, best=True, empty_policy=policy)
    # uneven batches, float32 tensors on (B, 1, H, W)
    for lo, hi in [(0, 3), (3, 4), (4, 9)]:
        acc.add(torch.tensor(np.stack(probs[lo:hi]), dtype=torch.float32)[:, None],
                torch.tensor(np.stack(masks[lo:hi]))[:, None], perturbation="clean")
    got = acc.result()
    probs32 = [np.float32(p) for p in probs]  # the accumulator works in float32
    ref = M.image_scores(probs32, masks, best=True, empty_policy=policy)
    assert len(got) == len(acc) == 9
    for col in ("f1", "iou", "precision", "recall", "auc", "best_f1", "score"):
        np.testing.assert_allclose(got[col].to_numpy(float), ref[col].to_numpy(float), rtol=1e-9, atol=1e-9,
                                   equal_nan=True, err_msg=col)
    assert list(got["tampered"]) == list(ref["tampered"])
    assert set(got["perturbation"]) == {"clean"}
    assert acc.summary()["f1"] == pytest.approx(M.summarize(ref)["f1"], nan_ok=True)
    acc.reset()
    assert len(acc) == 0


def test_further_thresholds_from_one_pass_equal_an_accumulator_at_each_threshold():
    cases = [_random_case(s, quantize=10 if s % 2 else None) for s in range(5)]
    probs = torch.tensor(np.stack([p for p, _ in cases]), dtype=torch.float32)[:, None]
    masks = torch.tensor(np.stack([m for _, m in cases]))[:, None]
    probs = torch.cat([probs, torch.full((1, 1, 24, 20), 0.35)])  # an authentic image: F1 NaN at every threshold
    masks = torch.cat([masks, torch.zeros((1, 1, 24, 20), dtype=torch.bool)])
    thresholds = (0.3, 0.4, 0.7)
    acc = M.MetricAccumulator(f1_thresholds=thresholds)
    acc.add(probs, masks)
    got = acc.result()
    for t in thresholds:
        one = M.MetricAccumulator(threshold=t)
        one.add(probs, masks)
        np.testing.assert_allclose(got[M.f1_column(t)].to_numpy(float), one.result()["f1"].to_numpy(float),
                                   equal_nan=True, err_msg=str(t))
    assert not np.allclose(got["f1@0.3"].to_numpy(float)[:5], got["f1@0.7"].to_numpy(float)[:5])
    assert np.isnan(got[M.f1_column(0.4)].iloc[-1])
    assert M.f1_column(0.3) == "f1@0.3" and "f1@0.5" not in got.columns


def test_accumulator_from_logits_and_names():
    prob, mask = _random_case(2)
    logits = torch.logit(torch.tensor(prob).clamp(1e-4, 1 - 1e-4))
    acc = M.MetricAccumulator(from_logits=True)
    acc.add(logits[None], torch.tensor(mask)[None], names=["img0"])
    assert acc.result().loc["img0", "f1"] == pytest.approx(M.pixel_scores(prob, mask)["f1"])
    with pytest.raises(ValueError, match="shape"):
        acc.add(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))


def test_image_level_score_and_detection_auc():
    p = np.zeros((10, 10))
    p[0, :3] = [1.0, 0.5, 0.2]
    assert M.image_level_score(p, k=0.0) == 1.0  # max
    assert M.image_level_score(p, k=0.02) == pytest.approx(0.75)
    assert M.image_level_score(p, k=1.0) == pytest.approx(1.7 / 100)
    batch = M.image_level_score(torch.tensor(np.stack([p, p * 0.5]))[:, None], k=0.02)
    np.testing.assert_allclose(batch, [0.75, 0.375])
    assert M.detection_auc([0.1, 0.9, 0.4, 0.8], [0, 1, 0, 1]) == 1.0
    assert M.detection_auc([0.9, 0.1], [0, 1]) == 0.0
    assert math.isnan(M.detection_auc([0.2, 0.3], [1, 1]))


def test_psnr_known_value():
    x = torch.full((3, 8, 8), 0.3)
    assert M.psnr(x + 0.1, x) == pytest.approx(20.0, abs=1e-4)
    a = np.full((8, 8, 3), 0.5)
    assert M.psnr(a, a + 0.01) == pytest.approx(40.0)
    assert M.psnr(a, a) == math.inf
    batch = torch.stack([x, x + 0.1, x + 0.01])
    np.testing.assert_allclose(M.psnr(batch, x.expand(3, 3, 8, 8)), [math.inf, 20.0, 40.0], atol=1e-3)


def test_masked_psnr_looks_inside_mask_only():
    rng = np.random.default_rng(0)
    target = rng.random((16, 16, 3))
    mask = np.zeros((16, 16), bool)
    mask[4:10, 5:12] = True
    restored = target.copy()
    restored[mask] += 0.1
    inside = M.psnr(restored, target, mask=mask)
    assert inside == pytest.approx(20.0)
    restored2 = restored.copy()
    restored2[~mask] = rng.random(((~mask).sum(), 3))  # garbage outside the mask
    assert M.psnr(restored2, target, mask=mask) == pytest.approx(inside)
    assert M.psnr(restored2, target) < inside - 5  # the whole-image value does see it
    # torch (B, C, H, W) with (B, 1, H, W) mask gives the same value
    t = torch.tensor(np.moveaxis(target, -1, 0))[None]
    r = torch.tensor(np.moveaxis(restored2, -1, 0))[None]
    assert M.psnr(r, t, mask=torch.tensor(mask)[None, None])[0] == pytest.approx(inside)
    assert math.isnan(M.psnr(restored, target, mask=np.zeros((16, 16))))
    with pytest.raises(ValueError, match="mask shape"):
        M.psnr(restored, target, mask=np.zeros((15, 16)))


def test_ssim():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(1)
    a = rng.random((32, 32, 3))
    assert M.ssim(a, a) == pytest.approx(1.0)
    assert M.ssim(torch.tensor(np.moveaxis(a, -1, 0)), torch.tensor(np.moveaxis(a, -1, 0))) == pytest.approx(1.0)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    ref = structural_similarity(b, a, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    assert M.ssim(b, a) == pytest.approx(ref)
    assert M.ssim(b, a) < 0.95
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    c = a.copy()
    c[mask] = b[mask]  # degrade only inside the mask
    inside = M.ssim(c, a, mask=mask)
    assert inside < M.ssim(c, a) < 1.0
    # the SSIM map is local (window ~11 px), so the mask's interior is unaffected by changes far outside
    inner = np.zeros_like(mask)
    inner[14:18, 14:18] = True
    d = c.copy()
    d[:2] = rng.random(d[:2].shape)
    assert M.ssim(d, a, mask=inner) == pytest.approx(M.ssim(c, a, mask=inner))


def test_benco_mean_scores_authentic_images_zero_over_all_images():
    """IMDL-BenCo's aggregation: authentic = 0, mean over all images; ours: mean over tampered images."""
    from paper_repro.metrics import benco_mean, summarize

    df = pd.DataFrame({"f1": [0.8, 0.4, np.nan, np.nan, 0.6], "iou": [0.7, 0.3, np.nan, np.nan, 0.5],
                       "tampered": [True, True, False, False, True]})
    assert benco_mean(df, "f1") == pytest.approx((0.8 + 0.4 + 0 + 0 + 0.6) / 5)
    assert benco_mean(df, "iou") == pytest.approx((0.7 + 0.3 + 0.5) / 5)
    assert summarize(df)["f1"] == pytest.approx((0.8 + 0.4 + 0.6) / 3)
    with pytest.raises(KeyError):
        benco_mean(df, "psnr")


def test_whole_image_mask_auc_is_left_out_of_the_mean_not_poisoning_it():
    from paper_repro.metrics import pixel_scores, summarize

    rng = np.random.default_rng(0)
    m = np.zeros((16, 16), bool)
    m[4:10, 4:10] = True
    rows = [pixel_scores(rng.random((16, 16)) * 0.5 + m * 0.5, m),
            pixel_scores(rng.random((16, 16)), np.ones((16, 16), bool))]  # the whole image is tampered
    df = pd.DataFrame(rows)
    assert np.isnan(df["auc"].iloc[1]) and np.isfinite(summarize(df)["auc"])
    assert summarize(df)["auc"] == pytest.approx(df["auc"].iloc[0])


def test_tie_heavy_auc_equals_sklearn_and_does_not_depend_on_pixel_order():
    """IMDL-BenCo integrates its ROC without grouping ties, so its AUC on a tie-heavy map changes when the
    pixels are reordered; ours groups ties (scikit-learn's value) and cannot."""
    prob, mask = _random_case(11, shape=(40, 40), quantize=4)  # five distinct scores only
    ref = roc_auc_score(mask.ravel(), prob.ravel())
    assert M.pixel_scores(prob, mask)["auc"] == pytest.approx(ref)
    order = np.random.default_rng(0).permutation(prob.size)
    shuffled = M.pixel_scores(prob.ravel()[order].reshape(prob.shape), mask.ravel()[order].reshape(mask.shape))
    assert shuffled["auc"] == pytest.approx(ref)
