"""Dataset adapters: ``manifest(name, root)`` -> one row per image, whatever the published layout.

Every adapter returns a :class:`pandas.DataFrame` with columns

``image`` (str), ``mask`` (str or None for authentic), ``label`` (1 tampered / 0 authentic), ``dataset``,
``manipulation`` ("copy-move" / "splicing" / "removal" / None when unknown), ``has_mask``, and the per-row
fix-ups :func:`paper_repro.data.io.read_pair` applies: ``mask_fix`` ("transpose" / "crop" / "resize" /
None), ``mask_kind`` (None or "columbia_edgemask"), ``mask_invert`` (bool), plus ``note`` (how the row was
paired) and ``sources``: the ids of the source photos an image was made from, ``";"``-joined (CASIA v1:
``pla0005;pla0023`` for ``Sp_D_CND_A_pla0005_pla0023_0281``, ``pla0005`` for ``Au_pla_0005``; COVERAGE: the
pair number), or None where the file names do not say; :func:`paper_repro.data.group_split` keeps every
source photo on one side of a split. ``df.attrs["report"]`` lists in words what the adapter did (renames, reclassifications, transposed
masks, images without mask, size fixes...), ``df.attrs["problems"]`` what it could not resolve.

Layouts follow the datasets' own distributions (see each adapter's docstring); a missing or wrong folder
raises :class:`~paper_repro.data.io.DatasetError` that says which layout was expected.
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from PIL import Image

from ..registry import Registry
from .io import DatasetError, is_missing, image_size, read_pair

__all__ = ["manifest", "available_datasets", "register_dataset", "AdapterContext", "image_row", "scan", "COLUMNS",
           "DATASETS"]

COLUMNS = ["image", "mask", "label", "dataset", "manipulation", "has_mask", "mask_fix", "mask_kind",
           "mask_invert", "note", "sources"]
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".gif", ".webp"}

#: dataset name -> adapter ``fn(root, ctx, **kwargs) -> list[dict]`` (metadata: ``layout``)
DATASETS = Registry("dataset")


class AdapterContext:
    """What an adapter is given beside its root: its dataset ``name``, and two lists it fills: ``report``
    (what it did, in words) and ``problems`` (what it could not resolve)."""

    def __init__(self, name: str, root: Path | None):
        self.name, self.root = name, root
        self.report: list[str] = []
        self.problems: list[str] = []


def register_dataset(name: str, layout: str):
    """Decorator: ``fn(root: Path | None, ctx: AdapterContext, **kwargs) -> list[dict]`` (rows from
    :func:`image_row`) is the adapter of dataset ``name``; ``layout`` says in words what folder it expects
    (quoted in every layout error). :func:`manifest` then accepts ``name``."""

    def deco(fn):
        DATASETS.register(name, fn, layout=layout)
        fn.layout = layout
        return fn
    return deco


def available_datasets() -> list[str]:
    """Names accepted by :func:`manifest`."""
    return sorted(DATASETS)


# ------------------------------------------------------------------------------------------- helpers
def _images_in(folder: Path, recursive: bool = False) -> list[Path]:
    if folder is None or not folder.is_dir():
        return []
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_EXTS
                  and not p.name.startswith("."))


def _subdir(root: Path, *names: str) -> Path | None:
    """First child of ``root`` whose name equals one of ``names`` (case-insensitive)."""
    if not root.is_dir():
        return None
    children = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    for n in names:
        if n.lower() in children:
            return children[n.lower()]
    return None


def _descend(root: Path, ok: Callable[[Path], bool], max_depth: int = 2) -> Path | None:
    """``root`` if it has the layout, else the unique sub-folder (up to ``max_depth``) that has it."""
    if ok(root):
        return root
    frontier = [root]
    for _ in range(max_depth):
        nxt = []
        for d in frontier:
            try:
                nxt += [p for p in d.iterdir() if p.is_dir()]
            except OSError:
                continue
        hits = [p for p in nxt if ok(p)]
        if len(hits) == 1:
            return hits[0]
        frontier = nxt
    return None


def _layout_error(ctx: AdapterContext, root: Path, detail: str) -> DatasetError:
    layout = DATASETS.meta(ctx.name)["layout"]
    return DatasetError(f"{ctx.name}: {detail} in {root}. Expected layout: {layout}")


def image_row(image, mask=None, label=None, manipulation=None, **extra) -> dict:
    """One manifest row (an adapter returns a list of them): ``label`` defaults to 1 when there is a mask;
    ``extra`` adds columns such as ``sources`` or ``note``."""
    has_mask = mask is not None
    return {"image": str(image), "mask": None if mask is None else str(mask),
            "label": int(label if label is not None else has_mask), "manipulation": manipulation,
            "has_mask": has_mask, "mask_fix": None, "mask_kind": None, "mask_invert": False,
            "note": None, **extra}


def _mask_for(stem: str, masks: dict[str, Path], suffixes=("", "_gt", "_mask", "-gt", "-mask")):
    for suf in suffixes:
        if stem + suf in masks:
            return masks[stem + suf]
    return None


def _resolve_sizes(rows: list[dict], ctx: AdapterContext, rule: str = "transpose", tol: float = 0.05) -> None:
    """Compare image / mask sizes (headers only) and record a ``mask_fix`` per row.

    rule ``"transpose"``: only a mask of transposed size is fixed (``mask_fix="transpose"``).
    rule ``"auto"`` (COVERAGE): transposed -> transpose; both sides within ``tol`` (relative) or the mask
    larger on both sides -> ``"crop"`` (crop / pad anchored top-left); otherwise nearest-neighbour
    ``"resize"``. rule ``"strict"``: nothing is fixed. Unfixed mismatches go to ``ctx.problems``.
    """
    modes: Counter = Counter()
    for r in rows:
        if r.get("mask") is None:
            continue
        try:
            ih, iw = image_size(r["image"])
            try:
                with Image.open(r["mask"]) as im:
                    (mw, mh), mode = im.size, im.mode
            except Exception:  # noqa: BLE001 - PIL cannot parse it: tifffile header
                (mh, mw), mode = image_size(r["mask"]), "tifffile"
        except DatasetError as err:
            ctx.problems.append(str(err))
            continue
        modes[mode] += 1
        if (mh, mw) == (ih, iw):
            continue
        fix = None
        if rule in ("transpose", "auto") and (mh, mw) == (iw, ih):
            fix = "transpose"
        elif rule == "auto":
            close = abs(mh - ih) <= tol * ih and abs(mw - iw) <= tol * iw
            fix = "crop" if close or (mh >= ih and mw >= iw) else "resize"
        what = (f"{Path(r['mask']).name}: mask {mw}x{mh} vs image {Path(r['image']).name} {iw}x{ih} (WxH)")
        if fix is None:
            ctx.problems.append(f"{what}: size mismatch, no rule applies (rule={rule!r})")
        else:
            r["mask_fix"] = fix
            ctx.report.append(f"{what} -> mask_fix={fix}")
    if modes:
        ctx.report.append("mask file modes: " + ", ".join(f"{k} {v}" for k, v in sorted(modes.items())))


def _finish(rows: list[dict], ctx: AdapterContext) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in df.columns:
            df[c] = None
    if len(df):
        df["dataset"] = ctx.name
        df = df[COLUMNS + [c for c in df.columns if c not in COLUMNS]]
        df = df.astype(object).where(df.notna(), None)
        df["label"] = df["label"].astype(int)
        df["has_mask"] = df["has_mask"].astype(bool)
        df["mask_invert"] = df["mask_invert"].astype(bool)
    n_t, n_a = int((df["label"] == 1).sum()) if len(df) else 0, int((df["label"] == 0).sum()) if len(df) else 0
    ctx.report.insert(0, f"{ctx.name}: {len(df)} rows ({n_t} tampered, {n_a} authentic) from {ctx.root}")
    df = df.reset_index(drop=True)
    df.attrs["report"] = list(ctx.report)
    df.attrs["problems"] = list(ctx.problems)
    df.attrs["dataset"] = ctx.name
    return df


# ----------------------------------------------------------------------------------------- manifest
def manifest(name: str, root: str | os.PathLike | None = None, **kwargs: Any) -> pd.DataFrame:
    """Build the manifest of dataset ``name`` found at ``root`` (see :func:`available_datasets`).

    ``root=None`` means ``paper_repro.config.data_root() / name`` (``$PAPER_REPRO_DATA``), or for
    ``"synthetic"`` the built-in default set. Extra keyword arguments go to the adapter.
    """
    fn, layout = DATASETS[name], DATASETS.meta(name)["layout"]
    if root is None and name != "synthetic":
        from ..config import data_root

        base = data_root()
        if base is None or not (base / name).exists():
            raise DatasetError(
                f"{name}: no root given and {'$PAPER_REPRO_DATA is unset' if base is None else f'{base / name} does not exist'}"
                f"; pass root=... Expected layout: {layout}")
        root = base / name
    ctx = AdapterContext(name, None if root is None else Path(root).expanduser())
    if root is not None:
        p = ctx.root
        if not p.exists():
            raise DatasetError(f"{name}: root {p} does not exist. Expected layout: {layout}")
        if name != "benco-json" and not p.is_dir():
            raise DatasetError(f"{name}: root {p} is not a folder. Expected layout: {layout}")
        if p.is_dir() and not any(p.iterdir()):
            raise DatasetError(f"{name}: root folder {p} is empty. Expected layout: {layout}")
    rows = fn(ctx.root, ctx, **kwargs)
    if not rows:
        raise _layout_error(ctx, ctx.root, "no images found")
    return _finish(rows, ctx)


# --------------------------------------------------------------------------------------------- CASIA
_CASIA_RE = re.compile(r"^Sp_([SD])_([A-Za-z]{3})_([A-Za-z])_([A-Za-z]{3}\d+)_([A-Za-z]{3}\d+)_(\d+)$")


def _casia_parse(stem: str):
    """Fields of a CASIA v1 tampered name, tolerating '.' instead of '_' before the serial."""
    fixed = re.sub(r"\.(\d+)$", r"_\1", stem)
    m = _CASIA_RE.match(fixed)
    return None if m is None else m.groups()  # (S/D, code, field4, id1, id2, serial)


def _casia_corrections(gt: Path, ctx: AdapterContext) -> tuple[dict[str, str], list[str]]:
    """Read ``FileNameCorrection.xlsx`` -> ({original stem: corrected stem}, free-text notes)."""
    files = sorted(p for p in gt.glob("*.xls*") if "correction" in p.name.lower()) if gt else []
    if not files:
        ctx.report.append("no FileNameCorrection.xlsx found: pairing by names only")
        return {}, []
    renames: dict[str, str] = {}
    notes: list[str] = []
    fname = re.compile(r"^Sp_\S+\.(jpg|jpeg|png|tif|bmp)$", re.I)
    try:
        sheets = pd.read_excel(files[0], sheet_name=None, header=None, dtype=str)
    except Exception as err:  # noqa: BLE001
        ctx.problems.append(f"{files[0]}: cannot read correction sheet ({err}); pairing by names only")
        return {}, []
    for sheet in sheets.values():
        cells = sheet.fillna("").astype(str).map(str.strip)
        col_orig = col_corr = None
        for _, row in cells.iterrows():  # header row: 'Original file name' / 'Corrected file name'
            low = [c.lower() for c in row]
            o = [i for i, c in enumerate(low) if c.startswith("original")]
            k = [i for i, c in enumerate(low) if c.startswith("corrected")]
            if o and k:
                col_orig, col_corr = o[0], k[0]
                break
        for _, row in cells.iterrows():
            vals = list(row)
            if col_orig is not None:
                pair = [vals[col_orig], vals[col_corr]]
            else:  # no header: first two bare file names of the row
                pair = [v for v in vals if fname.match(v)][:2]
            if len(pair) == 2 and all(fname.match(v) for v in pair):
                renames[Path(pair[0]).stem] = Path(pair[1]).stem
            notes += [v for v in vals if len(v) > 40 and " " in v and not v.lower().startswith(("ren ", "move "))]
    ctx.report.append(f"{files[0].name}: {len(renames)} renames / reclassifications read")
    return renames, notes


@register_dataset("casia1", "root/Au/*.jpg (authentic), root/Sp/*.jpg (tampered), "
          "'root/CASIA 1.0 groundtruth/{CM,Sp}/<stem>_gt.png' masks, optional FileNameCorrection.xlsx")
def _casia1(root: Path, ctx: AdapterContext, include_maskless: bool = False) -> list[dict]:
    """CASIA v1.0 (Dong et al., ChinaSIP 2013) with the Pham et al. (Symmetry 2019) ground truth.

    Pairing, in order, each mask used once: (1) exact stem; (2) ``FileNameCorrection.xlsx`` rename;
    (3) same key (S/D ignored): type code, 4th field (A/R/C/T), serial and the *unordered* pair of source
    ids -- covers masks naming the ids in the other order, '.'-before-serial names and unlisted S/D
    reclassifications; serials alone are not unique (e.g. ``txt0001`` exists as C, R and T); (4) same
    code, 4th field and serial with one source id in common (one mistyped id). A step (3)/(4) match is
    only taken when it is unambiguous both ways. Every non-exact match is reported.
    ``manipulation`` comes from the mask folder (CM -> copy-move, Sp -> splicing), i.e. after the
    corrections. Tampered images without mask are reported and excluded, or kept with
    ``has_mask=False`` when ``include_maskless=True``. A mask of transposed size gets
    ``mask_fix="transpose"``.
    """
    ok = lambda d: _subdir(d, "Sp") is not None and _subdir(d, "Au") is not None  # noqa: E731
    base = _descend(root, ok)
    if base is None:
        raise _layout_error(ctx, root, "folders 'Au/' and 'Sp/' not found")
    au, sp = _subdir(base, "Au"), _subdir(base, "Sp")
    gt = next((p for p in sorted(base.iterdir()) if p.is_dir() and "groundtruth" in p.name.lower()
               .replace(" ", "").replace("_", "")), None)
    if gt is None or (_subdir(gt, "CM") is None and _subdir(gt, "Sp") is None):
        raise _layout_error(ctx, base, "ground-truth folder 'CASIA 1.0 groundtruth/{CM,Sp}/' not found")
    tampered, authentic = _images_in(sp), _images_in(au)
    if not tampered:
        raise _layout_error(ctx, base, f"no images in {sp}")

    masks: dict[str, tuple[str, Path]] = {}
    for folder, manip in (("CM", "copy-move"), ("Sp", "splicing")):
        d = _subdir(gt, folder)
        for p in _images_in(d):
            stem = re.sub(r"_gt$", "", p.stem, flags=re.I)
            if stem in masks:
                ctx.problems.append(f"mask {p} duplicates {masks[stem][1]}")
                continue
            masks[stem] = (manip, p)
    # cross-check the published lists
    for lst in sorted(gt.glob("*groundtruth_list*.txt")):
        listed = {re.sub(r"_gt$", "", Path(line.strip()).stem, flags=re.I)
                  for line in lst.read_text(errors="replace").splitlines() if line.strip()}
        missing = sorted(listed - set(masks))
        ctx.report.append(f"{lst.name}: {len(listed)} masks listed"
                          + (f", {len(missing)} not on disk: {missing[:5]}" if missing else ", all on disk"))

    renames, notes = _casia_corrections(gt, ctx)
    img_stems = {p.stem: p for p in tampered}
    match: dict[str, tuple[str, str]] = {}  # image stem -> (mask stem, how)
    free = set(masks)
    for s in img_stems:  # (1) exact
        if s in free:
            match[s] = (s, "exact")
            free.discard(s)
    for s in img_stems:  # (2) correction sheet
        if s in match or s not in renames:
            continue
        c = renames[s]
        if c in free:
            match[s] = (c, f"renamed per correction sheet to {c}")
            free.discard(c)

    def key_of(stem, loose):
        f = _casia_parse(stem)
        if f is None:
            return None
        _, code, f4, a, b, serial = f
        return (code.upper(), f4.upper(), serial) if loose else (code.upper(), f4.upper(), serial,
                                                                  frozenset((a.lower(), b.lower())))

    for loose in (False, True):  # (3) key match, (4) loose key match
        cand: dict[str, list[str]] = {}
        for s in img_stems:
            if s in match:
                continue
            name = renames.get(s, s)
            k = key_of(name, loose)
            if k is None:
                continue
            ids = set(x.lower() for x in _casia_parse(name)[3:5])
            cand[s] = [m for m in free if key_of(m, loose) == k
                       and (not loose or ids & set(x.lower() for x in _casia_parse(m)[3:5]))]
        claims = Counter(m for v in cand.values() for m in v)
        for s, ms in cand.items():
            if len(ms) == 1 and claims[ms[0]] == 1:
                m = ms[0]
                fi, fm = _casia_parse(renames.get(s, s)), _casia_parse(m)
                why = []
                if re.search(r"\.\d+$", s):
                    why.append("image name has '.' before the serial")
                if loose:
                    why.append(f"source ids differ ({fi[3]}_{fi[4]} vs {fm[3]}_{fm[4]})")
                elif (fi[3].lower(), fi[4].lower()) != (fm[3].lower(), fm[4].lower()):
                    why.append("mask names the two source ids in the other order")
                if fi[0] != fm[0]:
                    why.append(f"S/D field differs ({fi[0]} vs {fm[0]})")
                if s in renames:
                    why.insert(0, f"correction sheet renames it to {renames[s]}")
                match[s] = (m, "; ".join(why) or "same key")
                free.discard(m)
            elif len(ms) > 1 or (len(ms) == 1 and claims[ms[0]] > 1):
                ctx.problems.append(f"{s}: ambiguous mask candidates {sorted(ms)}")

    rows: list[dict] = []
    details: list[str] = []
    counts = Counter()
    for s, p in img_stems.items():
        if s not in match:
            hint = [sent for n in notes for sent in re.split(r"(?<=[.;])\s+", n) if s in sent]
            ctx.report.append(
                f"no ground-truth mask for tampered image {p.name}"
                + (f" (correction sheet: {hint[0]})" if hint else "")
                + ("; kept with has_mask=False" if include_maskless else "; excluded"))
            counts["no mask"] += 1
            if include_maskless:
                sd = (_casia_parse(s) or ["?"])[0]
                rows.append(image_row(p, None, label=1, note="no ground-truth mask", sources=_casia_sources(s),
                                 manipulation={"S": "copy-move", "D": "splicing"}.get(sd)))
            continue
        m, how = match[s]
        manip, mpath = masks[m]
        counts["exact" if how == "exact" else "non-exact"] += 1
        name_sd = (_casia_parse(s) or ["?"])[0]
        if {"S": "copy-move", "D": "splicing"}.get(name_sd) not in (None, manip):
            how += f"; reclassified as {manip} (mask folder)"
        if how != "exact":
            details.append(f"{p.name} -> {mpath.name}: {how}")
        rows.append(image_row(p, mpath, label=1, manipulation=manip, note=how, sources=_casia_sources(s, m)))
    for m in sorted(free):
        ctx.problems.append(f"mask {masks[m][1].name} matches no tampered image")
    ctx.report.append(f"pairing: {counts['exact']} exact, {counts['non-exact']} non-exact (listed below), "
                      f"{counts['no mask']} tampered without mask, {len(free)} masks unused")
    ctx.report += details
    _resolve_sizes(rows, ctx, rule="transpose")
    rows += [image_row(p, None, label=0, sources=_casia_sources(p.stem)) for p in authentic]
    return rows


_CASIA_AU_RE = re.compile(r"^Au_([A-Za-z]{3})_(\d+)$")


def _casia_sources(*stems: str) -> str | None:
    """Source-photo ids named by CASIA v1 file stems, sorted and ``;``-joined: ``Au_pla_0005`` -> ``pla0005``;
    a tampered name gives its two ids (the image's and its mask's names together, so a mistyped id in one
    of them still links both photos)."""
    ids = set()
    for stem in stems:
        au = _CASIA_AU_RE.match(stem)
        if au:
            ids.add(f"{au.group(1).lower()}{au.group(2)}")
            continue
        f = _casia_parse(stem)
        if f is not None:
            ids.update(x.lower() for x in f[3:5])
    return ";".join(sorted(ids)) or None


# ------------------------------------------------------------------------------------------ COVERAGE
@register_dataset("coverage", "root/image/{N}.tif (original) and {N}t.tif (tampered), root/mask/{N}forged.tif "
          "(+ {N}copy.tif, {N}paste.tif), N = 1..100")
def _coverage(root: Path, ctx: AdapterContext, size_rule: str = "auto") -> list[dict]:
    """COVERAGE (Wen et al., ICIP 2016): copy-move with similar-but-genuine objects.

    Nine published masks do not match their image's size; ``size_rule="auto"`` fixes them per row
    (transposed -> transpose; within 5 % or mask larger -> crop / pad top-left; else nearest resize).
    ``mask_copy`` / ``mask_paste`` columns keep the source / target region masks when present.
    """
    base = _descend(root, lambda d: _subdir(d, "image") is not None and _subdir(d, "mask") is not None)
    if base is None:
        raise _layout_error(ctx, root, "folders 'image/' and 'mask/' not found")
    imgs, mdir = _images_in(_subdir(base, "image")), _subdir(base, "mask")
    masks = {p.stem.lower(): p for p in _images_in(mdir)}
    rows = []
    for p in imgs:
        m = re.match(r"^(\d+)(t?)$", p.stem, re.I)
        if m is None:
            ctx.report.append(f"ignored {p.name} (not N.tif / Nt.tif)")
            continue
        n, t = m.group(1), m.group(2)
        if not t:
            rows.append(image_row(p, None, label=0, sources=f"coverage{n}"))
            continue
        forged = masks.get(f"{n}forged")
        if forged is None:
            ctx.report.append(f"no mask {n}forged.* for tampered image {p.name}; excluded")
            continue
        rows.append(image_row(p, forged, label=1, manipulation="copy-move", sources=f"coverage{n}",
                         mask_copy=str(masks[f"{n}copy"]) if f"{n}copy" in masks else None,
                         mask_paste=str(masks[f"{n}paste"]) if f"{n}paste" in masks else None))
    _resolve_sizes(rows, ctx, rule=size_rule)
    return rows


# ------------------------------------------------------------------------------------------ COLUMBIA
@register_dataset("columbia", "root/4cam_splc/*.tif (spliced), root/4cam_auth/*.tif (authentic), masks "
          "root/4cam_splc/edgemask/<stem>_edgemask.{jpg,tif,...} (or root/edgemask/)")
def _columbia(root: Path, ctx: AdapterContext, spliced_colour: str = "green") -> list[dict]:
    """Columbia uncompressed image splicing (Hsu & Chang, ICME 2006).

    Masks are the red/green ``edgemask`` images, decoded in :func:`read_pair` with
    :func:`~paper_repro.data.io.decode_columbia_edgemask` (``mask_kind="columbia_edgemask"``; default
    spliced = green region, ``spliced_colour`` overrides).
    """
    base = _descend(root, lambda d: _subdir(d, "4cam_splc") is not None)
    if base is None:
        raise _layout_error(ctx, root, "folder '4cam_splc/' not found")
    splc = _subdir(base, "4cam_splc")
    masks: dict[str, Path] = {}
    for d in (_subdir(splc, "edgemask"), _subdir(base, "edgemask")):
        for p in _images_in(d):
            masks.setdefault(re.sub(r"_edgemask$", "", p.stem, flags=re.I), p)
    rows = []
    for p in _images_in(splc):
        mp = masks.get(p.stem)
        if mp is None:
            ctx.report.append(f"no edgemask for spliced image {p.name}; excluded")
            continue
        rows.append(image_row(p, mp, label=1, manipulation="splicing", mask_kind="columbia_edgemask",
                         mask_spliced_colour=spliced_colour))
    ctx.report.append(f"edge masks decoded as spliced = {spliced_colour} region")
    _resolve_sizes(rows, ctx, rule="transpose")
    rows += [image_row(p, None, label=0) for p in _images_in(_subdir(base, "4cam_auth"))]
    return rows


# -------------------------------------------------------------------------------------------- NIST16
@register_dataset("nist16", "root/probe/*.jpg (manipulated probes), root/mask/<same stem>[_gt|_mask].png "
          "(NIST convention: black = manipulated)")
def _nist16(root: Path, ctx: AdapterContext, invert: bool = True) -> list[dict]:
    """NIST Nimble 2016 as packaged by MVSS-Net / IMDL-BenCo (probe + mask folders, same stem).

    NIST reference masks are *inverted*: 0 (black) = manipulated, 255 = untouched, so ``mask_invert``
    is True by default. Probes without a mask are reported and excluded (manipulation type unknown).
    """
    base = _descend(root, lambda d: _subdir(d, "probe") is not None and _subdir(d, "mask") is not None)
    if base is None:
        raise _layout_error(ctx, root, "folders 'probe/' and 'mask/' not found")
    masks = {p.stem: p for p in _images_in(_subdir(base, "mask"))}
    rows = []
    for p in _images_in(_subdir(base, "probe")):
        mp = _mask_for(p.stem, masks)
        if mp is None:
            ctx.report.append(f"no mask for probe {p.name}; excluded")
            continue
        rows.append(image_row(p, mp, label=1, mask_invert=invert))
    ctx.report.append(f"NIST masks read with invert={invert} (black = manipulated)")
    _resolve_sizes(rows, ctx)
    return rows


# --------------------------------------------------------------------------------------------- DSO-1
@register_dataset("dso1", "root/DSO-1/images/{normal,splicing}-*.png + root/DSO-1/masks/splicing-*.png "
          "(or root = the folder with images/ and masks/), or the published tifs-database layout "
          "root/DSO-1/*.png + root/DSO-1-Fake-Images-Masks/*.png")
def _dso1(root: Path, ctx: AdapterContext, invert: bool | None = None) -> list[dict]:
    """DSO-1 (Carvalho et al., TIFS 2013): 100 normal + 100 spliced PNGs of people.

    Two layouts: ``images/`` + ``masks/`` (white = spliced), and the published ``DSO-1/`` +
    ``DSO-1-Fake-Images-Masks/`` where public loaders read black (0) as spliced. ``invert=None`` picks
    per layout (False / True); pass a bool to force it.
    """
    split = _descend(root, lambda d: _subdir(d, "images") is not None and _subdir(d, "masks") is not None, 2)
    if split is not None:
        img_dir, mask_dir, inv = _subdir(split, "images"), _subdir(split, "masks"), False
    else:
        pub = _descend(root, lambda d: _subdir(d, "DSO-1") is not None
                       and _subdir(d, "DSO-1-Fake-Images-Masks") is not None, 1)
        if pub is None:
            raise _layout_error(ctx, root, "neither 'images/'+'masks/' nor 'DSO-1/'+'DSO-1-Fake-Images-Masks/'")
        img_dir, mask_dir, inv = _subdir(pub, "DSO-1"), _subdir(pub, "DSO-1-Fake-Images-Masks"), True
    inv = inv if invert is None else bool(invert)
    ctx.report.append(f"masks from {mask_dir.name}/ read with invert={inv} "
                      f"({'black' if inv else 'white'} = spliced)")
    masks = {p.stem: p for p in _images_in(mask_dir)}
    rows = []
    for p in _images_in(img_dir):
        if p.stem.lower().startswith("normal"):
            rows.append(image_row(p, None, label=0))
        elif p.stem.lower().startswith("splicing"):
            mp = _mask_for(p.stem, masks)
            if mp is None:
                ctx.report.append(f"no mask for spliced image {p.name}; excluded")
                continue
            rows.append(image_row(p, mp, label=1, manipulation="splicing", mask_invert=inv))
        else:
            ctx.report.append(f"ignored {p.name} (neither normal-* nor splicing-*)")
    _resolve_sizes(rows, ctx)
    return rows


# ------------------------------------------------------------------------------------------- IMD2020
@register_dataset("imd2020", "root/<id>/<id>_orig.jpg (authentic), root/<id>/<id>_<n>.{jpg,png} (tampered) with "
          "root/<id>/<id>_<n>_mask.png")
def _imd2020(root: Path, ctx: AdapterContext) -> list[dict]:
    """IMD2020 (Novozamsky et al., WACV-W 2020) real-life manipulations; mask white = manipulated."""
    files = _images_in(root, recursive=True)
    masks = {p.parent / re.sub(r"_mask$", "", p.stem): p for p in files if p.stem.lower().endswith("_mask")}
    rows = []
    for p in files:
        s = p.stem
        if s.lower().endswith("_mask"):
            continue
        if s.lower().endswith("_orig"):
            rows.append(image_row(p, None, label=0))
            continue
        mp = masks.get(p.parent / s)
        if mp is None:
            ctx.report.append(f"no mask {s}_mask.png for {p.relative_to(root)}; excluded")
            continue
        rows.append(image_row(p, mp, label=1))
    if not any(r["label"] == 1 for r in rows) and not any(r["label"] == 0 for r in rows):
        raise _layout_error(ctx, root, "no '<id>_orig.*' or '<id>_<n>.*' + '_mask' files")
    _resolve_sizes(rows, ctx)
    return rows


# -------------------------------------------------------------------------------------------- folder
@register_dataset("folder", "root/Tp/ tampered images, root/Gt/ masks (same stem, optional _gt/_mask suffix), "
          "optional root/Au/ authentic images")
def _folder(root: Path, ctx: AdapterContext, invert: bool = False, manipulation: str | None = None,
            size_rule: str = "transpose") -> list[dict]:
    """Generic ``Tp/`` + ``Gt/`` (+ ``Au/``) folders: masks matched by stem; white = tampered."""
    base = _descend(root, lambda d: _subdir(d, "Tp") is not None and _subdir(d, "Gt") is not None)
    if base is None:
        raise _layout_error(ctx, root, "folders 'Tp/' and 'Gt/' not found")
    masks = {p.stem: p for p in _images_in(_subdir(base, "Gt"))}
    rows = []
    for p in _images_in(_subdir(base, "Tp")):
        mp = _mask_for(p.stem, masks)
        if mp is None:
            ctx.report.append(f"no mask for tampered image {p.name}; excluded")
            continue
        rows.append(image_row(p, mp, label=1, manipulation=manipulation, mask_invert=invert))
    _resolve_sizes(rows, ctx, rule=size_rule)
    rows += [image_row(p, None, label=0) for p in _images_in(_subdir(base, "Au"))]
    return rows


# ---------------------------------------------------------------------------------------- benco-json
@register_dataset("benco-json", "root = an IMDL-BenCo JSON file [[image, mask or \"Negative\"], ...] "
          "(relative paths: from the JSON's folder, else from the working directory as IMDL-BenCo reads them)")
def _benco_json(root: Path, ctx: AdapterContext) -> list[dict]:
    """IMDL-BenCo ``ManiDataset`` JSON list; ``"Negative"`` as mask = authentic."""
    path = root
    if root.is_dir():
        js = sorted(root.glob("*.json"))
        if len(js) != 1:
            raise _layout_error(ctx, root, f"expected one .json file, found {len(js)}")
        path = js[0]
    try:
        items = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: not a readable JSON list ({err})") from None
    if not isinstance(items, list):
        raise DatasetError(f"{path}: expected a JSON list of [image, mask] pairs, got {type(items).__name__}")
    rows = []
    rules: Counter = Counter()

    def locate(p: str) -> tuple[Path, str]:
        """BenCo reads relative paths from the working directory; a list kept elsewhere is read from its own
        folder: try the JSON's folder first, then the working directory."""
        q = Path(p)
        if q.is_absolute():
            return q, "absolute"
        for base, rule in ((path.parent, "JSON folder"), (Path.cwd(), "working directory")):
            if (base / q).is_file():
                return (base / q).resolve(), rule
        return (path.parent / q).resolve(), "not found"

    for i, it in enumerate(items):
        if not (isinstance(it, (list, tuple)) and len(it) == 2 and isinstance(it[0], str)):
            raise DatasetError(f"{path}: entry {i} is not an [image, mask] pair: {it!r}")
        img, how = locate(it[0])
        neg = it[1] is None or str(it[1]).strip().lower() == "negative"
        mask, mhow = (None, None) if neg else locate(str(it[1]))
        for f, h in ((img, how), (mask, mhow)):
            if f is not None and h == "not found":
                ctx.problems.append(f"{f}: file listed in {path.name} not found (relative paths are read from "
                                    f"the JSON's folder {path.parent}, then the working directory {Path.cwd()})")
        rules[how] += 1
        rows.append(image_row(img, mask, label=0 if neg else 1, note=f"path from the {how}" if how != "absolute" else None))
    ctx.report.append("image paths resolved: " + ", ".join(f"{v} from the {k}" for k, v in sorted(rules.items())))
    ctx.root = path
    _resolve_sizes(rows, ctx)
    return rows


# ----------------------------------------------------------------------------------------- synthetic
@register_dataset("synthetic", "root/manifest.csv with columns image,mask,label,manipulation (paths relative to "
          "root; mask empty for authentic)")
def _synthetic(root: Path | None, ctx: AdapterContext) -> list[dict]:
    """Synthetic tampering set written by :mod:`paper_repro.data.synthetic` (``root=None``: the default)."""
    if root is None:
        from .synthetic import ensure_default

        root = Path(ensure_default())
        ctx.root = root
    csv = root / "manifest.csv"
    if not csv.is_file():
        raise _layout_error(ctx, root, "manifest.csv not found")
    try:
        table = pd.read_csv(csv, dtype={"mask": str, "image": str, "manipulation": str},
                            keep_default_na=True)
    except Exception as err:  # noqa: BLE001
        raise DatasetError(f"{csv}: unreadable CSV ({err})") from None
    missing = {"image", "mask", "label"} - set(table.columns)
    if missing:
        raise DatasetError(f"{csv}: missing columns {sorted(missing)}")
    rows = []
    for rec in table.to_dict("records"):
        mask = None if is_missing(rec.get("mask")) else (root / rec["mask"]).resolve()
        manip = None if is_missing(rec.get("manipulation")) else rec["manipulation"]
        extra = {k: v for k, v in rec.items() if k not in ("image", "mask", "label", "manipulation")}
        r = image_row((root / rec["image"]).resolve(), mask, label=int(rec["label"]), manipulation=manip)
        r.update({k: (None if is_missing(v) else v) for k, v in extra.items() if k not in r or k == "note"})
        rows.append(r)
    return rows


# ---------------------------------------------------------------------------------------------- scan
def scan(df: pd.DataFrame, progress: bool = True, check_empty: bool = True) -> pd.DataFrame:
    """Read every pair of ``df`` and collect ALL problems (never stops at the first).

    Returns a DataFrame with columns ``image``, ``mask``, ``problem`` (empty when all rows load). With
    ``check_empty`` a tampered row whose mask has no tampered pixel is a problem too.
    """
    from tqdm.auto import tqdm

    out = []
    for _, row in tqdm(df.iterrows(), total=len(df), disable=not progress, desc="scan"):
        mask = None if is_missing(row.get("mask")) else row.get("mask")
        try:
            _, m = read_pair(row)
        except DatasetError as err:
            out.append({"image": row.get("image"), "mask": mask, "problem": str(err)})
            continue
        if check_empty and int(row.get("label", 0) or 0) == 1 and mask is not None and not m.any():
            out.append({"image": row.get("image"), "mask": mask,
                        "problem": f"{mask}: mask of a tampered image has no tampered pixel"})
    return pd.DataFrame(out, columns=["image", "mask", "problem"])
