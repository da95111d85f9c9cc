"""The ``paper-repro`` command: predict, evaluate, reproduce (papermill), bench registration."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

from paper_repro.cli import main
from paper_repro.data import make_dataloaders, manifest, split
from paper_repro.train import fit, make_learner


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny ReConWave-Net trained for one step on the built-in synthetic set -> final.pt."""
    d = tmp_path_factory.mktemp("ckpt")
    train_df, valid_df = split(manifest("synthetic").iloc[:8], valid_pct=0.5, seed=0)
    dls = make_dataloaders(train_df, valid_df, size=(32, 32), bs=4)
    learn = make_learner("reconwave", dls, model_cfg={"width": 4, "depth": 2, "embed_dim": 8}, ckpt_dir=d,
                         quiet=True, precision="fp32")
    fit(learn, epochs=1, lr=1e-3, max_steps=1)
    return d / "final.pt"


@pytest.fixture(scope="module")
def folder_dataset(tmp_path_factory):
    """Tp/ Gt/ Au/ folder with 3 tampered and 1 authentic 40x56 images."""
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for sub in ("Tp", "Gt", "Au"):
        (root / sub).mkdir()
    for i in range(3):
        mask = np.zeros((40, 56), np.uint8)
        mask[8:24, 16:40] = 255
        Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(root / "Tp" / f"t{i}.png")
        Image.fromarray(mask).save(root / "Gt" / f"t{i}.png")
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(root / "Au" / "a0.png")
    return root


def test_predict_writes_three_maps_at_the_image_size(checkpoint, folder_dataset, tmp_path, capsys):
    image = folder_dataset / "Tp" / "t0.png"
    rc = main(["predict", str(image), "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--size", "32"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "t0.png" in out and "score" in out and "disturbance n/a" in out
    prob = Image.open(tmp_path / "t0_prob.png")
    mask = Image.open(tmp_path / "t0_mask.png")
    overlay = Image.open(tmp_path / "t0_overlay.png")
    assert prob.size == mask.size == overlay.size == (56, 40)  # PIL: (W, H) of the input image
    assert prob.mode == "L" and overlay.mode == "RGB"
    p, m = np.asarray(prob), np.asarray(mask)
    assert set(np.unique(m)) <= {0, 255}
    assert ((p >= 128) == (m == 255)).mean() > 0.99  # the mask is the probability map at 0.5
    # the overlay is the image, blended half-way to red where the mask is set
    img = np.asarray(Image.open(image)).astype(float)
    red = 0.5 * img + 0.5 * np.array([255.0, 0.0, 0.0])
    expected = np.where((m == 255)[..., None], red, img)
    assert np.abs(np.asarray(overlay).astype(float) - expected).max() <= 1.0


def test_predict_averages_the_four_flipped_views_by_default(checkpoint, folder_dataset, tmp_path, capsys):
    """The analyst's command runs the most accurate setting unless told otherwise: ``--tta flips``."""
    image = folder_dataset / "Tp" / "t1.png"
    maps = {}
    for tta in (None, "flips", "none"):
        out = tmp_path / str(tta)
        argv = ["predict", str(image), "--checkpoint", str(checkpoint), "--out", str(out), "--size", "32"]
        assert main(argv + (["--tta", tta] if tta else [])) == 0
        maps[tta] = np.asarray(Image.open(out / "t1_prob.png")).astype(int)
    capsys.readouterr()
    assert np.array_equal(maps[None], maps["flips"])
    assert not np.array_equal(maps["flips"], maps["none"])  # the views differ for an asymmetric photo


def test_predict_bad_inputs_exit_2_with_a_clear_message(checkpoint, tmp_path, capsys):
    rc = main(["predict", str(tmp_path / "nope.jpg"), "--checkpoint", str(checkpoint), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "nope.jpg" in err and "Traceback" not in err
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    rc = main(["predict", str(junk), "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--size", "32"])
    err = capsys.readouterr().err
    assert rc == 2 and "junk.png" in err and "Traceback" not in err
    img = tmp_path / "ok.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img)
    rc = main(["predict", str(img), "--checkpoint", str(tmp_path / "missing.pt")])
    err = capsys.readouterr().err
    assert rc == 2 and "missing.pt" in err
    rc = main(["predict", str(img), "--checkpoint", str(junk)])
    err = capsys.readouterr().err
    assert rc == 2 and "junk.png" in err and "Traceback" not in err


def test_predict_exif_rotated_jpeg_writes_outputs_as_displayed(checkpoint, tmp_path, capsys):
    """A phone JPEG stored 40x64 (H x W) with EXIF Orientation 6 displays as 64x40: the outputs line up with
    PIL.ImageOps.exif_transpose of the input; the analysis ran on the stored grid."""
    from PIL import ImageOps

    rng = np.random.default_rng(3)
    stored = rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)
    stored[:, :8] = 255  # a white band on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    rc = main(["predict", str(path), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o"), "--size", "32"])
    assert rc == 0 and "EXIF orientation 6" in capsys.readouterr().out
    shown = np.asarray(ImageOps.exif_transpose(Image.open(path))).astype(float)
    overlay = Image.open(tmp_path / "o" / "phone_overlay.png")
    assert overlay.size == (40, 64)  # PIL (W, H): as displayed
    m = np.asarray(Image.open(tmp_path / "o" / "phone_mask.png")) == 255
    expected = np.where(m[..., None], 0.5 * shown + 0.5 * np.array([255.0, 0, 0]), shown)
    assert np.abs(np.asarray(overlay).astype(float) - expected).max() <= 1.0


def test_predict_refuses_a_photo_above_the_pixel_limit_naming_the_flag(checkpoint, tmp_path, capsys):
    img = tmp_path / "big.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(img)
    rc = main(["predict", str(img), "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--max-pixels", "1000"])
    err = capsys.readouterr().err
    assert rc == 2 and "--allow-large" in err and "4,096 pixels" in err and "Traceback" not in err
    rc = main(["predict", str(img), "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--max-pixels", "1000",
               "--allow-large", "--size", "32"])
    assert rc == 0 and (tmp_path / "big_mask.png").is_file()


def test_predict_same_names_from_two_folders_and_json(checkpoint, tmp_path, capsys):
    paths = []
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        p = tmp_path / sub / "photo.png"
        Image.fromarray(np.random.default_rng(len(sub)).integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    rc = main(["predict", *paths, "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o"), "--json",
               "--size", "32"])
    assert rc == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in records] == paths
    masks = {r["mask"] for r in records}
    assert len(masks) == 2 and all(Path(m).is_file() for m in masks)  # nothing overwritten
    for r in records:
        assert set(r) >= {"score", "tampered_fraction", "disturbance", "prob", "mask", "overlay"}
        assert 0 <= r["tampered_fraction"] <= 1


def test_evaluate_json_and_sweep_table(checkpoint, folder_dataset, capsys):
    rc = main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "folder", "--root", str(folder_dataset),
               "--json", "--size", "32", "--precision", "fp32"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["n_images"] == 4
    assert 0.0 <= payload["metrics"]["f1"] <= 1.0 and 0.0 <= payload["metrics"]["iou"] <= 1.0
    assert [r["perturbation"] for r in payload["by_perturbation"]] == ["clean"]

    rc = main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "folder", "--root", str(folder_dataset),
               "--sweep", "--size", "32", "--max-images", "2", "--precision", "fp32"])
    out = capsys.readouterr().out
    assert rc == 0 and "brightness" in out and "contrast" in out and "average" in out

    rc = main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "folder", "--root",
               str(folder_dataset / "nothing")])
    err = capsys.readouterr().err
    assert rc == 2 and "nothing" in err


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "paper"\ndata_root = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_reproduce_names_the_failing_cell_and_resumes(tmp_path, capsys):
    nbs, runs, log = tmp_path / "notebooks", tmp_path / "runs", tmp_path / "log.txt"
    nbs.mkdir()
    _notebook(nbs / "01_first.ipynb", [f"open({str(log)!r}, 'a').write('01 ' + profile + '\\n')"])
    _notebook(nbs / "02_second.ipynb", ["x = 1", "raise ValueError('boom in cell two')"])
    args = ["reproduce", "--profile", "smoke", "--notebooks", str(nbs), "--out", str(runs)]

    assert main(args) == 1
    err = capsys.readouterr().err
    # papermill adds an injected-parameters cell, so the raising cell is In [4] of the executed copy
    assert "02_second.ipynb" in err and "In [4]" in err and "boom in cell two" in err
    status = json.loads((runs / "status.json").read_text())
    assert list(status["finished"]) == ["01_first.ipynb"] and status["failed"]["notebook"] == "02_second.ipynb"
    assert log.read_text() == "01 smoke\n"  # the profile parameter was injected
    assert (runs / "02_second.ipynb").is_file()  # executed copy kept for the traceback

    _notebook(nbs / "02_second.ipynb", ["x = 1", "y = x + 1"])  # fixed
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "[skip] 01_first.ipynb" in out and "[run ] 02_second.ipynb" in out
    assert log.read_text() == "01 smoke\n"  # the finished notebook was not rerun
    status = json.loads((runs / "status.json").read_text())
    assert list(status["finished"]) == ["01_first.ipynb", "02_second.ipynb"] and status["failed"] is None

    _notebook(nbs / "03_third.ipynb", [f"open({str(log)!r}, 'a').write('03\\n')"])
    assert main(args) == 0
    assert log.read_text() == "01 smoke\n03\n"
    # --force with --only reruns those notebooks and forgets the later ones, never the earlier ones
    assert main(args + ["--force", "--only", "2"]) == 0
    status = json.loads((runs / "status.json").read_text())
    assert list(status["finished"]) == ["01_first.ipynb", "02_second.ipynb"]
    assert log.read_text() == "01 smoke\n03\n"
    assert main(args) == 0  # resumes with 03 alone
    assert log.read_text() == "01 smoke\n03\n03\n"

    assert main(args + ["--force", "--only", "1"]) == 0
    assert log.read_text() == "01 smoke\n03\n03\n01 smoke\n"
    assert list(json.loads((runs / "status.json").read_text())["finished"]) == ["01_first.ipynb"]


def test_bench_is_registered(capsys):
    import importlib.util

    from paper_repro.cli import build_parser

    args = build_parser().parse_args(["bench", "--profile", "cpu", "--json", "--out", "b.json", "--models", "a", "b"])
    assert (args.profile, args.json, args.out, args.models) == ("cpu", True, "b.json", ["a", "b"])
    if importlib.util.find_spec("paper_repro.bench") is None:
        rc = main(["bench", "--profile", "smoke"])
        assert rc == 2 and "bench.py" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--profile", "nope"])


def test_predict_does_not_import_the_training_stack(checkpoint, tmp_path):
    """``paper-repro predict`` reads the checkpoint and one photo without importing fastai or pandas (start-up)."""
    import subprocess
    import sys

    img = tmp_path / "p.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(img)
    code = ("import sys\nfrom paper_repro.cli import main\n"
            f"rc = main(['predict', {str(img)!r}, '--checkpoint', {str(checkpoint)!r}, '--out', {str(tmp_path / 'o')!r},"
            " '--json'])\n"
            "print('HEAVY', sorted(m for m in ('fastai', 'pandas', 'sklearn', 'papermill') if m in sys.modules), rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY [] 0" in out, out
    assert (tmp_path / "o" / "p_mask.png").is_file()


def test_reproduce_under_a_home_elsewhere_reads_the_checkouts_notebooks(tmp_path, monkeypatch):
    """$PAPER_REPRO_HOME holds outputs only: the notebooks still come from the source checkout."""
    from paper_repro import cli, profiles

    monkeypatch.setenv(profiles.HOME_ENV, str(tmp_path / "home"))
    assert profiles.project_root() == (tmp_path / "home").resolve()
    folder = cli._default_notebooks()
    assert folder == profiles.source_root() / "notebooks" and any(folder.glob("00_*.ipynb"))


def test_executed_notebooks_say_where_and_how_they_ran(tmp_path, monkeypatch):
    from paper_repro import profiles

    monkeypatch.setenv(profiles.HOME_ENV, str(tmp_path / "home"))
    nbs, runs = tmp_path / "notebooks", tmp_path / "runs"
    nbs.mkdir()
    _notebook(nbs / "01_only.ipynb", ["x = 1"])
    assert main(["reproduce", "--profile", "smoke", "--notebooks", str(nbs), "--out", str(runs)]) == 0
    executed = json.loads((runs / "01_only.ipynb").read_text())
    env = executed["metadata"]["paper_repro"]["environment"]
    assert env["device"] in ("cpu", "cuda") and env["precision"] in ("fp32", "bf16", "fp16")
    assert env["torch"] == __import__("torch").__version__
    stamp = [c for c in executed["cells"] if "executed-environment" in c["metadata"].get("tags", [])]
    assert len(stamp) == 1 and f"precision {env['precision']}" in "".join(stamp[0]["source"])
    status = json.loads((runs / "status.json").read_text())
    assert status["environment"] == env and status["finished"]["01_only.ipynb"]["device"] == env["device"]
