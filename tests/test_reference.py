"""The reference run: stripping notebooks, checking a run against the reference, the README's generated section."""
import json
import re
import warnings
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from paper_repro import profiles, reference

ROOT = Path(__file__).resolve().parents[1]


def test_strip_notebook_drops_data_outputs_and_machine_paths():
    nb = {"cells": [
        {"cell_type": "code", "metadata": {"tags": ["shows-data"]}, "source": "show()",
         "outputs": [{"output_type": "display_data", "data": {"image/png": "AAAA"}}]},
        {"cell_type": "code", "metadata": {}, "source": "print(root)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["data in /mnt/secret/data/casia1\n"]}]},
    ], "metadata": {"papermill": {"parameters": {"data_root": "/mnt/secret/data"}}}}
    out = reference.strip_notebook(nb, {"/mnt/secret/data": "<data_root>"})
    assert "image/png" not in json.dumps(out["cells"][0]["outputs"])
    assert out["cells"][1]["outputs"][0]["text"] == ["data in <data_root>/casia1\n"]
    assert "/mnt/secret" not in json.dumps(out)
    assert nb["cells"][0]["outputs"][0]["data"]["image/png"] == "AAAA"  # the input is left alone


def _fake_run(home: Path, value: float = 0.5):
    prof = profiles.get("smoke")
    (prof.checkpoints_dir / "a").mkdir(parents=True)
    (prof.checkpoints_dir / "a" / "final.pt").write_bytes(b"weights")
    prof.results_dir.mkdir(parents=True)
    pd.DataFrame({"method": ["m", "all-tampered"], "metric": ["f1", "f1"], "value": [value, 0.2]}).to_csv(
        prof.results_dir / "table4_modules.csv", index=False)
    pd.DataFrame({"image": ["x.jpg"], "mask_fraction": [0.1]}).to_csv(prof.results_dir / "per_image.csv", index=False)
    prof.figures_dir.mkdir(parents=True)
    for name in ("table4_f1", "data_examples_casia1", "methods_examples"):
        (prof.figures_dir / f"{name}.png").write_bytes(b"png")
    runs = home / "runs" / "smoke"
    runs.mkdir(parents=True)
    (runs / "status.json").write_text(json.dumps({"profile": "smoke", "finished": {"00_data.ipynb": {"seconds": 3}}}))
    return prof


def test_verify_says_bit_identical_then_names_a_changed_cell(tmp_path, monkeypatch):
    monkeypatch.setenv(profiles.HOME_ENV, str(tmp_path))
    prof = _fake_run(tmp_path)
    ref = reference.write_reference("smoke")
    assert sorted(p.name for p in (ref / "tables").iterdir()) == ["table4_modules.csv"]  # no per-image table
    assert sorted(p.name for p in (ref / "figures").iterdir()) == ["table4_f1.png"]  # no dataset pixels
    manifest = json.loads((ref / "manifest.json").read_text())
    assert manifest["checkpoints_sha256"]["a"] == __import__("hashlib").sha256(b"weights").hexdigest()
    assert {"commit", "python", "torch", "fastai", "cpu", "threads", "notebook_seconds", "data"} <= set(manifest)

    said = []
    assert reference.verify("smoke", out=said.append) == 0
    assert "bit-identical" in said[-1]

    t = pd.read_csv(prof.results_dir / "table4_modules.csv")
    t.loc[0, "value"] = 0.9  # one cell changed beyond the tolerance
    t.to_csv(prof.results_dir / "table4_modules.csv", index=False)
    said.clear()
    assert reference.verify("smoke", out=said.append) == 1
    report = "\n".join(said)
    assert "table4_modules.csv" in report and "method=m" in report and "0.9" in report
    assert "environments" in report

    t.loc[0, "value"] = 0.505  # within the tolerance, but the checkpoint is no longer the same bytes
    t.to_csv(prof.results_dir / "table4_modules.csv", index=False)
    (prof.checkpoints_dir / "a" / "final.pt").write_bytes(b"other weights")
    said.clear()
    assert reference.verify("smoke", out=said.append) == 0
    assert "0 of 1 checkpoints bit-identical" in said[0] and "within the tolerance" in said[-1]


def test_verify_without_a_reference_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv(profiles.HOME_ENV, str(tmp_path))
    said = []
    assert reference.verify("smoke", out=said.append) == 2 and "no reference run" in said[0]


def test_readme_results_section_is_what_the_command_generates():
    ref = ROOT / reference.REFERENCE_ROOT / "cpu"
    if not (ref / "manifest.json").is_file():
        pytest.skip("no committed reference run (reference/cpu/manifest.json)")
    current, generated = reference.update_readme(ROOT / "README.md", ref, write=False)
    assert current == generated, "README's Results section is stale: run `paper-repro results --write-readme`"


def test_committed_reference_holds_no_machine_path_nor_dataset_pixels():
    ref = ROOT / reference.REFERENCE_ROOT / "cpu"
    if not ref.is_dir():
        pytest.skip("no committed reference run")
    size = sum(f.stat().st_size for f in ref.rglob("*") if f.is_file())
    assert size < 8e6, f"reference/cpu is {size / 1e6:.1f} MB"
    for f in ref.rglob("*"):
        if f.suffix in (".ipynb", ".json", ".csv"):
            # a plot's base64 payload may spell "/tmp/" by chance: search the text around it
            text = re.sub(r'"image/(?:png|jpeg)": "[^"]*"', '"image": ""', f.read_text())
            assert not re.search(r"/(work|home|root|mnt|tmp)/", text), f"{f} holds a machine path"
    for f in (ref / "figures").iterdir():
        assert not reference._is_data_figure(f.stem), f


def test_committed_notebooks_have_valid_unique_cell_ids():
    for f in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nbformat warns (MissingIDFieldWarning) where it must repair ids
            nb = nbformat.reads(f.read_text(), as_version=4)
        ids = [c.get("id") for c in nb.cells]
        assert all(ids) and len(set(ids)) == len(ids), f.name
        assert "parameters" in nb.cells[1].metadata.get("tags", []), f"{f.name}: the parameters cell comes first"


def test_reference_of_a_real_data_run_needs_its_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv(profiles.HOME_ENV, str(tmp_path))
    monkeypatch.delenv("PAPER_REPRO_DATA", raising=False)
    with pytest.raises(ValueError, match="PAPER_REPRO_DATA"):
        reference.write_reference("cpu")
    assert not (tmp_path / reference.REFERENCE_ROOT / "cpu").exists()  # nothing half-written
