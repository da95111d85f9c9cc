"""What every results table shares: the all-tampered reference row, the budget columns, the table-budget
reference runs, the sweep-table builder, and the reshaping for display (:func:`wide`, :func:`summarize`,
:func:`versus_reference`)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ... import profiles as _profiles
from ..intervals import add_intervals
from ..paper_view import attach_paper, paper_order
from ..runs import run_budget
from ..sweeps import sweep_results, tidy_sweep


#: The trivial detector every results table shows beside the models: the whole image called tampered
#: (a model near its F1 / IoU has learned nothing).
REFERENCE = "all-tampered"


#: The columns every comparison table carries so that a reader sees what each row cost.
BUDGET_COLUMNS = ("steps", "params", "encoder")


def with_budget(profile, t: pd.DataFrame, run: str | None) -> pd.DataFrame:
    """``t`` with :data:`BUDGET_COLUMNS` of the trained run ``run`` (all-tampered / untrained: steps 0)."""
    b = run_budget(profile, run) if run else {"steps": 0, "params": 0, "encoder": "none"}
    return t.assign(**{c: b[c] for c in BUDGET_COLUMNS})


def sweep_table(profile, variants: dict[str, dict], table: str | Sequence[str], extra: Sequence[str],
                 grid=None, reference: bool = True, reference_row: str | None = None,
                 budget_of: str = "detector", rename: dict[str, str] | None = None) -> pd.DataFrame:
    """Shared body of the F1/IoU tables: ``variants`` = ``{method: {"detector", "restorer", **extra}}``; with
    ``reference`` the all-tampered detector (:data:`REFERENCE`, extra columns ``"reference"``) is appended.
    Every row gets its bootstrap interval and, with ``reference_row`` (a method of ``variants``), its paired
    difference from that row (:func:`~paper_repro.experiments.intervals.add_intervals`); the budget columns
    come from each variant's ``budget_of`` run; ``rename`` maps our method names to the paper's rows."""
    profile = _profiles.get(profile)
    if reference:
        variants = {**variants, REFERENCE: dict(detector=REFERENCE, restorer=None, **{c: "reference" for c in extra})}
    parts, per_image = [], []
    for method, v in variants.items():
        res = sweep_results(profile, v["detector"], v.get("restorer"), method=method, grid=grid)
        per_image.append(res)
        t = tidy_sweep(res)
        for c in extra:
            t[c] = v.get(c)
        run = v.get(budget_of)
        parts.append(with_budget(profile, t, run if run != REFERENCE else None))
    out = pd.concat(parts, ignore_index=True)
    out["manipulation"] = "all"
    out = add_intervals(out, pd.concat(per_image, ignore_index=True), reference=reference_row,
                        n_resamples=profile.n_bootstrap, seed=profile.seed)
    out = attach_paper(out, table, rename_methods=rename)
    return paper_order(out, extra)



#: Table 4 / 5 / the method comparison's reference row: ReConWave-Net's detector at the table budget; its
#: paper row is ``reconwave``.
TABLE_DETECTOR = "reconwave-table"
#: Table 7 / 8's reference row: the restorer (Swin, forensic loss) at the table budget (paper row ``restorer``).
TABLE_RESTORER = "restorer-table"



def wide(tidy: pd.DataFrame, index: Sequence[str] = ("method", "dataset", "perturbation", "level"),
         levels_only: bool = False) -> pd.DataFrame:
    """Tidy rows -> one row per ``index`` with a column per metric (what :func:`report.plot_sweep` takes).
    ``levels_only`` drops the aggregate rows (per-sweep and overall means), keeping clean and each level."""
    idx = [c for c in index if c in tidy.columns]
    if levels_only:
        tidy = tidy[tidy["level"].notna() | (tidy["perturbation"] == "clean")]
    t = tidy.assign(level=tidy["level"].fillna(-999.0))
    w = t.pivot_table(index=idx, columns="metric", values="value", aggfunc="mean", sort=False).reset_index()
    w["level"] = w["level"].replace(-999.0, np.nan)
    w.columns.name = None
    return w


def summarize(tidy: pd.DataFrame, index: str | Sequence[str] = "method", dataset: str | None = None,
              perturbations: Sequence[str] = ("clean", "brightness", "contrast", "mean")) -> pd.DataFrame:
    """Compact table of the aggregate rows (``level`` NaN) of one dataset (default ``mean`` when present, else
    the only one): rows ``index``, columns ``"<metric> <perturbation>"`` (e.g. ``f1 clean``, ``f1 mean``; IMDL-BenCo's
    aggregation beside ours as ``f1_benco ...`` / ``iou_benco ...`` where the table has it)."""
    t = tidy[tidy["level"].isna() & tidy["perturbation"].isin(perturbations) & tidy["value"].notna()]
    if dataset is None:
        dsets = list(dict.fromkeys(t["dataset"]))
        dataset = "mean" if "mean" in dsets else (dsets[0] if dsets else None)
    t = t[t["dataset"] == dataset]
    index = [index] if isinstance(index, str) else list(index)
    metric_order = [m for m in ("f1", "f1_benco", "iou", "iou_benco", "psnr", "ssim", "auc") if m in set(t["metric"])]
    t = t.assign(column=t["metric"] + " " + t["perturbation"])
    cols = [f"{m} {p}" for m in metric_order for p in perturbations if f"{m} {p}" in set(t["column"])]
    s = t.pivot_table(index=index, columns="column", values="value", aggfunc="mean", sort=False)
    s = s.reindex(columns=cols)
    s.columns.name = None
    s.attrs["dataset"] = dataset
    return s


def versus_reference(summary: pd.DataFrame, column: str = "f1 clean", margin: float = 0.05) -> pd.DataFrame:
    """Each row of a :func:`summarize` table against its all-tampered row (:data:`REFERENCE`): ``value``,
    ``reference``, ``above`` (= value - reference) and a ``verdict``: ``"learned nothing"`` within ``margin`` of
    the reference or below it, else ``"above the reference"``. Our rule for saying so instead of reporting a
    model near the trivial detector as a result."""
    def is_ref(key):
        return (key[0] if isinstance(key, tuple) else key) == REFERENCE

    keys = list(summary.index)
    refs = [k for k in keys if is_ref(k)]
    if not refs:
        raise ValueError(f"versus_reference: no {REFERENCE!r} row in the summary")
    if column not in summary.columns:
        raise KeyError(f"versus_reference: no column {column!r}; columns: {list(summary.columns)}")
    ref = float(summary.loc[refs[0], column])
    rows = summary.loc[[k for k in keys if not is_ref(k)], [column]].rename(columns={column: "value"})
    rows["reference"] = ref
    rows["above"] = rows["value"] - ref
    rows["verdict"] = ["learned nothing" if a < margin else "above the reference" for a in rows["above"]]
    return rows
