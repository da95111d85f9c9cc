"""Reading a final checkpoint back (:func:`read_checkpoint`, :func:`load_model`) without the training stack:
``paper-repro predict`` and ``evaluate`` import only this (no fastai), so they start fast."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

_NON_ARCH_KEYS = ("backbone_state",)


def read_checkpoint(path) -> dict[str, Any]:
    """The payload of a ``final.pt`` (clear errors for a missing or foreign file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from None
    missing = [k for k in ("model_name", "model_cfg", "state_dict") if not isinstance(payload, dict) or k not in payload]
    if missing:
        raise ValueError(f"{path}: not a paper_repro final checkpoint (missing {missing}); "
                         "train with paper_repro.train.fit to make one")
    return payload


def load_model(path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model of a ``final.pt`` via ``models.create(model_name, **model_cfg)`` and load its weights.

    Returned in eval mode on ``device``; ``model.checkpoint`` holds the payload's ``metrics``, ``profile``
    and ``stage``.
    """
    from ..models import create

    payload = read_checkpoint(path)
    cfg = {k: v for k, v in payload["model_cfg"].items() if k not in _NON_ARCH_KEYS}
    if cfg.get("encoder", "scratch") != "scratch":
        cfg["pretrained"] = False  # the checkpoint holds every weight: skip reading the ImageNet file
    model = create(payload["model_name"], **cfg)
    model.load_state_dict(payload["state_dict"])
    model.checkpoint = {k: payload.get(k) for k in ("metrics", "profile", "stage", "seed")}
    model.checkpoint_path = str(path)
    return model.to(device).eval()
