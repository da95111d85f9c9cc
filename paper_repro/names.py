"""One name per thing in what a reader sees: figures, the README and the notebooks' printed tables.

Tables keep their run keys (``reconwave-table``, ``restore-none`` ...; see ``experiments.RUNS``), which are
what code and caches use. Anything shown to a reader goes through :func:`display` (a run key or a table's
``method`` label -> the name the paper or the README gives it) and :func:`canonical` (one spelling of each
wavelet and of "unrestored" in free text, whatever an older table spelt).
"""
from __future__ import annotations

import re

__all__ = ["DISPLAY", "SPELLINGS", "display", "canonical"]

#: Run keys and table labels -> the name a reader sees. The paper's spellings where it has the row
#: (Haar, Symlet4, Biorthogonal4.4; Swin / ViT / deformable attention).
DISPLAY: dict[str, str] = {
    "reconwave": "ReConWave-Net (shipped)",
    "reconwave-table": "ReConWave-Net",
    "reconwave-table-seed1": "ReConWave-Net, seed 1",
    "reconwave-table-seed2": "ReConWave-Net, seed 2",
    "reconwave-table-augmented": "ReConWave-Net, trained on disturbed photos",
    "reconwave-plain": "U-Net",
    "reconwave-dwfel": "U-Net + DWFEL",
    "reconwave-contrastive": "U-Net + contrastive",
    "reconwave-sym4": "Symlet4",
    "reconwave-bior4.4": "Biorthogonal4.4",
    "restorer": "restorer (shipped)",
    "reconwave_restorer": "restorer (shipped)",
    "restorer-table": "restorer (Swin)",
    "restorer-vit": "restorer (ViT)",
    "restorer-deformable": "restorer (deformable)",
    "restorer-l1": "restorer (L1 loss)",
    "restore-none": "unrestored",
    "unrestored": "unrestored",
    "restore-classical": "classical correction",
    "classical": "classical correction",
    "restore-oracle": "oracle",
    "oracle": "oracle",
    "retinexformer": "Retinexformer (paper)",
    "msec_net": "MSEC-Net (paper)",
    "lpclnet": "LPCLNet",
    "ncl": "NCL",
    "mpc": "MPC",
    "mpc-pretrain": "MPC stage 1",
    "all-tampered": "all-tampered",
}

#: Variant spellings -> the one used everywhere a reader looks (case-sensitive, whole words).
SPELLINGS: dict[str, str] = {
    "Symlet-4": "Symlet4",
    "Symlet 4": "Symlet4",
    "biorthogonal 4.4": "Biorthogonal4.4",
    "Biorthogonal 4.4": "Biorthogonal4.4",
    "bior4.4 wavelet": "Biorthogonal4.4",
}


def display(key: str) -> str:
    """The reader's name of a run key or table label; ``detector+restorer`` reads "detector behind restorer"
    (``reconwave-table+restorer-table`` -> ``ReConWave-Net + restorer (Swin)``). Unknown keys come back as they are."""
    key = str(key)
    if key in DISPLAY:
        return DISPLAY[key]
    if "+" in key:
        det, res = key.split("+", 1)
        if det in DISPLAY and res in DISPLAY:
            return f"{DISPLAY[det]} + {DISPLAY[res]}"
    return key


def canonical(text: str) -> str:
    """``text`` with every variant spelling of :data:`SPELLINGS` replaced by its one spelling."""
    for old, new in SPELLINGS.items():
        text = re.sub(rf"(?<![\w-]){re.escape(old)}(?![\w-])", new, text)
    return text
