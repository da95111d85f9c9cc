"""Every results table a run writes, in one place: :data:`TABLES` (a :class:`~paper_repro.registry.Registry`
of :class:`ResultsTable`).

A table is ``results/<profile>/<name>.csv``. Its entry says which notebook writes it, which table of the
ReConWave-Net paper it reproduces (``None``: not one of the paper's tables), what one row is, the library
function that computes it (``None``: the notebook derives it from another table: a summary, a comparison with
the paper), and whether it holds one row per image (never copied into a reference run, as it names data
files). :func:`paper_repro.report.save_table` writes only registered names, :func:`paper_repro.reference.
write_reference` and ``verify`` go over this registry, the README generator reads tables through
:func:`path`, and the figures drawn from one table (:data:`paper_repro.report.TABLE_FIGURES`) name a
registered table. Adding a table: one :func:`register_table` line here, the notebook cell that saves it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .registry import Registry


@dataclass(frozen=True)
class ResultsTable:
    """One results table (see the module docstring)."""

    name: str
    notebook: str
    what: str
    paper: str | None = None
    function: str | None = None
    per_image: bool = False

    @property
    def file(self) -> str:
        return f"{self.name}.csv"


TABLES = Registry("results table")


def register_table(name: str, notebook: str, what: str, paper: str | None = None, function: str | None = None,
                   per_image: bool = False) -> ResultsTable:
    """Register the table ``name`` (see :class:`ResultsTable`); a name registered twice is an error."""
    if not (len(notebook) == 2 and notebook.isdigit()):
        raise ValueError(f"results table {name!r}: notebook is a two-digit number such as '04', got {notebook!r}")
    return TABLES.register(name, ResultsTable(name, notebook, what, paper, function, per_image))


def path(folder, name: str) -> Path:
    """``folder/<name>.csv`` for a registered table ``name`` (an unregistered name is an error)."""
    return Path(folder) / TABLES[name].file


def written_by(notebook: str) -> list[str]:
    """The tables notebook ``notebook`` (``"04"``) writes, in registration order."""
    return [n for n in TABLES if TABLES[n].notebook == notebook]


_T = "paper_repro.experiments.tables."
for _args in (
    ("data_counts", "00", "images per dataset and split, tampered and authentic"),
    ("data_mask_stats", "00", "one row per image: its mask's tampered fraction", None, None, True),
    ("embedding_separation", "01", "how far MPC's pretrained pixel embeddings put tampered from authentic pixels"),
    ("table4_modules", "02", "the module ablation: per method and condition, F1 / IoU / AUC with intervals",
     "Table 4", _T + "table4_modules"),
    ("table4_summary", "02", "Table 4 in the paper's layout: one row per method"),
    ("table4_vs_paper", "02", "our Table 4 cells beside the paper's, with the difference", "Table 4"),
    ("embedding_separation_reconwave", "02", "the same separation for ReConWave-Net's contrastive embeddings"),
    ("shipped_detector", "02", "the shipped detector on the evaluation sample, with and without flip averaging",
     None, _T + "shipped_detector"),
    ("table1_restoration", "03", "restoration quality per restorer, forgery type and disturbance: PSNR / SSIM",
     "Table 1", _T + "table1_restoration"),
    ("table1_vs_paper", "03", "our Table 1 cells beside the paper's", "Table 1"),
    ("table1_ceiling", "03", "the known-disturbance inverse's PSNR: the physical limit of any restorer"),
    ("table1_gap", "03", "the shipped restorer's gap to the ceiling, taken apart by what it is told",
     None, _T + "table1_gap"),
    ("table1_gap_components", "03", "the gap's parts: classification, strength, fill", None, None),
    ("table1_conventions", "03", "the classical rows under each brightness / contrast convention",
     None, _T + "convention_table"),
    ("disturbance_accuracy", "03", "the restorer's disturbance classifier: accuracy per condition",
     None, _T + "disturbance_accuracy"),
    ("disturbance_confusion", "03", "its confusion matrix (true class by predicted class)"),
    ("disturbance_confusion_by_level", "03", "its decisions per disturbance level",
     None, _T + "disturbance_confusion_by_level"),
    ("clean_identity", "03", "what the restorer does to an undisturbed photo", None, _T + "clean_identity"),
    ("tables2_3_sweeps", "04", "the robustness sweeps: F1 / IoU / AUC per brightness and contrast level",
     "Tables 2-3", _T + "tables23_sweeps"),
    ("tables2_3_vs_paper", "04", "our Tables 2-3 cells beside the paper's", "Tables 2-3"),
    ("tables2_3_paper_baselines", "04", "the paper's own rows of Tables 2-3 (its numbers only)", "Tables 2-3"),
    ("tables2_3_all_tampered", "04", "the all-tampered reference under the same sweeps"),
    ("tables2_3_restored", "04", "Tables 2-3 with restoration, in the paper's layout", "Tables 2-3"),
    ("tables2_3_unrestored", "04", "Tables 2-3 without restoration, in the paper's layout", "Tables 2-3"),
    ("table5_wavelets", "05", "the wavelet ablation (Haar, Symlet4, Biorthogonal4.4)", "Table 5",
     _T + "table5_wavelets"),
    ("table5_summary", "05", "Table 5 in the paper's layout"),
    ("table5_vs_paper", "05", "our Table 5 cells beside the paper's", "Table 5"),
    ("table7_attention", "06", "the restorer's attention ablation (Swin, ViT, deformable)", "Table 7",
     _T + "table7_attention"),
    ("table7_summary", "06", "Table 7 in the paper's layout"),
    ("table7_vs_paper", "06", "our Table 7 cells beside the paper's", "Table 7"),
    ("table6_restoration_onoff", "07", "detection with and without the restorer", "Table 6",
     _T + "table6_restoration_onoff"),
    ("table6_summary", "07", "Table 6 in the paper's layout"),
    ("table6_vs_paper", "07", "our Table 6 cells beside the paper's", "Table 6"),
    ("restoration_vs_augmentation", "07", "restoring disturbed photos against training on disturbed photos",
     None, _T + "restoration_vs_augmentation"),
    ("table8_forensic_loss", "07", "the restorer's loss ablation (forensic loss or plain L1)", "Table 8",
     _T + "table8_forensic_loss"),
    ("table8_summary", "07", "Table 8 in the paper's layout"),
    ("table8_vs_paper", "07", "our Table 8 cells beside the paper's", "Table 8"),
    ("method_comparison", "08", "ReConWave-Net, LPCLNet, NCL and MPC at one budget: F1 / IoU / AUC",
     None, _T + "method_comparison"),
    ("method_comparison_summary", "08", "the method comparison, one row per method"),
    ("decision_thresholds", "08", "each detector's F1 at the decision thresholds, chosen on validation"),
    ("seed_noise", "09", "the reference configuration's spread over training seeds", None, _T + "seed_noise"),
    ("claims", "09", "every claim of the paper: our difference, its interval, the paper's, the verdict",
     None, "paper_repro.experiments.claims.paper_claims"),
    ("further_comparisons", "09", "comparisons the paper does not make, with the same intervals",
     None, "paper_repro.experiments.claims.further_comparisons"),
):
    register_table(*_args)
del _args

#: tables with one row per image: they name data files, so a reference run never copies them
PER_IMAGE_TABLES = tuple(n for n in TABLES if TABLES[n].per_image)
