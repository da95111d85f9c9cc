"""Tables and figures for the notebooks: save under ``results/<profile>/`` and ``figures/<profile>/``,
put the paper's numbers beside ours, and draw the plots people would rather look at than read.

Notebooks call these so they hold no logic of their own.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .perturb import level_label  # noqa: F401 - the notebooks label conditions with report.level_label


def save_table(df: pd.DataFrame, profile, name: str, index: bool = False) -> Path:
    """Write ``df`` to ``<profile.results_dir>/<name>.csv`` and return the path."""
    out = Path(profile.results_dir) / f"{name}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=index)
    return out


def save_figure(fig, profile, name: str, formats: Sequence[str] = ("png", "svg"), dpi: int = 110) -> list[Path]:
    """Save a matplotlib figure as ``<profile.figures_dir>/<name>.{png,svg}``; returns the paths."""
    outdir = Path(profile.figures_dir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        p = outdir / f"{name}.{fmt}"
        fig.savefig(p, dpi=dpi, bbox_inches="tight")
        paths.append(p)
    return paths


def mean_over_images(results: pd.DataFrame, by: Iterable[str], metrics=("f1", "iou", "auc")) -> pd.DataFrame:
    """Nan-aware mean of per-image ``metrics`` grouped by ``by`` (authentic images carry NaN pixel scores
    under the default policy of :func:`paper_repro.metrics.pixel_scores` and so drop out)."""
    by = list(by)
    cols = [m for m in metrics if m in results.columns]
    g = results.groupby(by, dropna=False)[cols].mean().reset_index()
    g["n_images"] = results.groupby(by, dropna=False).size().values
    return g


def plot_sweep(results: pd.DataFrame, metric: str = "f1", hue: str = "method", col: str = "perturbation",
               title: str | None = None):
    """Line plots of ``metric`` against alpha (brightness) and beta (contrast), one line per ``hue``.

    ``results`` is a per-image frame from :func:`paper_repro.evaluate.evaluate` (with a ``method``
    column added by the caller, or any other ``hue``); the clean score is drawn as a dashed line.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = results.copy()
    if hue not in df.columns:
        df[hue] = "model"
    clean = df[df["perturbation"] == "clean"].groupby(hue)[metric].mean()
    panels = [p for p in ("brightness", "contrast") if (df["perturbation"] == p).any()]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(5.2 * max(len(panels), 1), 3.6), squeeze=False)
    palette = dict(zip(sorted(df[hue].unique()), sns.color_palette("colorblind", df[hue].nunique())))
    for ax, pert in zip(axes[0], panels):
        sub = df[df["perturbation"] == pert]
        sns.lineplot(data=sub, x="level", y=metric, hue=hue, marker="o", errorbar=None, ax=ax, palette=palette)
        for name, value in clean.items():
            ax.axhline(value, ls="--", lw=1, color=palette[name], alpha=0.7)
        ax.set_xlabel("alpha (I + alpha)" if pert == "brightness" else "beta (beta * I)")
        ax.set_ylabel(f"pixel {metric.upper()}")
        ax.set_title(f"{pert} (dashed: clean)")
        ax.set_ylim(0, 1)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_bars(table: pd.DataFrame, x: str, y: str, hue: str | None = None, title: str | None = None):
    """A bar chart of a results table (ablations, method comparison)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    sns.barplot(data=table, x=x, y=y, hue=hue, ax=ax, palette="colorblind", errorbar=None)
    ax.set_ylim(0, max(1.0, float(table[y].max()) * 1.05) if y in ("f1", "iou", "auc") else None)
    if title:
        ax.set_title(title)
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


def plot_paper_comparison(comparison: pd.DataFrame, title: str | None = None, label: Sequence[str] = ("method",)):
    """Ours beside the paper: one panel per metric, bars ``ours`` and ``paper`` for each row of
    :func:`paper_repro.experiments.paper_comparison` (x = ``label`` columns + condition)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if comparison.empty:
        raise ValueError("plot_paper_comparison: no row has a published counterpart")
    c = comparison.copy()
    c["row"] = [" ".join(str(r[k]) for k in label if k in c.columns) + f"\n{r['condition']}" for _, r in c.iterrows()]
    long = c.melt(id_vars=["row", "metric"], value_vars=["ours", "paper"], var_name="source", value_name="value")
    metrics = list(dict.fromkeys(long["metric"]))
    n_rows = c["row"].nunique()
    fig, axes = plt.subplots(len(metrics), 1, figsize=(max(6.4, 0.55 * n_rows + 2), 3.2 * len(metrics)),
                             squeeze=False)
    for ax, m in zip(axes[:, 0], metrics):
        sns.barplot(data=long[long["metric"] == m], x="row", y="value", hue="source", ax=ax,
                    palette={"ours": "#0173b2", "paper": "#de8f05"}, errorbar=None)
        ax.set_xlabel("")
        ax.set_ylabel(m.upper() if m in ("f1", "iou", "ssim", "auc") else f"{m.upper()} (dB)")
        ax.tick_params(axis="x", rotation=30, labelsize=8)
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    return fig


def compare_with_paper(tidy: pd.DataFrame, profile, name: str, title: str | None = None,
                       label: Sequence[str] = ("method",)) -> pd.DataFrame:
    """Ours beside the paper for a table function's output: the matched rows
    (:func:`paper_repro.experiments.paper_comparison`) saved as ``results/<profile>/<name>.csv`` and drawn side by
    side (``figures/<profile>/<name>.png``). With no matched row (e.g. an evaluation set the paper does not
    use), says so and returns the empty frame."""
    from .experiments.paper_view import paper_comparison

    cmp = paper_comparison(tidy)
    save_table(cmp, profile, name)
    if cmp.empty:
        print(f"{name}: no row of ours has a published counterpart (evaluation sets: "
              f"{sorted(set(tidy['dataset']) - {'(paper)'})}; the paper's are named in its tables)")
        return cmp
    save_figure(plot_paper_comparison(cmp, title=title, label=label), profile, name)
    for why in tidy.attrs.get("paper_notes", []):
        print("note:", why)
    return cmp


def show_examples(rows: Sequence[dict], columns: Sequence[str] = ("image", "perturbed", "restored", "mask", "prediction"),
                  titles: Sequence[str] | None = None, cell: float = 2.0):
    """Qualitative grid: one row per example, one column per named array in each ``rows`` dict.

    Arrays may be HxWx3 floats in [0, 1], HxW masks/probabilities, or (3,H,W)/(1,H,W) tensors;
    a missing key leaves the cell blank.
    """
    import matplotlib.pyplot as plt

    cols = [c for c in columns if any(c in r for r in rows)]
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(cell * len(cols), cell * len(rows)), squeeze=False)
    for i, row in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i][j]
            ax.axis("off")
            if i == 0:
                ax.set_title((titles or cols)[j], fontsize=9)
            if c not in row or row[c] is None:
                continue
            arr = _to_numpy_image(row[c])
            ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
    fig.tight_layout()
    return fig


def _to_numpy_image(x) -> np.ndarray:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().float().cpu().numpy()
            if x.ndim == 3 and x.shape[0] in (1, 3):
                x = np.moveaxis(x, 0, -1)
    except ImportError:  # pragma: no cover
        pass
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    return np.clip(x, 0, 1)
