"""The ``paper-repro`` command.

- ``paper-repro reproduce --profile smoke``: run ``notebooks/NN_*.ipynb`` in order with papermill
  (parameters ``profile``, ``data_root``); executed copies and ``status.json`` go to ``runs/<profile>/``.
  A rerun resumes from the first unfinished (or edited) notebook; ``--force`` reruns all (with ``--only``: the
  selected ones, and marks the later ones unfinished). A failing notebook stops the run with its name, cell
  and error (exit code 1).
- ``paper-repro evaluate --checkpoint final.pt --dataset casia1 --root DIR [--sweep] [--json]``.
- ``paper-repro predict IMAGE... --checkpoint final.pt [--restorer final.pt] [--out DIR]``: probability map,
  binary mask and overlay PNGs at each image's size, plus the image-level score and disturbance class.
- ``paper-repro bench ...``: see :mod:`paper_repro.bench`.
- ``paper-repro verify --profile cpu``: compare a run's tables and checkpoints with the committed reference run
  (``reference/<profile>/``, :mod:`paper_repro.reference`); also run at the end of ``reproduce``.
- ``paper-repro reference --profile cpu``: copy a finished run into ``reference/<profile>/`` (tables, figures of
  numbers, executed notebooks without dataset pixels, manifest).
- ``paper-repro results [--write-readme]``: the README's Results section, generated from ``reference/cpu/``.

User errors (missing files, unreadable images or checkpoints, unknown datasets) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import time
from pathlib import Path


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit code ``code``."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------------------------------- helpers
def _json_safe(v):
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _load_checkpoint(path, what: str = "checkpoint"):
    """A ``final.pt`` given on the command line -> the model (:func:`paper_repro.models.load`), or a one-line
    error."""
    from .models import load

    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise CliError(f"{what} {p}: file not found")
    try:
        return load(p)
    except (ValueError, KeyError, RuntimeError, TypeError) as e:
        raise CliError(f"{what} {p}: cannot load ({e})") from None


def _model_size(args, model) -> tuple[int, int] | None:
    """``--size N`` -> resize to N x N; default: the checkpoint's profile (``None`` = the image's own size
    when it trained on native-resolution crops, else its training size)."""
    size = args.size
    if size is None:
        prof = (getattr(model, "checkpoint", None) or {}).get("profile") or {}
        if prof.get("size_policy") == "random_crop":
            return None
        size = prof.get("image_size") or 256
    size = int(size)
    if size <= 0 or size % 32:
        raise CliError(f"--size must be a positive multiple of 32 (the models' stride), got {size}")
    return size, size


# ----------------------------------------------------------------------------------------- reproduce
_NB_RE = re.compile(r"^(\d+)_.*\.ipynb$")


def _default_notebooks() -> Path:
    """The source checkout's ``notebooks/`` (never under ``$PAPER_REPRO_HOME``, which holds outputs only)."""
    from .profiles import source_root

    root = source_root()
    if root is None:
        raise CliError("no source checkout holds this installed package, so its notebooks are not here: pass "
                       "--notebooks DIR (the repository's notebooks/ folder)")
    return root / "notebooks"


def execution_environment(profile) -> dict:
    """What a notebook of ``profile`` runs on here: device, the precision its ``precision`` setting resolves to
    there, torch build, CUDA device name, CPU model and torch threads (recorded in each executed notebook's
    metadata and first cell, and in the run's ``status.json``)."""
    import torch

    from . import profiles
    from .reference import cpu_model
    from .train.precision import resolve_precision

    prof = profiles.get(profile)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return {"device": device, "precision": resolve_precision(prof.precision, device),
            "precision_setting": prof.precision, "channels_last": bool(prof.channels_last),
            "torch": torch.__version__, "cuda": torch.version.cuda,
            "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
            "cpu": cpu_model(), "threads": torch.get_num_threads()}


def _stamp_environment(path: Path, env: dict) -> None:
    """Record ``env`` in an executed notebook: ``metadata.paper_repro.environment`` and a markdown cell after the
    title that says it in words."""
    nb = json.loads(path.read_text())
    nb.setdefault("metadata", {}).setdefault("paper_repro", {})["environment"] = env
    where = env["gpu"] if env["device"] == "cuda" else f"{env['cpu']}, {env['threads']} torch threads"
    text = (f"*Executed by `paper-repro reproduce` on {env['device']} ({where}); precision {env['precision']} "
            f"(profile setting `{env['precision_setting']}`), channels-last {'on' if env['channels_last'] else 'off'}; "
            f"torch {env['torch']}" + (f", CUDA {env['cuda']}" if env.get("cuda") else "") + ".*")
    cell = {"cell_type": "markdown", "id": "executed-environment", "metadata": {"tags": ["executed-environment"]},
            "source": [text]}
    cells = [c for c in nb.get("cells", []) if "executed-environment" not in c.get("metadata", {}).get("tags", [])]
    nb["cells"] = cells[:1] + [cell] + cells[1:]
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _notebooks(folder: Path, only) -> list[Path]:
    if not folder.is_dir():
        raise CliError(f"notebooks folder {folder} not found")
    nbs = sorted((p for p in folder.iterdir() if _NB_RE.match(p.name)), key=lambda p: (int(_NB_RE.match(p.name)[1]), p.name))
    if only:
        wanted = {int(x) for x in only}
        nbs = [p for p in nbs if int(_NB_RE.match(p.name)[1]) in wanted]
        found = {int(_NB_RE.match(p.name)[1]) for p in nbs}
        missing = sorted(wanted - found)
        if missing:
            raise CliError(f"--only: no notebook numbered {', '.join(f'{m:02d}' for m in missing)} in {folder}")
    if not nbs:
        raise CliError(f"no NN_*.ipynb notebooks in {folder}")
    return nbs


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_status(path: Path, profile: str) -> dict:
    if path.is_file():
        try:
            st = json.loads(path.read_text())
            if st.get("profile") == profile and isinstance(st.get("finished"), dict):
                return st
        except (ValueError, OSError):
            pass
    return {"profile": profile, "finished": {}, "failed": None}


def _write_status(path: Path, status: dict) -> None:
    from .files import atomic_write

    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(status, indent=2)))


def cmd_reproduce(args) -> int:
    """Run the notebooks in order with papermill, resuming from the first unfinished one."""
    from .profiles import PROFILES, project_root

    if args.profile not in PROFILES:
        raise CliError(f"unknown profile {args.profile!r}; profiles: {', '.join(PROFILES)}")
    folder = Path(args.notebooks) if args.notebooks else _default_notebooks()
    nbs = _notebooks(folder, args.only)
    out = Path(args.out) if args.out else project_root() / "runs" / args.profile
    status_path = out / "status.json"
    status = _read_status(status_path, args.profile)
    if args.force:  # the selected notebooks rerun, and so does every later one (it may read what they write)
        first = min(nb.name for nb in nbs) if nbs else None
        status["finished"] = {k: v for k, v in status["finished"].items() if first is None or k < first}
    data_root = str(Path(args.data_root).expanduser().resolve()) if args.data_root else None
    if data_root is not None:
        if not Path(data_root).is_dir():
            raise CliError(f"--data-root {data_root}: folder not found")
        os.environ["PAPER_REPRO_DATA"] = data_root  # kernels inherit it (paper_repro.config.data_root)

    # resume from the first notebook that is not finished with its current source
    start = 0
    while start < len(nbs):
        rec = status["finished"].get(nbs[start].name)
        if rec is None or rec.get("sha256") != _sha256(nbs[start]):
            break
        start += 1
    for nb in nbs[:start]:
        print(f"[skip] {nb.name} (finished; see {out / nb.name})")
    if start == len(nbs):
        print(f"all {len(nbs)} notebooks already finished for profile {args.profile!r}; use --force to rerun")
        return 0

    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from .reference import git_commit

    if start == 0 or not status.get("commit"):
        from .profiles import source_root

        status["commit"] = git_commit(source_root() or project_root())  # the code the run starts from
    env = execution_environment(args.profile)
    status["environment"] = env

    for nb in nbs[start:]:
        status["finished"].pop(nb.name, None)  # a later notebook reruns after an earlier one did
    for nb in nbs[start:]:
        target = out / nb.name
        out.mkdir(parents=True, exist_ok=True)
        print(f"[run ] {nb.name} -> {target}", flush=True)
        t0 = time.time()
        try:
            # the kernel's own log (a TCP notice at start, a KeyboardInterrupt line at shutdown) is not ours to show:
            # errors in a cell still stop the run with their traceback
            pm.execute_notebook(str(nb), str(target), parameters={"profile": args.profile, "data_root": data_root},
                                cwd=str(folder), progress_bar=False, kernel_name=args.kernel,
                                extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
        except PapermillExecutionError as e:
            status["failed"] = {"notebook": nb.name, "cell_index": e.cell_index, "exec_count": e.exec_count,
                                "ename": e.ename, "evalue": e.evalue, "output": str(target)}
            _write_status(status_path, status)
            print(f"paper-repro reproduce: notebook {nb.name} failed in cell In [{e.exec_count}] (cell "
                  f"{e.cell_index + 1} of the executed copy): {e.ename}: {e.evalue}\n"
                  f"  executed copy with the traceback: {target}\n"
                  f"  fix it and rerun the same command to resume from {nb.name}", file=sys.stderr)
            return 1
        except Exception as e:  # noqa: BLE001 - kernel death, missing kernel, unreadable notebook
            status["failed"] = {"notebook": nb.name, "ename": type(e).__name__, "evalue": str(e), "output": str(target)}
            _write_status(status_path, status)
            print(f"paper-repro reproduce: notebook {nb.name} could not be run: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        _stamp_environment(target, env)
        status["finished"][nb.name] = {"sha256": _sha256(nb), "seconds": round(time.time() - t0, 1),
                                       "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                       "device": env["device"], "precision": env["precision"]}
        status["failed"] = None
        _write_status(status_path, status)
        print(f"[done] {nb.name} in {time.time() - t0:.1f}s", flush=True)
    print(f"all {len(nbs)} notebooks finished for profile {args.profile!r}; executed copies in {out}")
    from .reference import REFERENCE_ROOT, verify

    if args.notebooks is None and (project_root() / REFERENCE_ROOT / args.profile / "manifest.json").is_file():
        return verify(args.profile)
    return 0


def cmd_verify(args) -> int:
    """Compare this run of a profile with its committed reference run."""
    from .reference import verify

    return verify(args.profile, reference=args.reference, atol=args.atol, rtol=args.rtol)


def cmd_reference(args) -> int:
    """Copy a finished run into the reference folder."""
    from .profiles import project_root
    from .reference import write_reference

    status = project_root() / "runs" / args.profile / "status.json"
    if not status.is_file():
        raise CliError(f"no finished run of profile {args.profile!r} ({status} not found): run "
                       f"`paper-repro reproduce --profile {args.profile}` first")
    dest = write_reference(args.profile, dest=args.out, note=args.note)
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    print(f"reference run of {args.profile!r} written to {dest} ({size / 1e6:.1f} MB)")
    return 0


def cmd_results(args) -> int:
    """Print the README's Results section generated from a reference folder, or write it into the README."""
    from .profiles import project_root
    from .reference import REFERENCE_ROOT, update_readme, results_markdown

    ref = Path(args.reference) if args.reference else project_root() / REFERENCE_ROOT / "cpu"
    if not (ref / "manifest.json").is_file():
        raise CliError(f"{ref}: not a reference run (no manifest.json)")
    if args.redraw_figures:
        from .report import redraw

        for path in redraw(ref / "tables", ref / "figures"):
            print(f"redrawn: {path}")
    if args.write_readme:
        readme = project_root() / "README.md"
        current, generated = update_readme(readme, ref, write=True)
        print(f"{readme}: Results section {'unchanged' if current == generated else 'rewritten'}")
    else:
        print(results_markdown(ref), end="")
    return 0


# ------------------------------------------------------------------------------------------ evaluate
def cmd_evaluate(args) -> int:
    """Metrics of a checkpoint on a dataset (clean, or the brightness/contrast sweep)."""
    from . import profiles
    from .data import DatasetError, manifest
    from .evaluate import evaluate, sweep, sweep_table
    from .metrics import summarize

    model = _load_checkpoint(args.checkpoint)
    restorer = _load_checkpoint(args.restorer, "restorer checkpoint")
    size = _model_size(args, model)
    try:
        df = manifest(args.dataset, args.root)
    except (DatasetError, KeyError) as e:
        raise CliError(str(e).strip("'\"")) from None
    kw = dict(size=size, restorer=restorer, batch_size=args.batch_size, max_images=args.max_images,
              progress=not args.json and sys.stderr.isatty(), precision=args.precision, device=args.device)
    if args.sweep:
        prof = profiles.get(args.profile)
        res = sweep(model, df, prof.alphas, prof.betas, **kw)
        table = sweep_table(res)
    else:
        res = evaluate(model, df, **kw)
        table = None
    overall = summarize(res, by="perturbation")
    if args.json:
        payload = {"checkpoint": str(args.checkpoint), "dataset": args.dataset, "root": str(args.root),
                   "size": None if size is None else list(size), "n_images": int(res["image"].nunique()),
                   "metrics": _json_safe(overall.loc["clean"].to_dict()) if "clean" in overall.index else None,
                   "by_perturbation": [
                       _json_safe({"perturbation": p, "level": (None if lv != lv else lv), **g[["f1", "iou", "auc"]].mean().to_dict()})
                       for (p, lv), g in res.groupby(["perturbation", "level"], dropna=False, sort=False)]}
        print(json.dumps(payload, indent=2))
    else:
        import pandas as pd

        with pd.option_context("display.width", 160, "display.max_columns", 50, "display.float_format", "{:.4f}".format):
            at = "their own size" if size is None else f"{size[0]}x{size[1]}"
            print(f"{args.checkpoint} on {args.dataset} ({res['image'].nunique()} images at {at})")
            print(overall.to_string())
            if table is not None:
                print()
                print(table.to_string())
    return 0


# ------------------------------------------------------------------------------------------- predict
#: ``predict`` refuses photos above this many pixels unless ``--allow-large`` (decompression bombs).
PREDICT_MAX_PIXELS = 100_000_000


def _output_stems(paths: list[Path]) -> list[str]:
    """One output stem per input: the file stem, prefixed by as many parent folders as it takes to make
    inputs with the same name from different folders distinct."""
    stems = [p.stem for p in paths]
    depth = 0
    while len(set(stems)) < len(stems) and depth < 8:
        depth += 1
        stems = ["__".join([*p.parent.parts[-depth:], p.stem]).replace(":", "") for p in paths]
    return stems


def _exif_orientation(path: Path) -> int:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - no EXIF: stored orientation
        return 1


def _to_display(arr, orientation: int):
    """An array in the stored pixel grid -> as a viewer shows it (EXIF orientation 1-8, as
    ``PIL.ImageOps.exif_transpose``)."""
    import numpy as np

    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: np.swapaxes(a, 0, 1), 6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
           7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1], 8: lambda a: np.swapaxes(a, 0, 1)[::-1]}
    return np.ascontiguousarray(ops[orientation](arr)) if orientation in ops else arr


def cmd_predict(args) -> int:
    """Probability map, mask and overlay PNGs for each image, at the image's own size.

    The stored pixel grid is analysed (it carries the JPEG traces); the maps are written in the orientation
    a viewer displays (EXIF orientation applied). Photos above ``--max-pixels`` are refused unless
    ``--allow-large``; large photos are predicted in tiles by :func:`paper_repro.inference.infer`."""
    import numpy as np
    import torch
    from PIL import Image

    from .data import DatasetError, image_size, read_image
    from .inference import infer
    from .metrics import image_level_score
    from .perturb import DISTURBANCE_CLASSES

    paths = [Path(p) for p in args.images]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise CliError(f"image not found: {', '.join(str(m) for m in missing)}")
    limit = int(args.max_pixels)
    if not args.allow_large:
        for p in paths:
            try:
                h, w = image_size(p)
            except DatasetError as e:
                raise CliError(f"cannot read image {p}: {e}") from None
            if h * w > limit:
                raise CliError(f"{p}: {w}x{h} = {h * w:,} pixels is above the limit of {limit:,} "
                               f"(a decompression bomb guard); pass --allow-large to analyse it anyway, "
                               f"or raise --max-pixels")
    model = _load_checkpoint(args.checkpoint)
    restorer = _load_checkpoint(args.restorer, "restorer checkpoint")
    size = _model_size(args, model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.allow_large:
        Image.MAX_IMAGE_PIXELS = None  # PIL's own bomb guard would refuse what the user allowed
    records = []
    for path, stem in zip(paths, _output_stems(paths)):
        try:
            img = read_image(path)
        except DatasetError as e:
            raise CliError(f"cannot read image {path}: {e}") from None
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
        out_maps = infer(model, x, restorer=restorer, size=size, progress=sys.stderr.isatty() and not args.json,
                         tta=args.tta)
        prob = out_maps["prob"][0, 0].clamp(0, 1).numpy()
        decided = out_maps["disturbance"]
        disturbance = "n/a" if decided is None else DISTURBANCE_CLASSES[int(decided[0])]
        score = float(image_level_score(prob))
        mask = prob > 0.5
        orientation = _exif_orientation(path)
        overlay = img.copy()
        overlay[mask] = 0.5 * overlay[mask] + 0.5 * np.array([1.0, 0.0, 0.0], dtype=np.float32)
        files = {}
        for kind, arr in (("prob", np.round(prob * 255).astype(np.uint8)), ("mask", mask.astype(np.uint8) * 255),
                          ("overlay", np.round(overlay * 255).astype(np.uint8))):
            files[kind] = out / f"{stem}_{kind}.png"
            Image.fromarray(_to_display(arr, orientation)).save(files[kind])
        rec = {"image": str(path), "score": round(score, 6), "tampered_fraction": round(float(mask.mean()), 6),
               "disturbance": disturbance, "exif_orientation": orientation,
               "size": None if size is None else list(size), **{k: str(v) for k, v in files.items()}}
        records.append(rec)
        if not args.json:
            turned = f"  (EXIF orientation {orientation}: outputs as displayed)" if orientation != 1 else ""
            print(f"{path}: score {score:.4f}  tampered pixels {mask.mean() * 100:.1f}%  disturbance {disturbance}  "
                  f"-> {out / (stem + '_{prob,mask,overlay}.png')}{turned}")
    if args.json:
        print(json.dumps(records, indent=1))
    return 0


# --------------------------------------------------------------------------------------------- train
def cmd_train(args) -> int:
    """Train one named run of a profile (cached like the notebooks' runs); one process or many under
    ``torchrun`` / ``accelerate launch`` (DDP, only rank 0 writes checkpoints)."""
    from fastai.torch_core import num_distrib, rank_distrib

    from . import experiments as E

    if args.run not in E.RUNS:
        raise CliError(f"unknown run {args.run!r}; runs: {', '.join(E.RUNS)}")
    overrides = {}
    if args.checkpoints:
        overrides["checkpoints_dir"] = args.checkpoints
    run = E.RUNS[args.run]
    if args.max_steps is not None:
        overrides["max_steps"] = {run.stage: args.max_steps, args.run: args.max_steps}
    if args.epochs is not None:
        overrides["epochs"] = {run.stage: args.epochs, args.run: args.epochs}
    if args.image_size is not None:
        overrides["image_size"] = args.image_size
    prof = E.profile_for(args.profile, args.data_root, **overrides)
    trace = None
    if args.trace or args.stop_after:
        trace = _BatchTrace(Path(args.trace) if args.trace else None, rank_distrib(), args.stop_after)
        trace.install()
    try:
        final = E.checkpoint(prof, args.run)
    finally:
        if trace is not None:
            trace.write()
    if rank_distrib() == 0:
        print(f"{args.run}: {final}" + (f" ({num_distrib()} processes)" if num_distrib() > 1 else ""))
    return 0


class _BatchTrace:
    """``--trace DIR``: per rank, what each training batch held (a flip-invariant signature per image: its
    pixel sum) and the final weights, written to ``DIR/rank<r>.pt``; for checking a distributed run."""

    def __init__(self, folder: Path | None, rank: int, stop_after: int | None = None):
        self.folder, self.rank, self.seen, self.learn = folder, rank, [], None
        self.stop_after, self.batches = stop_after, 0

    def install(self):
        from fastai.callback.core import Callback
        from fastai.learner import Learner

        trace = self

        class Record(Callback):
            order = 99

            def before_batch(self):
                if self.training:
                    trace.seen += [round(float(v), 2) for v in self.xb[0].float().sum(dim=(1, 2, 3))]

            def after_batch(self):
                if self.training:
                    trace.batches += 1
                    if trace.stop_after and trace.batches >= trace.stop_after:
                        raise KeyboardInterrupt(f"--stop-after {trace.stop_after}: simulated interruption")

        original = Learner.fit

        def fit(learn, *a, **k):
            trace.learn = learn
            learn.add_cb(Record())
            return original(learn, *a, **k)

        Learner.fit = fit

    def write(self):
        import torch
        from fastai.torch_core import get_model

        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        state = {} if self.learn is None else {k: v.detach().cpu() for k, v in
                                               get_model(self.learn.model).state_dict().items()}
        torch.save({"rank": self.rank, "seen": self.seen, "state_dict": state}, self.folder / f"rank{self.rank}.pt")


# --------------------------------------------------------------------------------------------- bench
def cmd_bench(args) -> int:
    """Delegate to :func:`paper_repro.bench.main` (written separately)."""
    try:
        from . import bench
    except ModuleNotFoundError as e:
        if e.name in ("paper_repro.bench", f"{__package__}.bench"):
            raise CliError("the bench command is not available: paper_repro/bench.py does not exist in this "
                           "installation yet") from None
        raise
    return int(bench.main(args) or 0)


# -------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from .profiles import PROFILES

    p = argparse.ArgumentParser(prog="paper-repro", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("reproduce", help="run the notebooks in order with papermill (resumable)")
    r.add_argument("--profile", default="smoke", choices=PROFILES)
    r.add_argument("--data-root", help="real-data root (else $PAPER_REPRO_DATA)")
    r.add_argument("--only", nargs="+", metavar="NN", help="run only these notebook numbers")
    r.add_argument("--notebooks", help="notebooks folder (default: the source checkout's notebooks/, also when "
                   "$PAPER_REPRO_HOME points the outputs elsewhere)")
    r.add_argument("--out", help="executed copies + status.json (default: runs/<profile>/)")
    r.add_argument("--force", action="store_true", help="rerun finished notebooks too (with --only: those, and "
                   "mark every later one unfinished)")
    r.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    r.set_defaults(func=cmd_reproduce)

    e = sub.add_parser("evaluate", help="metrics of a checkpoint on a dataset")
    e.add_argument("--checkpoint", required=True, help="final.pt written by paper_repro.train.fit")
    e.add_argument("--dataset", required=True, help="dataset adapter name (casia1, coverage, folder, synthetic, ...)")
    e.add_argument("--root", default=None, help="dataset folder (default: $PAPER_REPRO_DATA/<dataset>)")
    e.add_argument("--restorer", default=None, help="restorer final.pt applied before the detector")
    e.add_argument("--sweep", action="store_true", help="brightness/contrast sweep (the profile's alphas/betas)")
    e.add_argument("--profile", default="smoke", choices=PROFILES, help="where the sweep levels come from")
    e.add_argument("--json", action="store_true", help="print JSON instead of tables")
    e.add_argument("--size", type=int, default=None, help="model input size (default: the checkpoint's profile)")
    e.add_argument("--max-images", type=int, default=None)
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    e.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    e.set_defaults(func=cmd_evaluate)

    d = sub.add_parser("predict", help="tampering maps for images")
    d.add_argument("images", nargs="+", metavar="IMAGE")
    d.add_argument("--checkpoint", required=True, help="detector final.pt")
    d.add_argument("--restorer", default=None, help="restorer final.pt (reports the disturbance class)")
    d.add_argument("--out", default="predictions", help="output folder (default: ./predictions)")
    d.add_argument("--size", type=int, default=None,
                   help="resize to SIZE x SIZE for the model (default: the checkpoint's profile: the photo's own "
                        "size for models trained on native-resolution crops)")
    d.add_argument("--json", action="store_true", help="print one JSON record per image (score, tampered "
                   "fraction, disturbance class, output paths) instead of text")
    d.add_argument("--max-pixels", type=int, default=PREDICT_MAX_PIXELS,
                   help=f"refuse photos above this many pixels (default {PREDICT_MAX_PIXELS:,})")
    d.add_argument("--allow-large", action="store_true", help="analyse photos above --max-pixels (tiled)")
    d.add_argument("--tta", default="flips", choices=("none", "hflip", "flips"),
                   help="test-time augmentation: flips (default) averages the maps of the photo and of its three "
                        "flipped copies (four forward passes: on held-out CASIA v1 the cpu model's F1 0.504 vs "
                        "0.491, AUC 0.883 vs 0.864); hflip the photo and its mirror image; none one pass, "
                        "2.5x faster")
    d.set_defaults(func=cmd_predict)

    t = sub.add_parser("train", help="train one named run (DDP under torchrun / accelerate launch)")
    t.add_argument("--profile", default="smoke", choices=PROFILES)
    t.add_argument("run", nargs="?", default="reconwave",
                   help="a run of paper_repro.experiments.RUNS (default reconwave)")
    t.add_argument("--data-root", help="real-data root (else $PAPER_REPRO_DATA)")
    t.add_argument("--checkpoints", help="checkpoints folder (default: checkpoints/<profile>/)")
    t.add_argument("--max-steps", type=int, default=None, help="override the run's step budget")
    t.add_argument("--epochs", type=int, default=None, help="override the run's epochs")
    t.add_argument("--image-size", type=int, default=None, help="override the profile's image size")
    t.add_argument("--trace", default=None, help="write each rank's batch signatures and final weights here")
    t.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="interrupt training after N batches, as a kill would (to check that a rerun resumes)")
    t.set_defaults(func=cmd_train)

    v = sub.add_parser("verify", help="compare a run with the committed reference run")
    v.add_argument("--profile", default="cpu", choices=PROFILES)
    v.add_argument("--reference", default=None, help="reference folder (default: reference/<profile>/)")
    v.add_argument("--atol", type=float, default=0.02, help="absolute tolerance per table cell (default 0.02)")
    v.add_argument("--rtol", type=float, default=0.02, help="relative tolerance per table cell (default 0.02)")
    v.set_defaults(func=cmd_verify)

    f = sub.add_parser("reference", help="copy a finished run into reference/<profile>/")
    f.add_argument("--profile", default="cpu", choices=PROFILES)
    f.add_argument("--out", default=None, help="destination (default: reference/<profile>/)")
    f.add_argument("--note", default=None, help="a sentence for the manifest (e.g. how the run was resumed)")
    f.set_defaults(func=cmd_reference)

    s = sub.add_parser("results", help="the README's Results section, from a reference run")
    s.add_argument("--reference", default=None, help="reference folder (default: reference/cpu/)")
    s.add_argument("--write-readme", action="store_true", help="write it into README.md between its marks")
    s.add_argument("--redraw-figures", action="store_true", help="draw the figures of report.TABLE_FIGURES again "
                   "from the reference's tables (no retraining)")
    s.set_defaults(func=cmd_results)

    b = sub.add_parser("bench", help="speed / memory benchmark (paper_repro.bench)")
    b.add_argument("--profile", default="smoke", choices=PROFILES)
    b.add_argument("--json", action="store_true", help="print the records as JSON")
    b.add_argument("--out", default=None, help="append the records to this CSV file")
    b.add_argument("--models", nargs="+", default=None, help="models to measure (space- or comma-separated)")
    b.add_argument("--quick", action="store_true", help="smallest run with every measure")
    b.add_argument("--device", default=None, help="cpu or cuda (default: the GPU when there is one)")
    b.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv=None) -> int:
    import warnings

    # a third-party import (torch.jit.script in a dependency) warns on every run; nothing for a user to act on
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CliError as e:
        print(f"paper-repro {args.command}: error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print(f"paper-repro {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
