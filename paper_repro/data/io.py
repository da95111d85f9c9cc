"""Image / mask readers that turn every odd file into one of two arrays, or a clear :class:`DatasetError`.

* :func:`read_image` -> float32 ``(H, W, 3)`` in ``[0, 1]``.
* :func:`read_mask`  -> bool ``(H, W)``, ``True`` = tampered.
* :func:`read_pair`  -> both, for one manifest row, applying the per-row fix-ups an adapter recorded.

Supported: 1-bit, 8-bit and 16-bit files; modes ``1``, ``L``, ``LA``, ``P``/``PA`` (palette), ``RGB``,
``RGBA``, ``CMYK``, ``I;16*``, ``I``, ``F``; JPEG, PNG, BMP, and TIFF (TIFFs that PIL cannot open, e.g.
48-bit RGB or float32, are read with :mod:`tifffile`). EXIF orientation is *not* applied: ground-truth
masks of the public datasets are drawn on the stored pixel grid.

Mask binarisation rule (one rule for every dataset; Columbia's colour-coded edge masks are the only
exception, see :func:`decode_columbia_edgemask`):

1. convert to float in ``[0, 1]`` on the file's *own* bit depth (``x / 255`` for 8-bit, ``x / 65535`` for
   16-bit, 1-bit as 0/1, float kept and clipped);
2. drop the alpha channel -- unless the colour channels are constant over the whole image and only alpha
   varies ("alpha-only" masks), in which case alpha *is* the mask;
3. take the maximum over the colour channels (a red, green or white region all count);
4. tampered = value ``> threshold`` (default 0.5); ``invert=True`` flips the result (NIST masks, where
   black = manipulated).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "DatasetError",
    "read_image",
    "read_mask",
    "read_pair",
    "image_size",
    "decode_columbia_edgemask",
    "apply_mask_fix",
    "MASK_FIXES",
]

#: Per-row mask fix-ups understood by :func:`read_pair` (column ``mask_fix``).
MASK_FIXES = ("transpose", "crop", "resize")

_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
_TIFF_EXT = {".tif", ".tiff"}
_EIGHT_BIT_MODES = {"RGB", "RGBA", "RGBX", "CMYK", "LA", "L"}


class _UseTifffile(OSError):
    """Internal: PIL can open this TIFF but would lose precision."""


class DatasetError(Exception):
    """A dataset file or folder is unusable; the message names the file and the problem."""


# ----------------------------------------------------------------------------------------- low level
def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and value.strip() in ("", "None", "nan", "NaN"):
        return True
    return False


def _depth(arr: np.ndarray, path: Path) -> tuple[np.ndarray, float]:
    """Raw decoded array -> (array, full-scale value of the file's own bit depth)."""
    if arr.dtype == bool:
        return arr.astype(np.uint8), 1.0
    if np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == np.int32 and arr.size and arr.max() <= 65535 and arr.min() >= 0:
            # PIL mode "I" (32-bit int container) is how older Pillow returns 16-bit greyscale PNG/TIFF.
            return arr, 65535.0
        info = np.iinfo(arr.dtype)
        if info.min < 0:
            arr = np.clip(arr, 0, None)
        return arr, float(info.max)
    if np.issubdtype(arr.dtype, np.floating):
        return np.clip(np.nan_to_num(arr.astype(np.float32), nan=0.0), 0.0, 1.0), 1.0
    raise DatasetError(f"{path}: unsupported pixel type {arr.dtype}")


def _pil_array(path: Path, precise: bool = True) -> tuple[np.ndarray, float, bool]:
    """Decode with PIL -> (raw array HxW or HxWxC, full-scale value, has_alpha); PIL/OSError on failure."""
    with Image.open(path) as im:
        if precise and im.format == "TIFF" and im.mode in _EIGHT_BIT_MODES:
            bits = im.tag_v2.get(258, (8,))  # BitsPerSample
            bits = bits if isinstance(bits, tuple) else (bits,)
            if max(int(b) for b in bits) > 8:  # PIL would silently drop to 8 bits: let tifffile read it
                raise _UseTifffile(f"{max(bits)}-bit {im.mode} TIFF")
        im.load()  # forces full decode: truncated files raise here
        mode = im.mode
        if mode == "1":
            return np.asarray(im, dtype=bool).astype(np.uint8), 1.0, False
        if mode in ("P", "PA"):
            im = im.convert("RGBA" if mode == "PA" else "RGB")
            mode = im.mode
        elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            im = im.convert("RGB")
            mode = "RGB"
        elif mode in ("La", "RGBa"):
            im = im.convert("RGBA")
            mode = "RGBA"
        elif mode.startswith("I;16"):
            arr = np.asarray(im)
            return (*_depth(arr.astype(np.uint16), path), False)
        arr = np.asarray(im)
    return (*_depth(arr, path), mode in _ALPHA_MODES)


def _tiff_array(path: Path) -> tuple[np.ndarray, float, bool]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        arr = page.asarray()
        extrasamples = tuple(getattr(page, "extrasamples", ()) or ())
        planar = getattr(page, "planarconfig", None)
    arr = np.asarray(arr)
    if arr.ndim == 3 and planar is not None and int(planar) == 2 and arr.shape[0] in (2, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # separate planes -> HxWxC
    if arr.ndim > 3:
        arr = arr.reshape(arr.shape[-3:]) if arr.shape[-1] <= 4 else arr[0]
    has_alpha = arr.ndim == 3 and (len(extrasamples) > 0 or arr.shape[-1] in (2, 4))
    return (*_depth(arr, path), has_alpha)


def _read_array(path: str | os.PathLike) -> tuple[np.ndarray, float, bool]:
    """Read any supported file -> (raw array, full-scale value, has_alpha); DatasetError on any failure."""
    if is_missing(path):
        raise DatasetError("no file given (path is empty / None)")
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"{p}: file not found")
    if not p.is_file():
        raise DatasetError(f"{p}: not a regular file")
    if p.stat().st_size == 0:
        raise DatasetError(f"{p}: file is empty (0 bytes)")
    try:
        return _pil_array(p)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, TypeError) as pil_err:
        is_tiff = p.suffix.lower() in _TIFF_EXT
        if not is_tiff:
            with open(p, "rb") as fh:
                is_tiff = fh.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
        if is_tiff:
            try:
                return _tiff_array(p)
            except Exception as tif_err:  # noqa: BLE001 - any tifffile failure is a dataset problem
                if isinstance(pil_err, _UseTifffile):  # e.g. a compression tifffile cannot decode
                    try:
                        return _pil_array(p, precise=False)  # 8-bit is better than nothing
                    except Exception:  # noqa: BLE001
                        pass
                raise DatasetError(f"{p}: unreadable TIFF (PIL: {pil_err}; tifffile: {tif_err})") from None
        msg = str(pil_err)
        if "truncated" in msg.lower():
            raise DatasetError(f"{p}: truncated / incomplete image file ({msg})") from None
        if isinstance(pil_err, UnidentifiedImageError):
            raise DatasetError(f"{p}: not an image file PIL or tifffile can decode") from None
        raise DatasetError(f"{p}: cannot decode image ({type(pil_err).__name__}: {msg})") from None


# ---------------------------------------------------------------------------------------- public API
def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(H, W) from the file header only (cheap); DatasetError when unreadable."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{p}: file not found")
    try:
        with Image.open(p) as im:
            w, h = im.size
            return int(h), int(w)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        pass
    try:
        import tifffile

        with tifffile.TiffFile(p) as tif:
            shape = tif.pages[0].shape
            planar = getattr(tif.pages[0], "planarconfig", None)
        if len(shape) == 3 and planar is not None and int(planar) == 2:
            return int(shape[1]), int(shape[2])
        return int(shape[0]), int(shape[1])
    except Exception:  # noqa: BLE001
        raise DatasetError(f"{p}: not an image file PIL or tifffile can read (header)") from None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as float32 ``(H, W, 3)`` in ``[0, 1]``.

    Greyscale is replicated to 3 channels; alpha is dropped (not composited); 16-bit files keep their
    precision (scaled by 65535).
    """
    raw, full, has_alpha = _read_array(path)
    if raw.ndim == 2:
        raw = raw[..., None]
    if has_alpha:
        raw = raw[..., :-1]
    c = raw.shape[-1]
    if c == 2:  # unusual two-sample image without alpha tag: use the first sample as grey
        raw = raw[..., :1]
    elif c > 3:
        raw = raw[..., :3]
    out = raw.astype(np.float32)
    if full != 1.0:
        out *= np.float32(1.0 / full)
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    return np.ascontiguousarray(out)


def read_mask(path: str | os.PathLike, threshold: float = 0.5, invert: bool = False) -> np.ndarray:
    """Read a ground-truth mask as bool ``(H, W)`` (``True`` = tampered) by the module's binarisation rule.

    ``threshold`` is on the [0, 1] scale of the file's own bit depth (0.5 ~ 127.5 for 8-bit);
    ``invert=True`` for datasets whose masks mark manipulated pixels black (NIST Nimble).
    """
    raw, full, has_alpha = _read_array(path)
    if raw.ndim == 2:
        value = raw
    else:
        channels = [raw[..., k] for k in range(raw.shape[-1])]
        if has_alpha:
            colour, alpha = channels[:-1], channels[-1]
            if all(c.min() == c.max() for c in colour) and alpha.min() != alpha.max():
                colour = [alpha]  # alpha-only mask
        else:
            colour = channels
        value = colour[0]
        for c in colour[1:]:
            value = np.maximum(value, c)
    out = value > threshold * full
    return ~out if invert else out


def decode_columbia_edgemask(arr: np.ndarray, spliced: str = "green") -> np.ndarray:
    """Binarise a Columbia (Hsu & Chang, ICME 2006) ``*_edgemask`` colour mask.

    The authors colour the two regions of each spliced image bright red and bright green (the object
    boundary may be drawn in a third colour). Public loaders of the dataset treat the *green* region as the
    spliced one and the red one as the host image (red channel >= 200 -> authentic); we follow that:
    ``spliced="green"`` -> tampered = green-dominant pixels (G > 0.5 and G > R). ``spliced="red"`` swaps
    the colours; ``spliced="smaller"`` picks whichever of the two colour regions is smaller (a spliced
    object is usually the smaller part). The masks are often JPEG, hence the dominance test instead of
    exact colours.

    ``arr``: float (H, W, >=3) in [0, 1] or uint8 (H, W, >=3).
    """
    a = np.asarray(arr)
    if a.ndim != 3 or a.shape[-1] < 3:
        raise DatasetError("Columbia edge mask must be an RGB image (H, W, 3)")
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    r, g = a[..., 0], a[..., 1]
    green = (g > 0.5) & (g > r + 0.1)
    red = (r > 0.5) & (r > g + 0.1)
    if spliced == "green":
        return green
    if spliced == "red":
        return red
    if spliced == "smaller":
        return green if green.sum() <= red.sum() else red
    raise ValueError(f"spliced must be 'green', 'red' or 'smaller', got {spliced!r}")


def apply_mask_fix(mask: np.ndarray, fix: str | None, shape: tuple[int, int]) -> np.ndarray:
    """Apply one of :data:`MASK_FIXES` so ``mask`` gets the image ``shape`` (H, W).

    ``transpose``: swap axes; ``crop``: crop / zero-pad at the bottom-right (top-left anchored);
    ``resize``: nearest-neighbour resize.
    """
    if is_missing(fix):
        return mask
    h, w = shape
    if fix == "transpose":
        return np.ascontiguousarray(mask.T)
    if fix == "crop":
        out = np.zeros((h, w), dtype=bool)
        mh, mw = min(h, mask.shape[0]), min(w, mask.shape[1])
        out[:mh, :mw] = mask[:mh, :mw]
        return out
    if fix == "resize":
        rows = np.minimum((np.arange(h) + 0.5) * mask.shape[0] / h, mask.shape[0] - 1).astype(int)
        cols = np.minimum((np.arange(w) + 0.5) * mask.shape[1] / w, mask.shape[1] - 1).astype(int)
        return np.ascontiguousarray(mask[rows][:, cols])
    raise DatasetError(f"unknown mask_fix {fix!r}; expected one of {MASK_FIXES}")


def _get(row: Mapping[str, Any] | Any, key: str, default: Any = None) -> Any:
    try:
        value = row[key]
    except (KeyError, IndexError, TypeError):
        return default
    return default if is_missing(value) else value


def read_pair(row: Mapping[str, Any] | Any, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Read one manifest row -> (image float32 (H, W, 3) in [0, 1], mask bool (H, W)).

    Uses the row's ``image`` and ``mask`` (None / NaN / "" -> all-False mask, i.e. authentic) and the
    adapter's per-row notes: ``mask_kind`` (``"columbia_edgemask"`` -> :func:`decode_columbia_edgemask`),
    ``mask_invert`` (bool), ``mask_fix`` (see :func:`apply_mask_fix`). A size mismatch no recorded fix
    resolves raises :class:`DatasetError` naming both files.
    """
    image_path = _get(row, "image")
    if image_path is None:
        raise DatasetError("manifest row has no 'image' path")
    image = read_image(image_path)
    shape = image.shape[:2]
    mask_path = _get(row, "mask")
    if mask_path is None:
        return image, np.zeros(shape, dtype=bool)
    kind = _get(row, "mask_kind")
    if kind == "columbia_edgemask":
        raw, full, _ = _read_array(mask_path)
        if raw.ndim == 2 or raw.shape[-1] < 3:
            raise DatasetError(f"{mask_path}: Columbia edge mask expected in colour, got greyscale")
        rgb = raw[..., :3].astype(np.float32) / np.float32(full)
        mask = decode_columbia_edgemask(rgb, spliced=_get(row, "mask_spliced_colour", "green"))
    else:
        mask = read_mask(mask_path, threshold=threshold, invert=bool(_get(row, "mask_invert", False)))
    fix = _get(row, "mask_fix")
    if mask.shape != shape:
        if fix is None:
            hint = " (mask looks transposed)" if mask.shape == shape[::-1] else ""
            raise DatasetError(
                f"{mask_path}: mask size {mask.shape[1]}x{mask.shape[0]} (WxH) does not match image "
                f"{image_path} size {shape[1]}x{shape[0]}{hint}, and no mask_fix rule is recorded"
            )
        mask = apply_mask_fix(mask, fix, shape)
        if mask.shape != shape:
            raise DatasetError(
                f"{mask_path}: mask_fix={fix!r} gives {mask.shape}, image {image_path} is {shape}"
            )
    return image, mask
