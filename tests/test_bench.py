"""paper_repro.bench: records of a quick run, the hand-written loop, FLOP counting, CSV output, CLI glue.

No test asserts a speed: timings depend on the machine. They check that every measure is produced with
its unit and a finite value, that derived measures agree with the ones they are derived from, that the
reference loop really trains and that the FLOP counter matches the analytic count of a convolution.
"""
from __future__ import annotations

import argparse
import json
import math
import os

import pandas as pd
import pytest
import torch
import torch.nn as nn

from paper_repro import bench, profiles
from paper_repro.losses import loss_for
from paper_repro.models import create


@pytest.fixture(scope="module")
def quick_records():
    # one thread: on a shared 2-core machine two threads per process slow every step down many times
    return bench.run_bench(quick=True, models=["reconwave"], threads=1)


def _by_measure(records, model="reconwave"):
    return {r["measure"]: r for r in records if r["model"] == model}


def test_quick_run_has_every_measure_with_units(quick_records):
    recs = _by_measure(quick_records)
    recs["dataload_ips"] = _by_measure(quick_records, "data")["dataload_ips"]
    missing = [m for m in bench.REQUIRED_MEASURES if m not in recs]
    assert not missing, f"missing measures {missing}"
    for r in quick_records:
        assert r["unit"] == bench.MEASURES[r["measure"]], r
        assert math.isfinite(r["value"]), r
        if r["measure"] not in ("rss_growth_mb", "train_overhead_ms"):  # differences: may be <= 0
            assert r["value"] > 0, r
        for key in ("model", "measure", "value", "unit", "device", "threads", "profile", "torch", "fastai",
                    "timm", "cpu", "device_name"):
            assert key in r and r[key] not in (None, ""), (key, r)
        assert r["threads"] == 1 and r["profile"] == "smoke" and r["device"] == "cpu"
    json.dumps(quick_records)  # --json output must be serialisable
    assert torch.get_num_threads() >= 1  # restored after the run


def test_quick_run_derived_measures_are_consistent(quick_records):
    r = _by_measure(quick_records)
    v = {k: x["value"] for k, x in r.items()}
    assert v["train_ratio"] == pytest.approx(v["train_ips_package"] / v["train_ips_manual"])
    bs = r["train_ips_package"]["batch_size"]
    assert v["train_overhead_ms"] == pytest.approx(1000 * bs * (1 / v["train_ips_package"] - 1 / v["train_ips_manual"]))
    assert v["bf16_speedup"] == pytest.approx(v["train_ips_manual_amp"] / v["train_ips_manual_fp32"])
    assert v["channels_last_speedup"] == pytest.approx(v["train_ips_manual_nhwc"] / v["train_ips_manual_nchw"])
    assert r["bf16_speedup"]["winner"] == ("bf16" if v["bf16_speedup"] > 1 else "fp32")
    assert r["bf16_speedup"]["auto_matches"] == (r["bf16_speedup"]["winner"] == r["bf16_speedup"]["auto"])
    assert r["channels_last_speedup"]["winner"] == (v["channels_last_speedup"] > 1)
    for m in ("train_ips_package", "train_ips_manual", "infer_ips", "latency_ms_512"):
        assert r[m]["min"] <= v[m] <= r[m]["max"], r[m]
    so = r["sweep_overhead"]
    assert so["levels"] == 1 + len(profiles.get("smoke").alphas) + len(profiles.get("smoke").betas)
    assert v["sweep_overhead"] == pytest.approx(so["sweep_s"] / (so["levels"] * so["clean_pass_s"]))
    assert v["sweep_ips"] == pytest.approx(so["n"] * so["levels"] / so["sweep_s"])
    sc = r["sweep_time_ratio_2x"]
    assert v["sweep_time_ratio_2x"] == pytest.approx(sc["sweep_2n_s"] / sc["sweep_s"])
    g = r["rss_growth_mb"]
    assert v["rss_growth_mb"] == pytest.approx(g["peak_rss_2n_mb"] - g["peak_rss_n_mb"])
    # parameter and FLOP counts are those of the model the profile builds, at the quick input size (32)
    prof = profiles.get("smoke")
    model = create("reconwave", **prof.model_cfg("reconwave"))
    assert v["params"] == sum(p.numel() for p in model.parameters())
    assert v["flops"] == pytest.approx(bench.count_flops(model, 32))
    # the training rate against the same run's dense-matmul rate
    dense = next(x for x in quick_records if x["measure"] == "dense_matmul_flops" and x["model"] == "machine")
    assert dense["value"] > 0 and dense["n"] == 256
    assert v["train_flops_rate"] == pytest.approx(3 * v["flops"] * v["train_ips_manual"])
    assert v["matmul_share"] == pytest.approx(v["train_flops_rate"] / dense["value"])


def test_manual_loop_trains_on_a_fixed_batch():
    torch.manual_seed(0)
    model = create("reconwave", width=4, depth=2, embed_dim=8)
    x = torch.rand(4, 3, 32, 32)
    mask = torch.zeros(4, 1, 32, 32)
    mask[:, :, 8:20, 10:26] = 1.0
    res = bench.manual_fit(model, loss_for("reconwave", max_views=8, max_anchors=16), [(x, mask)] * 20, lr=3e-3)
    losses = res["losses"]
    assert len(losses) == 20 and len(res["step_ends"]) == 20
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-3:]) / 3 < 0.8 * losses[0], losses
    assert res["start"] <= res["step_ends"][0] and res["step_ends"] == sorted(res["step_ends"])


class _DictConv(nn.Module):
    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        return {"logits": self.conv(x)}


@pytest.mark.parametrize("cin,cout,k,stride,size,out_hw", [
    (3, 8, 3, 1, (32, 64), (32, 64)),
    (3, 5, 5, 2, (32, 64), (16, 32)),
])
def test_flops_of_a_single_conv_match_the_analytic_count(cin, cout, k, stride, size, out_hw):
    model = _DictConv(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2))
    expected = 2 * cin * cout * k * k * out_hw[0] * out_hw[1]  # one multiply-add = 2 FLOPs, bias not counted
    assert bench.count_flops(model, size, batch=1) == expected
    assert bench.count_flops(model, size, batch=3) == expected  # per image
    assert model.training  # mode restored


def test_throughput_drops_warmup_and_takes_the_median_group():
    # steps end at 1, 1.5, 2, 2.5, 3.5 s; warm-up drops the first interval (1 s)
    med, lo, hi = bench.throughput([1.0, 1.5, 2.0, 2.5, 3.5], start=0.0, batch_size=4, warmup=1, repeats=2)
    # groups [0.5, 0.5] -> 8 images/s and [0.5, 1.0] -> 16/3 images/s
    assert (lo, hi) == pytest.approx((16 / 3, 8.0))
    assert med == pytest.approx((8 + 16 / 3) / 2)
    with pytest.raises(ValueError, match="no timed steps"):
        bench.throughput([1.0], start=0.0, batch_size=4, warmup=1, repeats=2)


def test_csv_appends_and_keeps_extra_fields(tmp_path):
    recs = [{"model": "m", "measure": "params", "value": 10.0, "unit": "count", "profile": "smoke",
             "device": "cpu", "threads": 1, "winner": "fp32"},
            {"model": "m", "measure": "infer_ips", "value": 2.5, "unit": "images/s", "profile": "smoke",
             "device": "cpu", "threads": 1}]
    path = tmp_path / "sub" / "bench.csv"
    bench.append_csv(recs, path)
    bench.append_csv(recs[:1], path)
    df = pd.read_csv(path)
    assert list(df.columns) == list(bench.CSV_COLUMNS)
    assert len(df) == 3
    assert df["value"].tolist() == [10.0, 2.5, 10.0]
    assert json.loads(df.loc[0, "extra"]) == {"winner": "fp32"}
    (tmp_path / "bad.csv").write_bytes(b"\x00\xff\x00")
    with pytest.raises(ValueError, match="bad.csv"):
        bench.append_csv(recs, tmp_path / "bad.csv")


def test_main_accepts_a_cli_namespace_and_argv(monkeypatch, capsys):
    calls = []

    def fake(**kw):
        calls.append(kw)
        return [{"model": "reconwave", "measure": "params", "value": 1.0, "unit": "count", "profile": kw["profile"],
                 "device": "cpu", "device_name": "x", "threads": 1, "torch": "t", "fastai": "f", "timm": "m"}]

    monkeypatch.setattr(bench, "run_bench", fake)
    ns = argparse.Namespace(profile="cpu", json=True, out=None, models=["reconwave,ncl", "lpclnet"])
    assert bench.main(ns) == 0
    assert calls[-1]["models"] == ["reconwave", "ncl", "lpclnet"] and calls[-1]["profile"] == "cpu"
    assert calls[-1]["json"] is True and calls[-1]["quick"] is False
    assert bench.main(["--profile", "smoke", "--models", "reconwave", "--threads", "1"]) == 0
    assert calls[-1]["models"] == ["reconwave"] and calls[-1]["threads"] == 1 and calls[-1]["json"] is False
    assert "params" in capsys.readouterr().out  # the table


def test_unknown_model_is_a_clear_error():
    with pytest.raises(KeyError, match="no-such-model"):
        bench.run_bench(quick=True, models=["no-such-model"], threads=1)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="VmHWM is Linux's")
def test_predict_startup_reports_the_childs_own_peak_memory_not_the_parents():
    """Linux keeps a process's RSS high-water mark across exec, so ``ru_maxrss`` of a child started by a big
    process reports the parent's size; the start-up measure must not grow with the process that runs it."""
    big = torch.ones(1_500_000_000, dtype=torch.uint8)  # 1.5 GB held (and touched) by this process
    parent_mb = max(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:")) / 1024
    res = bench.predict_startup("reconwave", {"width": 4, "depth": 2, "embed_dim": 8}, repeats=1)
    assert res["peak_rss_mb"] > 100  # python + torch + the model really ran
    assert res["peak_rss_mb"] < parent_mb - 200, (res, parent_mb)
    del big
