"""Plot ``paper-repro bench`` results (the CSVs written with ``--out``) into ``figures/bench/*.png``.

    python benchmarks/plot_bench.py                          # every benchmarks/results-*.csv
    python benchmarks/plot_bench.py a.csv b.csv --out figures/bench --all-runs

Figures (one bar group per model; one panel per profile / device / thread count; by default only the
latest run of each such setting):

- ``throughput.png``: training (package loop, hand-written loop), inference and sweep images/s (log);
- ``precision_layout.png``: fp32 vs AMP (bf16 on CPU) and NCHW vs NHWC training images/s, with the
  speed-ups (``bf16_speedup``, ``channels_last_speedup``) written on the bars;
- ``ratios.png``: ``train_ratio`` (target >= 0.95), ``sweep_overhead`` (target <= 1.1) and
  ``sweep_time_ratio_2x`` (linear scaling: 2);
- ``sweep_scaling.png``: sweep time at N and 2N images and the peak RSS at both (flat memory).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

HERE = Path(__file__).resolve().parent
SETTING = ["profile", "device", "device_name", "threads"]


def load(paths) -> pd.DataFrame:
    """Concatenate bench CSVs; ``extra`` (JSON) is expanded into columns."""
    frames = []
    for p in paths:
        df = pd.read_csv(p)
        df["source"] = Path(p).name
        frames.append(df)
    if not frames:
        raise SystemExit("plot_bench: no CSV files given or found under benchmarks/ (run paper-repro bench --out ...)")
    df = pd.concat(frames, ignore_index=True)
    extra = df["extra"].fillna("").map(lambda s: json.loads(s) if isinstance(s, str) and s.strip() else {})
    ext = pd.DataFrame(list(extra), index=df.index)
    ext = ext[[c for c in ext.columns if c not in df.columns]]
    df = pd.concat([df.drop(columns=["extra"]), ext], axis=1)
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    df["setting"] = (df["profile"].astype(str) + " | " + df["device"].astype(str) + " | "
                     + df["threads"].astype(str) + " thr")
    return df


def latest_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Keep the latest run (by timestamp) of each (profile, device, device_name, threads)."""
    last = df.sort_values("timestamp").groupby(SETTING, dropna=False)["run_id"].last()
    return df[df["run_id"].isin(set(last))]


def _pivot(df, measures):
    sub = df[df["measure"].isin(measures)].copy()
    sub["measure"] = pd.Categorical(sub["measure"], measures, ordered=True)
    return sub


def plot_throughput(df: pd.DataFrame, out: Path) -> Path:
    measures = ["train_ips_package", "train_ips_manual", "infer_ips", "sweep_ips"]
    sub = _pivot(df, measures)
    g = sns.catplot(data=sub, x="model", y="value", hue="measure", col="setting", kind="bar", height=4,
                    aspect=1.6, col_wrap=min(2, sub["setting"].nunique()), sharey=False)
    g.set(yscale="log")
    g.set_axis_labels("", "images/s (sweep: image-levels/s)")
    for ax in g.axes.flat:  # every facet gets its model names (col_wrap hides the upper ones)
        ax.tick_params(axis="x", labelbottom=True, rotation=30)
    g.tight_layout()
    g.figure.suptitle("Throughput per model", y=1.02)
    path = out / "throughput.png"
    g.figure.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(g.figure)
    return path


def plot_precision_layout(df: pd.DataFrame, out: Path) -> Path:
    settings = sorted(df["setting"].unique())
    fig, axes = plt.subplots(len(settings), 2, figsize=(13, 3.8 * len(settings)), squeeze=False)
    for row, setting in zip(axes, settings):
        d = df[df["setting"] == setting]
        for ax, (measures, labels, speed, title) in zip(row, [
            (["train_ips_manual_fp32", "train_ips_manual_amp"], ["fp32", "AMP (bf16/fp16)"], "bf16_speedup",
             "precision"),
            (["train_ips_manual_nchw", "train_ips_manual_nhwc"], ["NCHW", "NHWC (channels-last)"],
             "channels_last_speedup", "memory layout"),
        ]):
            sub = _pivot(d, measures)
            sub["variant"] = sub["measure"].map(dict(zip(measures, labels)))
            sns.barplot(data=sub, x="model", y="value", hue="variant", ax=ax)
            ax.set_title(f"{setting}: training images/s by {title}", fontsize=10)
            ax.set_xlabel("")
            ax.set_ylabel("images/s (hand-written loop)")
            ax.tick_params(axis="x", rotation=30)
            sp = d[d["measure"] == speed].set_index("model")["value"]
            top = sub.groupby("model", observed=True)["value"].max()
            for i, tick in enumerate(ax.get_xticklabels()):
                m = tick.get_text()
                if m in sp.index and m in top.index:
                    ax.text(i, top[m], f"x{sp[m]:.2f}", ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    path = out / "precision_layout.png"
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_ratios(df: pd.DataFrame, out: Path) -> Path:
    panels = [("train_ratio", 0.95, "package / hand-written loop (>= 0.95)"),
              ("sweep_overhead", 1.1, "sweep / (levels x clean pass) (<= 1.1)"),
              ("sweep_time_ratio_2x", 2.0, "sweep time 2N / N (linear: 2)")]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    for ax, (measure, target, title) in zip(axes, panels):
        sub = df[df["measure"] == measure]
        if len(sub):
            sns.barplot(data=sub, x="model", y="value", hue="setting", ax=ax)
        ax.axhline(target, color="k", ls="--", lw=1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("")
        ax.set_ylabel(measure)
        ax.tick_params(axis="x", rotation=30)
        if ax.get_legend() is not None and ax is not axes[-1]:
            ax.get_legend().remove()
    fig.tight_layout()
    path = out / "ratios.png"
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_sweep_scaling(df: pd.DataFrame, out: Path) -> Path:
    rows = []
    for _, r in df[df["measure"] == "sweep_time_ratio_2x"].iterrows():
        n = int(r.get("n", 0) or 0)
        rows += [dict(setting=r["setting"], model=r["model"], images=n, what="sweep time (s)", value=r.get("sweep_s")),
                 dict(setting=r["setting"], model=r["model"], images=2 * n, what="sweep time (s)",
                      value=r.get("sweep_2n_s"))]
    for _, r in df[df["measure"] == "rss_growth_mb"].iterrows():
        n = int(r.get("n", 0) or 0)
        rows += [dict(setting=r["setting"], model=r["model"], images=n, what="peak RSS (MB)", value=r.get("peak_rss_n_mb")),
                 dict(setting=r["setting"], model=r["model"], images=2 * n, what="peak RSS (MB)",
                      value=r.get("peak_rss_2n_mb"))]
    data = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, what in zip(axes, ["sweep time (s)", "peak RSS (MB)"]):
        sub = data[data["what"] == what] if len(data) else data
        if len(sub):
            sns.lineplot(data=sub, x="images", y="value", hue="setting", style="model", marker="o", ax=ax)
            if what == "sweep time (s)":  # linear reference through the N point
                for (_, _), g in sub.groupby(["setting", "model"]):
                    g = g.sort_values("images")
                    x0, y0 = g["images"].iloc[0], g["value"].iloc[0]
                    ax.plot([0, 2 * x0], [0, 2 * y0], color="grey", ls=":", lw=1)
            else:
                ax.set_ylim(0, max(sub["value"].max() * 1.15, 1))
        ax.set_title(f"robustness sweep: {what} vs images", fontsize=10)
        ax.set_xlabel("images (x all perturbation levels)")
        ax.set_ylabel(what)
    fig.tight_layout()
    path = out / "sweep_scaling.png"
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", nargs="*", help="bench CSVs (default: benchmarks/results-*.csv)")
    ap.add_argument("--out", default=str(HERE.parent / "figures" / "bench"), help="output folder")
    ap.add_argument("--all-runs", action="store_true", help="plot every run, not only the latest per setting")
    args = ap.parse_args(argv)
    paths = args.csv or sorted(HERE.glob("results-*.csv"))
    df = load(paths)
    if not args.all_runs:
        df = latest_runs(df)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sns.set_theme(style="whitegrid", context="notebook")
    for fn in (plot_throughput, plot_precision_layout, plot_ratios, plot_sweep_scaling):
        print(fn(df, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
