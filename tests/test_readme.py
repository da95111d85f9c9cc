"""The README's hand-written text quotes no result that could drift: every result number sits in the block that
``paper-repro results --write-readme`` generates from the reference run, and the few numbers outside it are
settings, the paper's own numbers, or facts checked here against the table they come from."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from paper_repro import reference

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
REF = ROOT / "reference" / "cpu"

#: A number a reader could take for a measurement: decimals with two or more places, and any number with a unit
#: of time, size, signal or share.
RESULT_LIKE = re.compile(r"(?<![\w.`/+=])(\d+\.\d{2,}|\d+(?:\.\d+)?\s?(?:dB|min|minutes|GB|MB|GFLOP|ms)\b|"
                         r"\d+(?:\.\d+)?\s?%|\d+(?:\.\d+)?x\b)")


def _prose() -> str:
    text = README.read_text()
    head, rest = text.split(reference.README_BEGIN, 1)
    _, tail = rest.split(reference.README_END, 1)
    return re.sub(r"```.*?```", "", head + tail, flags=re.S)  # commands are not claims


def _paper_values() -> set[str]:
    from paper_repro import paper

    t = paper.paper_numbers("reconwave")
    return {f"{v:.2f}" for v in t["value"].dropna()} | {f"{v:.3f}" for v in t["value"].dropna()}


def _checked() -> dict[str, str]:
    """Numbers outside the generated block, each with what it is; the ones that are facts are checked below."""
    from paper_repro import experiments as E
    from paper_repro import profiles

    cpu = profiles.get("cpu")
    checked = {
        "3.11": "the minimum Python version (pyproject)",
        "2.13": "the example of a CPU-only torch pin not to use",
        "0.02": f"verify's absolute tolerance {reference.TOLERANCE['atol']}",
        "2 %": f"verify's relative tolerance {reference.TOLERANCE['rtol']}",
        "30 %": f"the held-out fraction {E.SPLIT_TEST_FRACTION}",
        "3x": f"the cpu profile's class weight {cpu.loss_kwargs['reconwave']['pos_weight']}",
        "0.99": "an example decay of the EMA option",
        "95 %": "the bootstrap intervals' level",
        "6.93": f"log(1024) = {math.log(1024):.2f}, the contrastive loss's floor with 1024 sampled pixels",
        "6.24": f"log(512) = {math.log(512):.2f}",
        "4 dB": "checked against table1_conventions.csv below",
    }
    assert reference.TOLERANCE == {"atol": 0.02, "rtol": 0.02}
    assert E.SPLIT_TEST_FRACTION == 0.3 and cpu.loss_kwargs["reconwave"]["pos_weight"] == 3.0
    return checked


def test_the_readme_prose_quotes_no_result_outside_the_generated_block():
    allowed = set(_checked()) | _paper_values()
    stray = sorted({m.group(0) for m in RESULT_LIKE.finditer(_prose())} - allowed)
    assert not stray, (f"README numbers outside the generated block that no table checks: {stray}; generate them "
                       "(reference.results_markdown) or check them in tests/test_readme.py")


def test_a_drifted_number_in_the_prose_is_caught():
    drifted = _prose() + "\nThe shipped detector scores F1 0.531 in 33.9 min.\n"
    found = {m.group(0) for m in RESULT_LIKE.finditer(drifted)} - set(_checked()) - _paper_values()
    assert {"0.531", "33.9 min"} <= found


def test_the_conventions_sentence_is_what_the_table_says():
    if not (REF / "tables" / "table1_conventions.csv").is_file():
        pytest.skip("no committed reference run")
    c = pd.read_csv(REF / "tables" / "table1_conventions.csv")
    at07 = c[(c["metric"] == "psnr") & (c["perturbation"] == "contrast") & ((c["level"] - 0.7).abs() < 1e-9)
             & c["manipulation"].isin(["splicing", "copy-move"])]
    assert ((at07["value"] - at07["paper"]) > 4).all()  # "a PSNR more than 4 dB above the paper's"
    gaps = c.drop_duplicates("convention").set_index("convention")["gap"]
    assert gaps.idxmin().startswith("ours")  # "Ours has the smallest mean gap overall"
    text = README.read_text()
    assert "more than 4 dB above the paper's" in text and "Ours has the smallest mean gap overall" in text


def test_the_generated_block_states_image_counts_and_the_like_for_like_paper_row():
    if not (REF / "manifest.json").is_file():
        pytest.skip("no committed reference run")
    block = reference.results_markdown(REF)
    shipped = pd.read_csv(REF / "tables" / "shipped_detector.csv")
    n_all = int(shipped[(shipped["dataset"] == "casia1") & (shipped["manipulation"] == "all")]["n_images"].iloc[0])
    assert f"| {n_all} |" in block
    vs = pd.read_csv(REF / "tables" / "tables2_3_vs_paper.csv")
    clean_f1 = vs[(vs["condition"] == "clean") & (vs["metric"] == "f1")].iloc[0]
    assert f"the paper's Table 2 (clean CASIA" in block and f"{clean_f1['paper']:.2f}" in block
    manifest = json.loads((REF / "manifest.json").read_text())
    assert f"{manifest['total_minutes']} min on {manifest['cpu']}" in block


def test_the_claims_reading_counts_what_the_table_holds():
    c = pd.DataFrame({"verdict": ["inconclusive", "supported", "inconclusive"], "paper": [0.2, 0.05, float("nan")],
                      "ci_low": [-0.01, 0.01, -0.1], "ci_high": [0.03, 0.08, 0.1]})
    text = reference.claims_reading(c)
    assert "Of 3 claims, 2 inconclusive, 1 supported." in text
    assert "2 have a difference in the paper's tables" in text
    assert "holds the paper's difference in 1 of them, and in 1 the paper's difference lies above" in text


def _notebook_markdown() -> dict[str, str]:
    out = {}
    for f in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(f.read_text())
        out[f.name] = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return out


#: Settings the notebooks' text names (each one a parameter of the code, not a measurement).
NOTEBOOK_SETTINGS = {
    "95 %": "the bootstrap intervals' level",
    "20 %": "the synthetic generator's authentic share (data.synthetic)",
    "3x": "the cpu profile's class weight", "1x": "the class weight the learning-rate search compares with",
    "100 dB": "the cap of a tampered-region PSNR (metrics)",
    "0.05": "experiments.versus_reference's margin",
    "1.96": "the normal quantile of a two-sided 95 % interval",
}


def test_the_notebooks_text_quotes_no_result_the_code_does_not_print():
    """Results are printed by the cells from the run's tables; the markdown names settings and the papers' own
    numbers only, so a rerun cannot leave its text stale."""
    from paper_repro import paper

    published = _paper_values() | {f"{v:.3f}" for v in paper.paper_numbers("others")["value"].dropna()}
    for name, text in _notebook_markdown().items():
        stray = sorted({m.group(0) for m in RESULT_LIKE.finditer(text)} - set(NOTEBOOK_SETTINGS) - published)
        assert not stray, f"{name}: numbers in the markdown that no cell prints: {stray}"


def test_the_notebooks_settings_are_the_codes():
    import inspect

    from paper_repro import profiles
    from paper_repro.experiments import tables

    assert profiles.get("cpu").loss_kwargs["reconwave"]["pos_weight"] == 3.0
    assert inspect.signature(tables.versus_reference).parameters["margin"].default == 0.05


def test_the_budget_paragraph_states_the_profiles_settings():
    from paper_repro import profiles

    cpu, paper = profiles.get("cpu"), profiles.get("paper")
    text = " ".join(README.read_text().split())
    main = cpu.stage("detector", "main")
    assert f"trains the shipped detector for {main['max_steps']} steps of {cpu.batch_size} crops of " \
           f"{cpu.image_size}x{cpu.image_size}" in text
    assert f"the `paper` profile trains {paper.epochs['detector']} detector epochs at " \
           f"{paper.image_size}x{paper.image_size}" in text


def test_the_claims_block_of_the_combined_rule_shows_seeds_p_and_further_comparisons(tmp_path):
    row = {"claim": "DWFEL improves F1 (clean)", "table": "table4", "metric": "f1", "condition": "clean",
           "paper": 0.2, "ours": 0.01, "ci_low": -0.02, "ci_high": 0.04, "p": 0.4, "p_holm": 0.8, "seeds_a": 2,
           "seeds_b": 3, "arm_f1_fraction": 0.55, "n_images": 125, "n_groups": 60, "same_information_as": "",
           "verdict": "not reproduced"}
    twin = dict(row, claim="DWFEL improves F1 (beta=2.0)", same_information_as="DWFEL improves F1 (alpha=0.5)")
    pd.DataFrame([row, twin]).to_csv(tmp_path / "claims.csv", index=False)
    pd.DataFrame([dict(row, claim="ReConWave-Net beats NCL (clean F1)", paper=float("nan"),
                       verdict="inconclusive")]).to_csv(tmp_path / "further_comparisons.csv", index=False)
    out = []
    reference._claims(tmp_path, out)
    text = "\n".join(out)
    assert "Of 1 independent claims (1 more repeat another's information), 1 not reproduced." in text
    assert "| 125 (60) | 2 / 3 | 0.55 |" in text and "0.400 / 0.800" in text and "ruled out (above)" in text
    assert "**Further comparisons**" in text and "ReConWave-Net beats NCL (clean F1)" in text
