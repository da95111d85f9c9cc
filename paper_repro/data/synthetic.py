"""Reproducible synthetic tampering with exact masks (splicing, copy-move, removal).

The papers reproduced here (ReConWave-Net, LPCLNet, NCL, MPC) train on tampered images with pixel
masks (CASIA v2, synthetic sets such as MPC's/PSCC-Net's). This module builds a small such set from any
folder of photos -- by default the colour and greyscale photographs that ship *inside* scikit-image
(``skimage/data/*.png|jpg``; read straight from the package directory, never fetched) -- so every
notebook and test has data without a download.

Layout written by :func:`generate` (all paths in the manifest are relative to ``out_dir``)::

    out_dir/images/00000.png|.jpg   tampered or authentic image (RGB)
    out_dir/masks/00000.png         uint8 mask, 255 = tampered (absent for authentic images)
    out_dir/manifest.csv            image,mask,label,manipulation,source
    out_dir/meta.json               parameters (seed, ...), library versions, completion flag

Manifest conventions: ``label`` is 1 for tampered, 0 for authentic; ``mask`` and ``manipulation`` are
empty strings for authentic images; ``manipulation`` is one of :data:`KINDS`; ``source`` names the host
photo, and for splicing ``host|donor``.

Manipulations (region shapes come from human segmentations when available -- BSDS500
``groundTruth/*.mat`` -- otherwise from random smooth blobs, see :func:`random_blob`):

- ``splicing``: a region of another photo pasted at a random integer offset (pixels copied exactly).
- ``copy-move``: a region of the same photo, rotated (``+-rotation`` degrees) and scaled (``scale``),
  pasted where it overlaps its source as little as possible. The mask marks only the pasted target,
  as CASIA/COVERAGE "forged" masks do.
- ``removal``: a region filled by biharmonic inpainting at reduced resolution (<= 48 px across), upsampled,
  plus the high-frequency detail of another window of the same photo so the fill is not flat.

Optional realism, all seeded: feathered boundary blending (``blend``; the mask is then the binarised
alpha ``> 0.5``), per-channel mean/std colour matching of the pasted region to a ring of target
surroundings (``color_match``; std ratio clipped to [0.5, 2]), each always, never or with a probability per
image; JPEG recompression of every image, authentic ones included, at a random quality in ``jpeg_quality``
(files are then ``.jpg``); an earlier JPEG generation of the photos before the edit (``double_jpeg``, a
probability, qualities ``first_jpeg_quality``), so that the tampered region and the authentic images carry the
same mixture of single and double compression; rotated and resized splices (``splice_rotation``,
``splice_scale``).

Reproducibility: sample ``i`` draws only from ``numpy.random.default_rng([seed, i])`` and the
authentic/kind plan from ``default_rng([seed])``, so the same parameters give byte-identical masks and
manifest (and images, with the same Pillow/libjpeg) in any order, which makes runs resumable: outputs are
written to a temporary file and renamed, and finished samples are kept when a run is repeated.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import atomic_write

KINDS = ("splicing", "copy-move", "removal")
GENERATOR_VERSION = 1
CACHE_ENV = "PAPER_REPRO_CACHE"
DEFAULT_N = 64
DEFAULT_SIZE = (128, 128)
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# Photographs bundled in scikit-image's package directory (no pooch download). Greyscale ones are
# converted to RGB. Synthetic/graphic images (logo, color, chessboard, phantom, horse) are left out.
SKIMAGE_PHOTOS = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "motorcycle_left": "motorcycle_left.png",
    "motorcycle_right": "motorcycle_right.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png",
    "retina": "retina.jpg",
    "camera": "camera.png",
    "moon": "moon.png",
    "coins": "coins.png",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "page": "page.png",
}


# ----------------------------------------------------------------------------------------------
# photos
# ----------------------------------------------------------------------------------------------
@dataclass
class _Photo:
    name: str
    path: Path | None = None
    array: np.ndarray | None = None
    seg_path: Path | None = None

    def load(self) -> np.ndarray:
        """The photo as uint8 RGB (H, W, 3)."""
        if self.array is not None:
            return _to_uint8_rgb(self.array, self.name)
        from PIL import Image

        try:
            with Image.open(self.path) as im:
                return np.asarray(im.convert("RGB"), dtype=np.uint8)
        except Exception as e:  # noqa: BLE001 - re-raised with the file name
            raise OSError(f"cannot read photo {self.path}: {e}") from e

    def segmentations(self) -> list[np.ndarray]:
        return read_bsds_segmentations(self.seg_path) if self.seg_path is not None else []


def _to_uint8_rgb(a, name="photo") -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{name}: expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    a = a[..., :3]
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if np.issubdtype(a.dtype, np.floating):
        if a.min() < 0 or a.max() > 1:
            raise ValueError(f"{name}: float images must lie in [0, 1], got range [{a.min()}, {a.max()}]")
        return np.round(a * 255.0).astype(np.uint8)
    raise ValueError(f"{name}: unsupported dtype {a.dtype} (use uint8 or float in [0, 1])")


def _skimage_photos() -> list[_Photo]:
    import skimage.data

    folder = Path(skimage.data.__file__).parent
    out = [_Photo(name, path=folder / fname) for name, fname in SKIMAGE_PHOTOS.items() if (folder / fname).is_file()]
    if len(out) < 2:
        raise FileNotFoundError(f"fewer than 2 bundled scikit-image photos found in {folder}")
    return out


def _crop_box(h, w, size, rng=None, crop_scale=None):
    """(top, left, height, width) of a crop with ``size``'s aspect ratio: centred and maximal, or random."""
    th, tw = size
    aspect = tw / th
    if w / h > aspect:
        ch, cw = h, max(1, int(round(h * aspect)))
    else:
        cw, ch = w, max(1, int(round(w / aspect)))
    if rng is None or crop_scale is None:
        return (h - ch) // 2, (w - cw) // 2, ch, cw
    s = rng.uniform(*crop_scale)
    ch, cw = max(1, int(round(ch * s))), max(1, int(round(cw * s)))
    return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw


def orient_segmentations(img: np.ndarray, segs: list[np.ndarray]) -> list[np.ndarray]:
    """Segmentations stored a quarter turn from their photo (shape ``(W, H)`` for an ``(H, W)`` photo; some
    copies of BSDS500 hold photos rotated against their ``groundTruth``) turned back: of the two quarter turns,
    the one whose region boundaries fall on stronger edges of the photo (mean Sobel magnitude along the
    boundaries of the first annotation). Segmentations of the photo's shape are returned as they are."""
    h, w = img.shape[:2]
    if not segs or all(s.shape == (h, w) for s in segs) or any(s.shape != (w, h) for s in segs):
        return segs
    from scipy import ndimage as ndi

    grey = np.asarray(img, dtype=np.float64).reshape(h, w, -1).mean(-1)
    edges = np.hypot(ndi.sobel(grey, 0), ndi.sobel(grey, 1))

    def fit(k):
        s = np.rot90(segs[0], k)
        boundary = ndi.maximum_filter(s, 3) != ndi.minimum_filter(s, 3)
        return edges[boundary].mean() if boundary.any() else 0.0

    k = max((-1, 1), key=fit)
    return [np.ascontiguousarray(np.rot90(s, k)) for s in segs]


def _prepare(img: np.ndarray, segs: list[np.ndarray], size, rng=None, crop_scale=None, hflip=False):
    """Crop to ``size``'s aspect ratio and resize (bicubic; segmentations nearest, turned to the photo first by
    :func:`orient_segmentations`); optional flip."""
    from PIL import Image

    th, tw = size
    h, w = img.shape[:2]
    segs = orient_segmentations(img, segs)
    top, left, ch, cw = _crop_box(h, w, size, rng, crop_scale)
    out = np.asarray(Image.fromarray(img).crop((left, top, left + cw, top + ch))
                     .resize((tw, th), Image.Resampling.BICUBIC), dtype=np.uint8)
    rows = top + np.minimum(((np.arange(th) + 0.5) * ch / th).astype(int), ch - 1)
    cols = left + np.minimum(((np.arange(tw) + 0.5) * cw / tw).astype(int), cw - 1)
    out_segs = []
    for s in segs:
        if s.shape != (h, w):
            raise ValueError(f"segmentation shape {s.shape} does not match its photo's {(h, w)}")
        out_segs.append(s[np.ix_(rows, cols)])
    flip = bool(hflip) and rng is not None and rng.random() < 0.5
    if flip:
        out = out[:, ::-1]
        out_segs = [s[:, ::-1] for s in out_segs]
    return np.ascontiguousarray(out), [np.ascontiguousarray(s) for s in out_segs]


def _size(size) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be an int or (height, width), got {size!r}") from None
    if h < 16 or w < 16:
        raise ValueError(f"size must be at least 16x16, got {(h, w)}")
    return h, w


def default_photos(size=None) -> list[np.ndarray]:
    """The photos bundled with scikit-image (:data:`SKIMAGE_PHOTOS`) as float32 RGB in [0, 1].

    ``size=(h, w)`` centre-crops to that aspect ratio and resizes; ``None`` keeps native sizes.
    """
    return [_as_float(p.load(), size) for p in _skimage_photos()]


def _as_float(img, size):
    if size is not None:
        img, _ = _prepare(img, [], _size(size))
    return img.astype(np.float32) / 255.0


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def load_photos(folder, size=None) -> list[np.ndarray]:
    """All images under ``folder`` (recursive, sorted) as float32 RGB in [0, 1], like :func:`default_photos`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"photo folder {folder} does not exist")
    files = _list_images(folder)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTS)}) under {folder}")
    return [_as_float(_Photo(f.stem, path=f).load(), size) for f in files]


# ----------------------------------------------------------------------------------------------
# BSDS500 segmentations
# ----------------------------------------------------------------------------------------------
def _unwrap(x):
    while isinstance(x, np.ndarray) and x.dtype == object and x.size == 1:
        x = x.reshape(-1)[0]
    return x


def read_bsds_segmentations(path) -> list[np.ndarray]:
    """Label maps of a BSDS500 ``groundTruth/*.mat`` file (a 1xK cell of structs with ``Segmentation``)."""
    import scipy.io

    try:
        gt = scipy.io.loadmat(str(path))["groundTruth"]
    except KeyError:
        raise ValueError(f"{path}: no 'groundTruth' variable (not a BSDS500 segmentation file)") from None
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{path}: cannot read as a .mat file: {e}") from e
    cells = gt.reshape(-1) if gt.dtype == object else [gt]
    out = []
    for cell in cells:
        cell = _unwrap(cell)
        try:
            seg = _unwrap(cell["Segmentation"])
        except (KeyError, ValueError, IndexError, TypeError):
            raise ValueError(f"{path}: groundTruth entries have no 'Segmentation' field") from None
        seg = np.asarray(seg)
        if seg.ndim != 2:
            raise ValueError(f"{path}: Segmentation is not a 2-D label map (shape {seg.shape})")
        out.append(seg.astype(np.int32))
    return out


def _find_seg_root(folder: Path) -> Path | None:
    """``.../groundTruth/<rel>`` for a folder at or below a BSDS-style ``.../images/`` folder."""
    folder = folder.resolve()
    for anc in (folder, *folder.parents):
        if anc.name == "images" and (anc.parent / "groundTruth").is_dir():
            root = anc.parent / "groundTruth" / folder.relative_to(anc)
            return root if root.is_dir() else None
    return None


def _folder_photos(folder: Path, segmentations) -> list[_Photo]:
    files = _list_images(folder)
    if not files:
        raise FileNotFoundError(f"photos: no images ({', '.join(IMAGE_EXTS)}) under {folder}")
    if segmentations is False:
        seg_root = None
    elif segmentations is None:
        seg_root = _find_seg_root(folder)
    else:
        seg_root = Path(segmentations)
        if not seg_root.is_dir():
            raise FileNotFoundError(f"segmentations folder {seg_root} does not exist")
    by_stem: dict[str, list[Path]] = {}
    if seg_root is not None:
        for m in seg_root.rglob("*.mat"):
            by_stem.setdefault(m.stem, []).append(m)
    photos = []
    for f in files:
        rel = f.relative_to(folder)
        seg = None
        if seg_root is not None:
            cand = seg_root / rel.with_suffix(".mat")
            if cand.is_file():
                seg = cand
            elif len(by_stem.get(f.stem, [])) == 1:
                seg = by_stem[f.stem][0]
        photos.append(_Photo(rel.with_suffix("").as_posix(), path=f, seg_path=seg))
    return photos


def _resolve_photos(photos, segmentations) -> tuple[list[_Photo], dict]:
    if photos is None:
        ps = _skimage_photos()
        return ps, {"kind": "skimage", "names": [p.name for p in ps]}
    if isinstance(photos, (str, os.PathLike)):
        folder = Path(photos)
        if not folder.is_dir():
            raise FileNotFoundError(f"photos folder {folder} does not exist")
        ps = _folder_photos(folder, segmentations)
        return ps, {"kind": "folder", "folder": str(folder.resolve()), "n": len(ps),
                    "n_segmented": sum(p.seg_path is not None for p in ps)}
    photos = list(photos)
    if not photos:
        raise ValueError("photos: empty list")
    if all(isinstance(p, (str, os.PathLike)) and Path(p).is_dir() for p in photos):
        ps = []
        for folder in map(Path, photos):  # names "<folder name>/<stem>": BSDS500 "train/2092", "kodak24/kodim01"
            ps += [_Photo(f"{folder.name}/{p.name}", p.path, p.array, p.seg_path)
                   for p in _folder_photos(folder, segmentations)]
        if len({p.name for p in ps}) != len(ps):
            raise ValueError(f"photos: the folders {[str(p) for p in photos]} give two photos the same name")
        return ps, {"kind": "folders", "folders": [Path(p).name for p in photos], "n": len(ps),
                    "n_segmented": sum(p.seg_path is not None for p in ps)}
    if all(isinstance(p, (str, os.PathLike)) for p in photos):
        ps = []
        for p in photos:
            if not Path(p).is_file():
                raise FileNotFoundError(f"photo {p} does not exist")
            ps.append(_Photo(Path(p).stem, path=Path(p)))
        return ps, {"kind": "files", "files": [str(Path(p).resolve()) for p in photos]}
    ps = [_Photo(f"photo{i:03d}", array=_to_uint8_rgb(a, f"photos[{i}]")) for i, a in enumerate(photos)]
    h = hashlib.sha1()
    for p in ps:
        h.update(str(p.array.shape).encode())
        h.update(p.array.tobytes())
    return ps, {"kind": "arrays", "n": len(ps), "sha1": h.hexdigest()}


# ----------------------------------------------------------------------------------------------
# region shapes
# ----------------------------------------------------------------------------------------------
def random_blob(shape, rng: np.random.Generator, area_frac=(0.03, 0.3)) -> np.ndarray:
    """A random smooth, roughly star-shaped region (bool mask) covering about ``area_frac`` of ``shape``.

    A random 5-12-gon with jittered radii and a random elongation is rasterised with
    ``skimage.draw.polygon`` and its corners rounded by Gaussian smoothing + threshold at 0.5.
    """
    from scipy import ndimage as ndi
    from skimage.draw import polygon

    h, w = shape
    target = rng.uniform(*area_frac) * h * w
    k = int(rng.integers(5, 13))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = rng.uniform(0.6, 1.4, k)
    x, y = rad * np.cos(ang), rad * np.sin(ang)
    e = np.sqrt(rng.uniform(0.6, 1.7))
    x, y = x * e, y / e
    phi = rng.uniform(0, np.pi)
    x, y = x * np.cos(phi) - y * np.sin(phi), x * np.sin(phi) + y * np.cos(phi)
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    s = np.sqrt(target / max(area, 1e-6))
    x, y = x * s, y * s
    fit = min(0.9 * w / max(np.ptp(x), 1e-6), 0.9 * h / max(np.ptp(y), 1e-6), 1.0)
    x, y = x * fit, y * fit
    cx = rng.uniform(-x.min(), w - 1 - x.max())
    cy = rng.uniform(-y.min(), h - 1 - y.max())
    rr, cc = polygon(cy + y, cx + x, shape)
    m = np.zeros(shape, np.float32)
    m[rr, cc] = 1.0
    sigma = max(0.7, 0.12 * np.sqrt(target / np.pi))
    blob = ndi.gaussian_filter(m, sigma) > 0.5
    if blob.sum() < 4:  # degenerate polygon: fall back to a disc
        yy, xx = np.mgrid[:h, :w]
        r = max(2.0, np.sqrt(target / np.pi))
        blob = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 <= r * r
    return blob


def _segment_region(segs, rng, area_frac) -> np.ndarray | None:
    """An object-shaped region from a random annotator's segmentation with area in ``area_frac``."""
    from scipy import ndimage as ndi

    if not segs:
        return None
    seg = segs[int(rng.integers(len(segs)))]
    total = seg.size
    labels, counts = np.unique(seg, return_counts=True)
    ok = labels[(counts >= area_frac[0] * total) & (counts <= area_frac[1] * total)]
    for lab in rng.permutation(ok):
        m = seg == lab
        cc, n = ndi.label(m)
        if n > 1:
            m = cc == (np.argmax(np.bincount(cc.ravel())[1:]) + 1)
        m = ndi.binary_fill_holes(m)
        if area_frac[0] * total <= m.sum() <= area_frac[1] * total:
            return m
    return None


def _region(segs, shape, rng, area_frac):
    m = _segment_region(segs, rng, area_frac)
    return (m, "segment") if m is not None else (random_blob(shape, rng, area_frac), "blob")


# ----------------------------------------------------------------------------------------------
# manipulations (float images in [0, 1], H x W x 3)
# ----------------------------------------------------------------------------------------------
def _alpha(binary: np.ndarray, blend: bool, rng) -> np.ndarray:
    from scipy import ndimage as ndi

    if not blend:
        return binary.astype(np.float64)
    return np.clip(ndi.gaussian_filter(binary.astype(np.float64), rng.uniform(0.6, 1.5)), 0.0, 1.0)


def _color_match(patch, target, mask):
    """Match the per-channel mean/std of ``patch`` inside ``mask`` to a ring of ``target`` around it."""
    from scipy import ndimage as ndi

    width = max(3, int(0.15 * np.sqrt(mask.sum())))
    ring = ndi.binary_dilation(mask, iterations=width) & ~mask
    if ring.sum() < 8 or mask.sum() < 8:
        return patch
    mu_p, sd_p = patch[mask].mean(0), patch[mask].std(0)
    mu_t, sd_t = target[ring].mean(0), target[ring].std(0)
    ratio = np.clip(sd_t / np.maximum(sd_p, 1e-6), 0.5, 2.0)
    return np.clip((patch - mu_p) * ratio + mu_t, 0.0, 1.0)


def _paste(host, src_img, src_mask, rng, rotation=0.0, scale=(1.0, 1.0), avoid=None, tries=30):
    """Warp ``src_img``/``src_mask`` by a random rotation+scale about the region centroid and translate it
    to a random place inside ``host``; returns (warped image, warped binary mask)."""
    from skimage.transform import AffineTransform, warp

    h, w = host.shape[:2]
    ys, xs = np.nonzero(src_mask)
    c_src = np.array([xs.mean(), ys.mean()])
    theta = np.deg2rad(rng.uniform(-rotation, rotation)) if rotation else 0.0
    s = rng.uniform(*scale) if scale[0] != scale[1] else float(scale[0])
    d = np.stack([xs - c_src[0], ys - c_src[1]])
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    t = rot @ d
    ext = np.ptp(t, axis=1) + 1
    s = min(s, 0.95 * w / ext[0], 0.95 * h / ext[1])
    a = s * rot
    t = a @ d
    lo = -t.min(axis=1)
    hi = np.array([w - 1, h - 1]) - t.max(axis=1)
    hi = np.maximum(hi, lo)
    exact = theta == 0.0 and s == 1.0
    best, best_overlap = None, None
    for _ in range(tries):
        if exact:  # integer offset: pixels copied exactly
            off = np.array([rng.integers(-xs.min(), w - xs.max()), rng.integers(-ys.min(), h - ys.max())])
            c = c_src + off
        else:
            c = rng.uniform(lo, hi)
        if avoid is None:
            best = c
            break
        pts = np.round(t + c[:, None]).astype(int)
        pts[0] = np.clip(pts[0], 0, w - 1)
        pts[1] = np.clip(pts[1], 0, h - 1)
        overlap = int(avoid[pts[1], pts[0]].sum())
        if best_overlap is None or overlap < best_overlap:
            best, best_overlap = c, overlap
        if overlap == 0:
            break
    ainv = np.linalg.inv(a)
    m = np.eye(3)
    m[:2, :2] = ainv
    m[:2, 2] = (c_src - best) if exact else (c_src - ainv @ best)
    tf = AffineTransform(matrix=m)
    img = warp(src_img, tf, order=1, mode="reflect", output_shape=(h, w))
    msk = warp(src_mask.astype(np.float64), tf, order=1, mode="constant", cval=0.0, output_shape=(h, w)) > 0.5
    return img, msk


def _inpaint(host, mask, rng) -> np.ndarray:
    """Fill ``mask`` by biharmonic inpainting of a padded crop at <= 48 px, upsampled, plus the
    high-frequency detail (window minus its Gaussian blur at the downsampling scale) of a window elsewhere."""
    from scipy import ndimage as ndi
    from skimage.restoration import inpaint_biharmonic
    from skimage.transform import resize

    h, w = host.shape[:2]
    ys, xs = np.nonzero(mask)
    bh, bw = np.ptp(ys) + 1, np.ptp(xs) + 1
    pad = max(8, int(0.3 * max(bh, bw)))
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    crop, cm = host[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    f = max(1, int(np.ceil(max(crop.shape[:2]) / 48)))
    sh = (max(4, int(np.ceil(crop.shape[0] / f))), max(4, int(np.ceil(crop.shape[1] / f))))
    small = resize(crop, sh, order=1, anti_aliasing=True)
    small_m = ndi.binary_dilation(resize(cm.astype(np.float64), sh, order=1) > 0, iterations=1)
    if small_m.all():
        small_m[0, :] = small_m[-1, :] = small_m[:, 0] = small_m[:, -1] = False
    filled = inpaint_biharmonic(small, small_m, channel_axis=-1)
    up = resize(filled, crop.shape[:2], order=1)
    # texture: high-frequency detail of an equally sized window elsewhere that overlaps the hole least
    ch, cw = crop.shape[:2]
    best, best_ov = None, None
    for _ in range(20):
        ty, tx = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        ov = int(mask[ty:ty + ch, tx:tx + cw][cm].sum())
        if best_ov is None or ov < best_ov:
            best, best_ov = (ty, tx), ov
        if ov == 0:
            break
    ty, tx = best
    win = host[ty:ty + ch, tx:tx + cw]
    up = up + (win - ndi.gaussian_filter(win, sigma=(f, f, 0.0)))
    out = host.copy()
    out[y0:y1, x0:x1] = np.clip(up, 0.0, 1.0)
    return out


def _chance(p, rng) -> bool:
    """``p`` is a bool (always / never, no random draw, so sets made before probabilities existed keep their
    bytes) or a probability in [0, 1] drawn from ``rng``."""
    if isinstance(p, (bool, np.bool_)):
        return bool(p)
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"a probability must be in [0, 1], got {p}")
    return bool(rng.random() < p)


def tamper(host, kind, rng, donor=None, host_segs=(), donor_segs=(), area_frac=(0.03, 0.3),
           rotation=30.0, scale=(0.7, 1.3), blend=True, color_match=True, splice_rotation=0.0,
           splice_scale=(1.0, 1.0)):
    """Apply one manipulation to ``host`` (float RGB in [0, 1], H x W x 3).

    Returns ``(image, mask, info)`` with ``mask`` bool (H, W) exactly the changed region (binarised
    blend alpha > 0.5) and ``info`` a dict (``shape``: ``segment`` or ``blob``; ``blend`` and ``color_match``:
    whether they were applied). ``donor`` (same size) is required for splicing. ``blend`` / ``color_match``:
    a bool, or the probability of applying it to this image. With no blending every pixel outside ``mask``
    equals ``host``. ``splice_rotation`` / ``splice_scale``: a spliced region is rotated within
    ``+-splice_rotation`` degrees and resized by a factor in ``splice_scale`` (default: pasted as it is).
    """
    host = np.asarray(host, dtype=np.float64)
    shape = host.shape[:2]
    if kind == "splicing":
        if donor is None:
            raise ValueError("splicing needs a donor image")
        donor = np.asarray(donor, dtype=np.float64)
        if donor.shape != host.shape:
            raise ValueError(f"donor shape {donor.shape} != host shape {host.shape}")
        region, how = _region(list(donor_segs), shape, rng, area_frac)
        src, target = _paste(host, donor, region, rng, rotation=splice_rotation, scale=tuple(splice_scale))
    elif kind == "copy-move":
        region, how = _region(list(host_segs), shape, rng, area_frac)
        src, target = _paste(host, host, region, rng, rotation=rotation, scale=scale, avoid=region)
    elif kind == "removal":
        target, how = _region(list(host_segs), shape, rng, area_frac)
        src = _inpaint(host, target, rng)
    else:
        raise ValueError(f"unknown manipulation {kind!r}; choose from {', '.join(KINDS)}")
    matched = kind != "removal" and _chance(color_match, rng)
    if matched:
        src = _color_match(src, host, target)
    blended = _chance(blend, rng)
    alpha = _alpha(target, blended, rng)
    mask = alpha > 0.5
    if blended:
        out = alpha[..., None] * src + (1.0 - alpha[..., None]) * host
    else:
        out = np.where(mask[..., None], src, host)
    return out, mask, {"shape": how, "blend": blended, "color_match": matched}


# ----------------------------------------------------------------------------------------------
# dataset generation
# ----------------------------------------------------------------------------------------------
def _versions() -> dict:
    import PIL
    import scipy
    import skimage

    return {"python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-image": skimage.__version__, "pillow": PIL.__version__}


def _plan(n, seed, kinds, authentic_fraction, n_photos):
    """Per-sample (kind or 'authentic', host index): balanced kinds, hosts cycling through permutations."""
    rng = np.random.default_rng([seed])
    n_auth = int(round(n * authentic_fraction))
    labels = ["authentic"] * n_auth + [kinds[i % len(kinds)] for i in range(n - n_auth)]
    labels = [labels[i] for i in rng.permutation(n)]
    hosts = np.concatenate([rng.permutation(n_photos) for _ in range(-(-n // n_photos))])[:n]
    return list(zip(labels, hosts.tolist()))


def _save_image(path: Path, img_u8: np.ndarray, quality: int | None) -> None:
    from PIL import Image

    im = Image.fromarray(img_u8)
    if quality is None:
        atomic_write(path, lambda t: im.save(t, format="PNG"))
    else:
        atomic_write(path, lambda t: im.save(t, format="JPEG", quality=int(quality)))


def _jpeg_roundtrip(img_u8: np.ndarray, p: float, quality_range, rng) -> np.ndarray:
    """With probability ``p``: ``img_u8`` saved as a JPEG at a quality drawn from ``quality_range`` and decoded
    (a photo that was a JPEG before it was edited); otherwise unchanged."""
    import io

    from PIL import Image

    if not _chance(float(p), rng):
        return img_u8
    q = int(rng.integers(quality_range[0], quality_range[1] + 1))
    buf = io.BytesIO()
    Image.fromarray(img_u8).save(buf, format="JPEG", quality=q)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _jpeg_range(jpeg_quality):
    if jpeg_quality is None:
        return None
    if isinstance(jpeg_quality, (int, np.integer)):
        jpeg_quality = (int(jpeg_quality), int(jpeg_quality))
    lo, hi = (int(q) for q in jpeg_quality)
    if not 1 <= lo <= hi <= 100:
        raise ValueError(f"jpeg_quality must be None, a quality or (low, high) within 1..100, got {jpeg_quality!r}")
    return [lo, hi]


def _read_meta(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / "meta.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_meta(out_dir: Path, meta: dict) -> None:
    atomic_write(out_dir / "meta.json", lambda t: t.write_text(json.dumps(meta, indent=2, sort_keys=True)))


def _clear(out_dir: Path) -> None:
    """Remove only what :func:`generate` writes."""
    for sub in ("images", "masks"):
        if (out_dir / sub).is_dir():
            shutil.rmtree(out_dir / sub)
    for f in ("manifest.csv", "meta.json"):
        if (out_dir / f).exists():
            (out_dir / f).unlink()


def _manifest_complete(out_dir: Path) -> bool:
    try:
        with open(out_dir / "manifest.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        return False
    return all((out_dir / r["image"]).is_file() and (not r["mask"] or (out_dir / r["mask"]).is_file())
               for r in rows)


def generate(out_dir, n: int = DEFAULT_N, seed: int = 0, photos=None, size=(256, 256), kinds=KINDS,
             authentic_fraction: float = 0.2, blend: bool = True, color_match: bool = True,
             jpeg_quality=(70, 95), segmentations=None, progress: bool = True, crop_scale=(0.6, 1.0),
             hflip: bool = True, area_frac=(0.03, 0.3), rotation: float = 30.0, scale=(0.7, 1.3),
             double_jpeg: float = 0.0, first_jpeg_quality=(50, 95), splice_rotation: float = 0.0,
             splice_scale=(1.0, 1.0), overwrite: bool = False) -> Path:
    """Write a seeded synthetic tampering set to ``out_dir`` (layout in the module docstring); return it.

    ``photos``: ``None`` (bundled scikit-image photos), a folder (recursive; a BSDS500 ``images/`` folder
    or split gets its sibling ``groundTruth/`` segmentations matched by split and stem), a list of folders
    (photos named ``<folder name>/<stem>``, e.g. BSDS500's ``train/2092`` and ``kodak24/kodim01``), a list of
    image files, or a list of arrays. ``segmentations``: ``None`` auto-detects, a folder of ``.mat`` files, or
    ``False`` to always use random blobs. Each sample takes a random crop (side ``crop_scale`` of the
    largest crop with ``size``'s aspect; ``None`` = centred maximal crop) resized to ``size``, flipped
    horizontally with probability 1/2 if ``hflip``. ``area_frac`` bounds region areas; ``rotation`` and
    ``scale`` are copy-move's ranges, ``splice_rotation`` / ``splice_scale`` splicing's (default: pasted as
    cut). ``blend`` / ``color_match``: a bool, or the probability per image. ``double_jpeg``: the probability
    that a photo (host and donor alike, authentic images included) was a JPEG at a quality drawn from
    ``first_jpeg_quality`` before it was tampered with and saved again, so that a double-compression trace
    alone does not tell a tampered image from an authentic one. A folder holding a set made with other parameters raises unless
    ``overwrite=True`` (which deletes it first); with the same parameters finished samples are kept.
    """
    out_dir = Path(out_dir)
    size = _size(size)
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in KINDS]
    if bad or len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds must be distinct values from {KINDS}, got {kinds!r}")
    if not 0.0 <= authentic_fraction <= 1.0:
        raise ValueError(f"authentic_fraction must be in [0, 1], got {authentic_fraction}")
    if not kinds and authentic_fraction < 1.0:
        raise ValueError("kinds is empty but authentic_fraction < 1")
    if not 0 < area_frac[0] < area_frac[1] < 1:
        raise ValueError(f"area_frac must be (low, high) with 0 < low < high < 1, got {area_frac!r}")
    if crop_scale is not None and not 0 < crop_scale[0] <= crop_scale[1] <= 1:
        raise ValueError(f"crop_scale must be None or (low, high) within (0, 1], got {crop_scale!r}")
    jq = _jpeg_range(jpeg_quality)
    fq = _jpeg_range(first_jpeg_quality)
    if not 0.0 <= float(double_jpeg) <= 1.0:
        raise ValueError(f"double_jpeg must be a probability in [0, 1], got {double_jpeg!r}")
    for name, p in (("blend", blend), ("color_match", color_match)):
        if not isinstance(p, (bool, np.bool_)) and not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"{name} must be a bool or a probability in [0, 1], got {p!r}")
    if not 0 < splice_scale[0] <= splice_scale[1]:
        raise ValueError(f"splice_scale must be (low, high) with 0 < low <= high, got {splice_scale!r}")
    plist, fingerprint = _resolve_photos(photos, segmentations)

    params = {
        "generator_version": GENERATOR_VERSION, "n": n, "seed": int(seed), "photos": fingerprint,
        "size": list(size), "kinds": list(kinds), "authentic_fraction": float(authentic_fraction),
        "blend": bool(blend), "color_match": bool(color_match), "jpeg_quality": jq,
        "crop_scale": None if crop_scale is None else [float(v) for v in crop_scale], "hflip": bool(hflip),
        "area_frac": [float(v) for v in area_frac], "rotation": float(rotation),
        "scale": [float(v) for v in scale],
    }
    # the options added later are recorded only when used, so sets made without them keep their parameters
    extra = {"double_jpeg": float(double_jpeg), "first_jpeg_quality": fq, "splice_rotation": float(splice_rotation),
             "splice_scale": [float(v) for v in splice_scale]}
    if double_jpeg or splice_rotation or tuple(splice_scale) != (1.0, 1.0):
        params.update(extra)
    for name, p in (("blend", blend), ("color_match", color_match)):
        params[name] = bool(p) if isinstance(p, (bool, np.bool_)) else float(p)
    old = _read_meta(out_dir)
    if old is not None and old.get("params") != params:
        if not overwrite:
            diff = sorted(k for k in set(params) | set(old.get("params", {}))
                          if params.get(k) != old.get("params", {}).get(k))
            raise ValueError(f"{out_dir} holds a synthetic set made with other parameters (differ: "
                             f"{', '.join(diff)}); pass overwrite=True or choose another folder")
        _clear(out_dir)
    elif old is not None and old.get("complete") and _manifest_complete(out_dir):
        return out_dir
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    _write_meta(out_dir, {"params": params, "versions": _versions(), "complete": False})

    ext = ".png" if jq is None else ".jpg"
    plan = _plan(n, int(seed), kinds, authentic_fraction, len(plist))
    cache: dict[int, tuple[np.ndarray, list]] = {}

    def get(i):
        if i not in cache:
            if len(cache) > 32:
                cache.pop(next(iter(cache)))
            cache[i] = (plist[i].load(), plist[i].segmentations())
        return cache[i]

    rows = []
    it = range(n)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=f"synthetic -> {out_dir.name}", unit="img")
    for i in it:
        kind, host_i = plan[i]
        stem = f"{i:05d}"
        img_path, mask_path = out_dir / "images" / f"{stem}{ext}", out_dir / "masks" / f"{stem}.png"
        tampered = kind != "authentic"
        donor_i = None
        rng = np.random.default_rng([int(seed), i])
        if kind == "splicing":
            donor_i = int(rng.integers(len(plist) - 1)) if len(plist) > 1 else host_i
            if len(plist) > 1 and donor_i >= host_i:
                donor_i += 1
        source = plist[host_i].name + (f"|{plist[donor_i].name}" if donor_i is not None else "")
        rows.append({"image": f"images/{stem}{ext}", "mask": f"masks/{stem}.png" if tampered else "",
                     "label": int(tampered), "manipulation": kind if tampered else "", "source": source})
        if img_path.exists() and (mask_path.exists() or not tampered):
            continue
        img, segs = get(host_i)
        host, host_segs = _prepare(img, segs, size, rng, crop_scale, hflip)
        if double_jpeg:
            host = _jpeg_roundtrip(host, double_jpeg, fq, rng)
        host = host.astype(np.float64) / 255.0
        if tampered:
            donor = donor_segs = None
            if donor_i is not None:
                dimg, dsegs = get(donor_i)
                donor, donor_segs = _prepare(dimg, dsegs, size, rng, crop_scale, hflip)
                if double_jpeg:
                    donor = _jpeg_roundtrip(donor, double_jpeg, fq, rng)
                donor = donor.astype(np.float64) / 255.0
            out, mask, _ = tamper(host, kind, rng, donor=donor, host_segs=host_segs,
                                  donor_segs=donor_segs or (), area_frac=area_frac, rotation=rotation,
                                  scale=scale, blend=blend, color_match=color_match,
                                  splice_rotation=splice_rotation, splice_scale=splice_scale)
        else:
            out, mask = host, None
        quality = None if jq is None else int(rng.integers(jq[0], jq[1] + 1))
        if mask is not None:
            from PIL import Image

            m8 = Image.fromarray(mask.astype(np.uint8) * 255)
            atomic_write(mask_path, lambda t: m8.save(t, format="PNG"))
        _save_image(img_path, np.round(np.clip(out, 0, 1) * 255.0).astype(np.uint8), quality)

    def write_csv(t):
        with open(t, "w", newline="") as fh:
            wr = csv.DictWriter(fh, fieldnames=["image", "mask", "label", "manipulation", "source"])
            wr.writeheader()
            wr.writerows(rows)

    atomic_write(out_dir / "manifest.csv", write_csv)
    _write_meta(out_dir, {"params": params, "versions": _versions(), "complete": True})
    return out_dir


def default_cache_dir(root=None) -> Path:
    """``root``, else ``$PAPER_REPRO_CACHE``, else ``~/.cache/paper_repro``."""
    if root is not None:
        return Path(root)
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "paper_repro"


def ensure_default(root=None, n: int | None = None, size=None, progress: bool = False) -> Path:
    """The built-in synthetic set: bundled scikit-image photos, seed 0, ``n`` (default ``DEFAULT_N``)
    images of ``size`` (default ``DEFAULT_SIZE``), other parameters :func:`generate`'s defaults.

    Stored at ``<cache>/synthetic-default`` (``-n<n>`` / ``-<h>x<w>`` appended for non-default values)
    where ``<cache>`` is :func:`default_cache_dir` (``root``, ``$PAPER_REPRO_CACHE`` or
    ``~/.cache/paper_repro``); generated on first use, reused while its ``meta.json`` records the same
    parameters and all its files exist, regenerated otherwise.
    """
    n = DEFAULT_N if n is None else int(n)
    size = DEFAULT_SIZE if size is None else _size(size)
    name = "synthetic-default"
    if n != DEFAULT_N:
        name += f"-n{n}"
    if tuple(size) != tuple(DEFAULT_SIZE):
        name += f"-{size[0]}x{size[1]}"
    return generate(default_cache_dir(root) / name, n=n, seed=0, photos=None, size=size, progress=progress,
                    overwrite=True)
