"""Tables and figures for the notebooks: save under ``results/<profile>/`` and ``figures/<profile>/``,
put the paper's numbers beside ours, and draw the plots people would rather look at than read.

Notebooks call these so they hold no logic of their own.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .names import canonical, display
from .perturb import level_label

#: y-axis label of each metric a results table reports (with its unit where it has one).
METRIC_LABELS = {"f1": "pixel F1", "iou": "pixel IoU", "auc": "pixel AUC", "psnr": "PSNR (dB)", "ssim": "SSIM",
                 "f1_benco": "pixel F1 (IMDL-BenCo mean)"}


def save_table(df: pd.DataFrame, profile, name: str, index: bool = False) -> Path:
    """Write ``df`` to ``<profile.results_dir>/<name>.csv`` and return the path; ``name`` is a table registered in
    :data:`paper_repro.results.TABLES` (an unregistered name is an error: register it there first)."""
    from .results import path

    out = path(profile.results_dir, name)
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
            if not lo.notna().any():  # no interval for this series (a reference row, the paper's numbers)
                err = None
        ax.bar(pos, vals.to_numpy(), width=width * 0.95, color=colors.get(h, "#0173b2"), label=h, yerr=err,
               capsize=2, error_kw={"lw": 0.8})
    ax.set_xticks(np.arange(len(xs)))
    ax.set_xticklabels([tick_label(v) for v in xs])
    if hue:
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles, [display(v) for v in labels], fontsize=8, title=hue)


def tick_label(value: str, width: int = 16) -> str:
    """A category's tick label: its reader's name (:func:`paper_repro.names.display`), broken into lines of
    about ``width`` characters so that neighbouring labels do not run into each other."""
    import textwrap

    text = canonical(display(str(value)))
    return "\n".join(textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)) or text


def plot_bars(table: pd.DataFrame, x: str, y: str, hue: str | None = None, title: str | None = None,
              ylabel: str | None = None):
    """A bar chart of a results table (ablations, method comparison); where the table has ``ci_low`` /
    ``ci_high`` (bootstrap over test images, :mod:`paper_repro.experiments.intervals`) they are the error bars.
    ``ylabel``: the axis label with its unit (default: :data:`METRIC_LABELS` of ``y``, else ``y``); tick labels
    are the categories' reader names, wrapped."""
    import matplotlib.pyplot as plt

    n = table[x].nunique()
    fig, ax = plt.subplots(figsize=(max(6.4, 1.25 * n + 1.5), 3.8))
    _grouped_bars(ax, table, x, y, hue)
    bounded = y in ("f1", "iou", "auc", "ssim") or (ylabel or "").split(" (")[0] in {
        METRIC_LABELS[m] for m in ("f1", "iou", "auc", "ssim")}
    if bounded:
        ax.set_ylim(0, max(1.0, float(table[y].max()) * 1.05))
    ax.set_xlabel("")
    ax.set_ylabel(ylabel or METRIC_LABELS.get(y, y))
    if title:
        ax.set_title(title)
    ax.tick_params(axis="x", labelsize=9)
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
    return plot_bars(t, x=x, y="value", hue="condition", title=title or f"{METRIC_LABELS.get(metric, metric)} ({dataset})",
                     ylabel=METRIC_LABELS.get(metric, metric))


#: The conditions of the paper's Table 1, in its order, as (perturbation, level) of a tidy table.
TABLE1_CONDITIONS = (("brightness", 0.5), ("brightness", -0.5), ("contrast", 0.7), ("contrast", 2.0), ("mean", None))


def plot_table1(t1: pd.DataFrame, metric: str = "psnr", manipulations: Sequence[str] = ("splicing", "copy-move"),
                title: str | None = None):
    """Table 1 as a figure: one panel per condition (alpha = +-0.5, beta = 0.7 / 2.0, their mean), one group of
    bars per method, our bars per forgery type (filled, 95 % bootstrap intervals) beside the paper's for the same
    type (hatched, where the paper has the row: unrestored, the ReConWave-Net restorer, Retinexformer, MSEC-Net).
    ``t1``: :func:`paper_repro.experiments.table1_restoration`'s tidy table."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    t = t1[t1["metric"] == metric]
    methods = list(dict.fromkeys(t["method"]))
    colors = dict(zip(manipulations, sns.color_palette("colorblind", len(manipulations))))
    fig, axes = plt.subplots(1, len(TABLE1_CONDITIONS), figsize=(3.3 * len(TABLE1_CONDITIONS), 4.2), sharey=True)
    width = 0.8 / (2 * len(manipulations))
    for ax, (pert, lv) in zip(axes, TABLE1_CONDITIONS):
        at = t[(t["perturbation"] == pert) & (t["level"].isna() if lv is None else (t["level"] - lv).abs() < 1e-9)]
        for j, kind in enumerate(manipulations):
            rows = at[at["manipulation"] == kind].set_index("method")
            ours = rows[rows["dataset"] != "(paper)"].reindex(methods)
            paper = pd.concat([rows[rows["dataset"] != "(paper)"]["paper"],
                               rows[rows["dataset"] == "(paper)"]["paper"]]).groupby(level=0).first().reindex(methods)
            pos = np.arange(len(methods)) - 0.4 + width * (2 * j + 0.5)
            err = np.vstack([(ours["value"] - ours["ci_low"]).clip(lower=0).fillna(0),
                             (ours["ci_high"] - ours["value"]).clip(lower=0).fillna(0)])
            ax.bar(pos, ours["value"], width * 0.95, color=colors[kind], yerr=err, capsize=2, error_kw={"lw": 0.8},
                   label=f"ours: {kind}")
            ax.bar(pos + width, paper, width * 0.95, color="white", edgecolor=colors[kind], hatch="///",
                   label=f"paper: {kind}")
        ax.set_xticks(np.arange(len(methods)))
        ax.set_xticklabels([tick_label(m, 12) for m in methods], fontsize=8, rotation=90)
        ax.set_title("mean of the four" if pert == "mean" else level_label(pert, lv), fontsize=10)
    axes[0].set_ylabel(METRIC_LABELS.get(metric, metric) + " inside the tampered region")
    if metric == "ssim":
        axes[0].set_ylim(0, 1)
    axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(title or f"Table 1: {METRIC_LABELS.get(metric, metric)} inside the tampered regions, "
                          "ours (filled) and the paper's (hatched)")
    fig.tight_layout()
    return fig


def plot_shipped_detector(shipped: pd.DataFrame, tta: str = "none", title: str | None = None):
    """:func:`paper_repro.experiments.shipped_detector` as bars: pixel F1 per evaluation set and forgery type,
    the shipped detector (95 % bootstrap intervals over images) beside the all-tampered reference on the same
    images."""
    from .experiments.tables import REFERENCE

    one = shipped[shipped["tta"] == tta]
    label = "shipped detector, " + ("one pass" if tta == "none" else f"{tta} averaged")
    bars = pd.concat([one.assign(model=label, value=one["f1"], ci_low=one["f1_low"], ci_high=one["f1_high"]),
                      one.assign(model=REFERENCE, value=one["all_tampered_f1"], ci_low=np.nan, ci_high=np.nan)],
                     ignore_index=True)
    bars["set"] = [f"{d}: {m} ({int(n)})" for d, m, n in zip(bars["dataset"], bars["manipulation"], bars["n_images"])]
    return plot_bars(bars, x="set", y="value", hue="model", ylabel="pixel F1 (mean over tampered images)",
                     title=title or "The shipped detector: pixel F1 per set and forgery type (images in brackets)")


def plot_forest(claims: pd.DataFrame, title: str | None = None):
    """Forest plot of :func:`paper_repro.experiments.claims_table`: per claim our difference A - B with its
    95 % interval (colour: verdict) and the paper's difference (diamond) on the same axis, one panel per
    metric (F1, IoU, AUC, PSNR in dB). The grey band around 0 is the training noise alone: plus or minus 1.96
    ``sd_training`` (the part of the combined interval that the seeds give), or, for a table of the earlier
    layout, plus or minus twice its ``noise_sd``."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    colors = {"reproduced": "#029e73", "supported": "#029e73", "smaller than claimed": "#56b4e9",
              "not reproduced": "#cc78bc", "contradicted": "#d55e00", "inconclusive": "#949494",
              "not testable": "#cccccc"}
    combined = "sd_training" in claims.columns
    units = {"f1": "pixel F1 difference", "iou": "pixel IoU difference", "auc": "pixel AUC difference",
             "psnr": "PSNR difference (dB)", "ssim": "SSIM difference"}
    groups = [(m, claims[claims["metric"] == m]) for m in dict.fromkeys(claims["metric"])]
    heights = [max(1.6, 0.34 * len(g) + 0.9) for _, g in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(9.5, sum(heights) + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (metric, g) in zip(axes[:, 0], groups):
        y = np.arange(len(g))[::-1]
        for yi, (_, r) in zip(y, g.iterrows()):
            c = colors.get(r["verdict"], "#333333")
            sd = r.get("sd_training") if combined else r.get("noise_sd")
            half = (1.96 if combined else 2.0) * sd if pd.notna(sd) else 0.0
            if half > 0:
                ax.fill_betweenx([yi - 0.4, yi + 0.4], -half, half, color="#dddddd", lw=0, zorder=0)
            ax.plot([r["ci_low"], r["ci_high"]], [yi, yi], color=c, lw=2)
            ax.plot([r["ours"]], [yi], "o", color=c, ms=5)
            if pd.notna(r["paper"]):
                ax.plot([r["paper"]], [yi], "D", color="#0173b2", ms=5, mfc="none")
        ax.axvline(0, color="k", ls=":", lw=1)
        ax.set_yticks(y)
        ax.set_yticklabels([canonical(f"{r['claim']} [{r['verdict']}]") for _, r in g.iterrows()], fontsize=8)
        ax.set_xlabel(f"{units.get(metric, metric + ' difference')}, A - B")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6))  # a narrow panel: few ticks, none overlapping
    ours = "ours, 95 % interval (images and training)" if combined else "ours, 95 % paired interval over images"
    band = "training noise alone: +-1.96 sd" if combined else "training noise: +-2 seed sd"
    handles = [Line2D([], [], color="#555555", marker="o", lw=2, label=ours),
               Line2D([], [], color="#0173b2", marker="D", mfc="none", lw=0, label="the paper's difference"),
               Patch(color="#dddddd", label=band)]
    handles += [Patch(color=c, label=v) for v, c in colors.items() if v in set(claims["verdict"])]
    axes[0, 0].legend(handles=handles, fontsize=7, loc="lower right")
    axes[0, 0].set_title(title or "The paper's claims: our difference A - B beside the paper's")
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


#: Figures drawn from one results table each: name -> (the table's name under ``results/<profile>/``, how to
#: draw it). Notebooks draw them with :func:`figure`; :func:`redraw` draws them again from a folder of committed
#: tables (a reference run's), so a figure can change without retraining anything.
TABLE_FIGURES = {
    "methods_f1": ("method_comparison", lambda t: plot_table(t, "f1", x="method")),
    "methods_auc": ("method_comparison", lambda t: plot_table(t, "auc", x="method")),
    "table1_psnr": ("table1_restoration", lambda t: plot_table1(t, "psnr")),
    "table1_ssim": ("table1_restoration", lambda t: plot_table1(t, "ssim")),
    "claims_forest": ("claims", plot_forest),
    "further_forest": ("further_comparisons", lambda t: plot_forest(t, title="Further comparisons (not claims of "
                                                                         "the paper): our difference A - B")),
    "shipped_detector_f1": ("shipped_detector", plot_shipped_detector),
}


def figure(name: str, profile, table: pd.DataFrame):
    """Draw the registered figure ``name`` (:data:`TABLE_FIGURES`) from ``table`` and save it under
    ``figures/<profile>/``; returns the figure."""
    if name not in TABLE_FIGURES:
        raise KeyError(f"no figure {name!r}; figures drawn from a table: {', '.join(TABLE_FIGURES)}")
    fig = TABLE_FIGURES[name][1](table)
    save_figure(fig, profile, name)
    return fig


def redraw(tables: Path, figures: Path, names: Iterable[str] | None = None) -> list[Path]:
    """Draw the registered figures again from the CSV tables in ``tables`` into ``figures`` (PNG); a figure
    whose table is absent is skipped. Returns the written paths."""
    import matplotlib.pyplot as plt

    out = []
    Path(figures).mkdir(parents=True, exist_ok=True)
    for name in names or TABLE_FIGURES:
        stem, draw = TABLE_FIGURES[name]
        src = Path(tables) / f"{stem}.csv"
        if not src.is_file():
            continue
        fig = draw(pd.read_csv(src))
        path = Path(figures) / f"{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        out.append(path)
    return out
