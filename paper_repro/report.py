"""Tables and figures for the notebooks: save under ``results/<profile>/`` and ``figures/<profile>/``,
put the paper's numbers beside ours, and draw the plots people would rather look at than read.

Notebooks call these so they hold no logic of their own.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .perturb import level_label


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
    column added by the caller, or any other ``hue``); the clean score is drawn as a dashed line; error bars are
    seaborn's 95 % bootstrap intervals over the images (1000 resamples, seed 0).
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
        sns.lineplot(data=sub, x="level", y=metric, hue=hue, marker="o", errorbar=("ci", 95), n_boot=1000, seed=0,
                     err_style="bars", ax=ax, palette=palette)
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


def _grouped_bars(ax, table: pd.DataFrame, x: str, y: str, hue: str | None, colors: dict | None = None):
    """Grouped bars of ``table`` on ``ax``; 95 % intervals as error bars where ``ci_low`` / ``ci_high`` exist."""
    import seaborn as sns

    xs = list(dict.fromkeys(table[x].astype(str)))
    hues = list(dict.fromkeys(table[hue].astype(str))) if hue else [None]
    colors = colors or dict(zip(hues, sns.color_palette("colorblind", len(hues))))
    width = 0.8 / len(hues)
    has_ci = {"ci_low", "ci_high"} <= set(table.columns)
    for j, h in enumerate(hues):
        sub = table if h is None else table[table[hue].astype(str) == h]
        vals = sub.groupby(sub[x].astype(str), sort=False)[y].mean().reindex(xs)
        pos = np.arange(len(xs)) - 0.4 + width * (j + 0.5)
        err = None
        if has_ci:
            lo = sub.groupby(sub[x].astype(str), sort=False)["ci_low"].mean().reindex(xs)
            hi = sub.groupby(sub[x].astype(str), sort=False)["ci_high"].mean().reindex(xs)
            err = np.vstack([(vals - lo).clip(lower=0).fillna(0).to_numpy(), (hi - vals).clip(lower=0).fillna(0).to_numpy()])
        ax.bar(pos, vals.to_numpy(), width=width * 0.95, color=colors.get(h, "#0173b2"), label=h, yerr=err,
               capsize=2, error_kw={"lw": 0.8})
    ax.set_xticks(np.arange(len(xs)))
    ax.set_xticklabels(xs)
    if hue:
        ax.legend(fontsize=8, title=hue)


def plot_bars(table: pd.DataFrame, x: str, y: str, hue: str | None = None, title: str | None = None):
    """A bar chart of a results table (ablations, method comparison); where the table has ``ci_low`` /
    ``ci_high`` (bootstrap over test images, :mod:`paper_repro.experiments.intervals`) they are the error bars."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    _grouped_bars(ax, table, x, y, hue)
    ax.set_ylim(0, max(1.0, float(table[y].max()) * 1.05) if y in ("f1", "iou", "auc", "value") else None)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if title:
        ax.set_title(title)
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


def plot_table(tidy: pd.DataFrame, metric: str, x: str = "method", dataset: str | None = None,
               title: str | None = None, aggregates: bool = False):
    """Bars of one ``metric`` of a tidy results table: one group per ``x`` value, one bar per condition
    (clean, ``alpha=+0.5``, ``beta=2`` ...; with ``aggregates`` also the sweep means), error bars the rows'
    95 % bootstrap intervals; ``dataset`` defaults to the table's first."""
    t = tidy[(tidy["metric"] == metric) & tidy["value"].notna()]
    ds = [d for d in dict.fromkeys(t["dataset"]) if d not in ("(paper)",)]
    dataset = dataset or (ds[0] if ds else None)
    t = t[t["dataset"] == dataset]
    if not aggregates:
        t = t[t["level"].notna() | (t["perturbation"] == "clean")]
    t = t.assign(condition=[level_label(p, lv) if (pd.notna(lv) or p == "clean") else f"{p} mean"
                            for p, lv in zip(t["perturbation"], t["level"])])
    fig = plot_bars(t, x=x, y="value", hue="condition", title=title or f"pixel {metric.upper()} ({dataset})")
    fig.axes[0].set_ylabel(metric.upper())
    return fig


def plot_forest(claims: pd.DataFrame, title: str | None = None):
    """Forest plot of :func:`paper_repro.experiments.claims_table`: per claim our difference A - B with its
    95 % paired interval (colour: verdict) and the paper's difference (diamond), one panel per unit (F1-like
    metrics, PSNR in dB); the dotted line is no difference."""
    import matplotlib.pyplot as plt

    colors = {"supported": "#029e73", "contradicted": "#d55e00", "inconclusive": "#949494", "not testable": "#cccccc"}
    groups = [("F1 / IoU / AUC difference", claims[~claims["metric"].isin(["psnr"])]),
              ("PSNR difference (dB)", claims[claims["metric"].isin(["psnr"])])]
    groups = [(t, g) for t, g in groups if len(g)]
    heights = [max(1.5, 0.32 * len(g) + 0.8) for _, g in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(8.5, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (label, g) in zip(axes[:, 0], groups):
        y = np.arange(len(g))[::-1]
        for yi, (_, r) in zip(y, g.iterrows()):
            c = colors.get(r["verdict"], "#333333")
            ax.plot([r["ci_low"], r["ci_high"]], [yi, yi], color=c, lw=2)
            ax.plot([r["ours"]], [yi], "o", color=c, ms=5)
            if pd.notna(r["paper"]):
                ax.plot([r["paper"]], [yi], "D", color="#0173b2", ms=4, mfc="none")
        ax.axvline(0, color="k", ls=":", lw=1)
        ax.set_yticks(y)
        ax.set_yticklabels([f"{r['claim']} [{r['verdict']}]" for _, r in g.iterrows()], fontsize=7)
        ax.set_xlabel(label + " (A - B); diamond: the paper's")
    if title:
        axes[0, 0].set_title(title)
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
    long = c.melt(id_vars=["row", "metric"] + [k for k in ("ci_low", "ci_high") if k in c.columns],
                  value_vars=["ours", "paper"], var_name="source", value_name="value")
    if {"ci_low", "ci_high"} <= set(long.columns):  # intervals belong to our numbers only
        long.loc[long["source"] == "paper", ["ci_low", "ci_high"]] = np.nan
    metrics = list(dict.fromkeys(long["metric"]))
    n_rows = c["row"].nunique()
    fig, axes = plt.subplots(len(metrics), 1, figsize=(max(6.4, 0.55 * n_rows + 2), 3.2 * len(metrics)),
                             squeeze=False)
    for ax, m in zip(axes[:, 0], metrics):
        _grouped_bars(ax, long[long["metric"] == m], "row", "value", "source",
                      colors={"ours": "#0173b2", "paper": "#de8f05"})
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
