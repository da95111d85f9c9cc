"""One function per results table: ReConWave-Net's Tables 1-8, the method comparison and the lever table.

Each returns a tidy frame (see :mod:`paper_repro.experiments`) with the all-tampered reference
(:data:`REFERENCE`) among its rows where the table scores detectors; :func:`summarize`, :func:`wide` and
:func:`versus_reference` reshape such a frame for display. One module per family: ``common`` (the reference
row, budget columns, sweep tables, display), ``detection`` (Tables 2-6 and the detection studies),
``restoration`` (Table 1 and its analyses, Tables 7-8), ``methods`` (the method comparison).
"""
from __future__ import annotations

from .common import (BUDGET_COLUMNS, REFERENCE, TABLE_DETECTOR, TABLE_RESTORER, summarize,  # noqa: F401
                     sweep_table, versus_reference, wide, with_budget)
from .detection import (lever_noise, lever_results, restoration_vs_augmentation, seed_noise,  # noqa: F401
                        shipped_detector, table4_modules, table5_wavelets, table6_restoration_onoff,
                        tables23_sweeps)
from .methods import (METHODS, RECONWAVE_METHOD, ComparedMethods, extra_run, method_comparison,  # noqa: F401
                      method_sweeps, operating_points)
from .restoration import (GAP_ROWS, clean_identity, convention_table, disturbance_accuracy,  # noqa: F401
                          disturbance_confusion_by_level, gap_components, table1_gap, table1_restoration,
                          table7_attention, table8_forensic_loss)
