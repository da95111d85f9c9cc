"""The figures drawn from results tables read at a glance: a unit on every value axis, tick labels that do not
run into each other, the paper's bars where it has numbers, and one axis label per metric in the forest plot."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from paper_repro import report  # noqa: E402

TABLES = Path(__file__).resolve().parents[1] / "reference" / "cpu" / "tables"


def _tick_boxes_overlap(fig) -> list[tuple[str, str]]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    clashes = []
    for ax in fig.axes:
        labels = [t for t in ax.get_xticklabels() if t.get_text()]
        boxes = [t.get_window_extent(renderer) for t in labels]
        for i in range(len(boxes) - 1):
            if boxes[i].overlaps(boxes[i + 1]):
                clashes.append((labels[i].get_text(), labels[i + 1].get_text()))
    return clashes


@pytest.mark.parametrize("name", sorted(report.TABLE_FIGURES))
def test_registered_figures_have_units_and_readable_ticks(name):
    stem, draw = report.TABLE_FIGURES[name]
    if not (TABLES / f"{stem}.csv").is_file():
        pytest.skip(f"no committed {stem}.csv")
    fig = draw(pd.read_csv(TABLES / f"{stem}.csv"))
    try:
        ylabels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
        xlabels = [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
        assert "value" not in ylabels + xlabels
        assert ylabels or xlabels
        assert not _tick_boxes_overlap(fig), _tick_boxes_overlap(fig)
    finally:
        plt.close(fig)


def test_long_run_keys_are_shown_by_their_names_and_wrapped():
    label = report.tick_label("reconwave-table+restorer-table")
    assert label.replace("\n", " ") == "ReConWave-Net + restorer (Swin)" and "\n" in label
    assert report.tick_label("reconwave-sym4") == "Symlet4"


def test_the_table1_figure_puts_the_papers_bars_beside_ours():
    rows = []
    for method, paper in (("unrestored", 12.0), ("reconwave_restorer", 30.0)):
        for pert, lv in report.TABLE1_CONDITIONS:
            for kind in ("splicing", "copy-move"):
                rows.append({"method": method, "dataset": "casia1", "manipulation": kind, "perturbation": pert,
                             "level": lv, "metric": "psnr", "value": paper - 5, "ci_low": paper - 6,
                             "ci_high": paper - 4, "paper": paper})
    fig = report.plot_table1(pd.DataFrame(rows))
    try:
        assert len(fig.axes) == len(report.TABLE1_CONDITIONS)
        heights = sorted({round(p.get_height(), 3) for p in fig.axes[0].patches})
        assert heights == [7.0, 12.0, 25.0, 30.0]  # ours and the paper's, for both methods
        assert fig.axes[0].get_ylabel().startswith("PSNR (dB)")
    finally:
        plt.close(fig)


def test_the_forest_plot_names_each_metric_and_draws_the_noise_band():
    claims = pd.DataFrame({"claim": ["a beats b", "c beats d"], "metric": ["f1", "psnr"], "paper": [0.2, np.nan],
                           "ours": [0.01, 1.0], "ci_low": [-0.01, 0.5], "ci_high": [0.03, 1.5],
                           "noise_sd": [0.015, 0.0], "verdict": ["inconclusive", "supported"]})
    fig = report.plot_forest(claims)
    try:
        assert [ax.get_xlabel() for ax in fig.axes] == ["pixel F1 difference, A - B", "PSNR difference (dB), A - B"]
        band = [c for c in fig.axes[0].collections]  # fill_betweenx: the +-2 sd band of the F1 claim
        assert len(band) == 1
        x = band[0].get_paths()[0].vertices[:, 0]
        assert x.min() == pytest.approx(-0.03) and x.max() == pytest.approx(0.03)
        assert not fig.axes[1].collections  # no seed noise measured for the PSNR claim: no band
    finally:
        plt.close(fig)
