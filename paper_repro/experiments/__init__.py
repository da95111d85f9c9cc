"""Table-level orchestration for the notebooks: data splits, cached training, one function per results table.

Notebooks call these and only show, plot and save what they return. One module per job:

- :mod:`~paper_repro.experiments.splits`: which images a profile trains and evaluates on (:func:`datasets_for`);
- :mod:`~paper_repro.experiments.runs`: the named training runs (:data:`RUNS`) and their cache
  (:func:`train_or_load`, :func:`checkpoint`, :func:`load`);
- :mod:`~paper_repro.experiments.sweeps`: evaluation over the brightness / contrast grid and its cache
  (:func:`sweep_results`, :func:`tidy_sweep`);
- :mod:`~paper_repro.experiments.tables`: one function per results table (Tables 1-8, the method
  comparison, the lever table, the shipped detector on the whole held-out split) and the display reshapes (:func:`summarize`, :func:`wide`);
- :mod:`~paper_repro.experiments.intervals`: bootstrap intervals of every row and paired differences from a
  table's reference row (``ci_low`` / ``ci_high``, ``vs_ref`` ...);
- :mod:`~paper_repro.experiments.claims`: a verdict per comparative claim (:func:`claims_table`);
- :mod:`~paper_repro.experiments.paper_view`: the published numbers beside ours (``paper`` / ``diff``);
- :mod:`~paper_repro.experiments.figures`: arrays and frames for the notebooks' plots;
- :mod:`~paper_repro.experiments.identity`: the content hashes that key the caches.

Every table function returns a *tidy* (long) :class:`pandas.DataFrame`, one row per number, with at least
the columns :data:`TIDY_COLUMNS`::

    method, dataset, manipulation, perturbation, level, metric, value, n_images, paper, diff

plus the ablation's own column(s) (``dwfel``/``contrastive``, ``wavelet``, ``restoration``,
``attention``, ``loss``), the budget each row was trained at (``steps``, ``params``, ``encoder``) and its
uncertainty (``ci_low`` / ``ci_high``: 95 % bootstrap interval over the test images; ``vs_ref`` /
``vs_ref_low`` / ``vs_ref_high``: the paired difference from the table's reference row). Conventions (the vocabulary of :mod:`paper_repro.paper`):

- ``perturbation`` ``clean`` / ``brightness`` / ``contrast`` with ``level`` = alpha (``I + alpha``) or
  beta (``beta * I``); aggregate rows have ``level`` NaN: ``brightness`` / ``contrast`` = mean over the
  clean column and that sweep's levels (as the "mean" column of ReConWave-Net's Tables 2 and 3, which
  averages its clean column and four levels), ``mean`` = mean over all perturbed levels;
- ``dataset`` = an evaluation set's name, or ``mean`` (mean over datasets, when there are several);
- F1 / IoU are nan-aware means over the *tampered* images (pixel level, threshold 0.5); ``psnr`` / ``ssim``
  are measured inside the tampered region (ReConWave-Net Table 1);
- ``paper`` / ``diff`` come from :func:`paper_repro.paper.beside`; they are NaN where the paper has no
  number (``df.attrs["paper_missing"]`` then holds the reason from ``paper.MISSING_TABLES``).
"""
from __future__ import annotations

from .claims import CLAIMS, OMITTED, Claim, claims_table, further_comparisons, paper_claims
from .figures import (compare_examples, data_overview, dataset_stats, embedding_separation, examples,
                      mask_stats, perturbation_examples)
from .paper_view import TIDY_COLUMNS, paper_baselines, paper_comparison, paper_view
from .intervals import INTERVAL_COLUMNS, add_intervals
from .runs import (ARM_SEEDS, RUNS, SEED_RUNS, Run, checkpoint, load, planned_steps, profile_for, run_budget, train_or_load,
                   training_history)
from .splits import OOD_SET, SPLIT_TEST_FRACTION, datasets_for, photos_ood
from .sweeps import BENCO_METRICS, ablation_grid, choose_threshold, decision_threshold, sweep_results, tidy_sweep
from .tables import (BUDGET_COLUMNS, METHODS, REFERENCE, TABLE_DETECTOR, TABLE_RESTORER, clean_identity,
                     convention_table, disturbance_accuracy, disturbance_confusion_by_level, lever_noise, lever_results,
                     gap_components, method_comparison, method_sweeps, operating_points,
                     restoration_vs_augmentation, seed_noise, shipped_detector, summarize, table1_gap,
                     table1_restoration, table4_modules, table5_wavelets, table6_restoration_onoff,
                     table7_attention, table8_forensic_loss, tables23_sweeps, versus_reference, wide)

__all__ = [
    "TIDY_COLUMNS", "RUNS", "Run", "SPLIT_TEST_FRACTION", "profile_for", "datasets_for", "train_or_load",
    "checkpoint", "load", "training_history", "sweep_results", "choose_threshold", "decision_threshold",
    "tidy_sweep", "wide", "summarize", "paper_view",
    "table1_restoration", "disturbance_accuracy", "table4_modules", "tables23_sweeps", "table5_wavelets",
    "table6_restoration_onoff", "table7_attention", "table8_forensic_loss", "METHODS", "method_sweeps",
    "method_comparison", "examples", "compare_examples", "paper_comparison", "paper_baselines",
    "embedding_separation", "data_overview", "dataset_stats", "mask_stats", "perturbation_examples",
    "BENCO_METRICS", "REFERENCE", "ablation_grid", "convention_table", "lever_noise", "lever_results", "shipped_detector",
    "versus_reference",
    "CLAIMS", "OMITTED", "Claim", "claims_table", "further_comparisons", "paper_claims", "INTERVAL_COLUMNS", "add_intervals", "SEED_RUNS", "ARM_SEEDS", "run_budget", "planned_steps",
    "BUDGET_COLUMNS", "TABLE_DETECTOR", "TABLE_RESTORER", "restoration_vs_augmentation", "seed_noise",
    "clean_identity", "disturbance_confusion_by_level", "OOD_SET", "photos_ood", "table1_gap", "gap_components",
    "operating_points",
]
