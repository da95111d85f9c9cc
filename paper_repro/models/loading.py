"""One door to a model: :func:`load` takes a model, a ``final.pt`` path, a registered model name or any
reference kind registered in :data:`REFERENCE_KINDS` (``paper_repro.experiments`` registers its run keys), and
returns the model in eval mode. :func:`read_checkpoint` / :func:`load_checkpoint` read a ``final.pt`` back
without the training stack (no fastai), so ``paper-repro predict`` starts fast.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..registry import Registry
from .registry import MODELS, create

#: configuration keys a checkpoint stores beside the architecture (not arguments of the factory)
NON_ARCH_KEYS = ("backbone_state",)

#: model references that are neither a file nor a model name: kind -> ``fn(ref: str, profile) -> path | None``
#: (``None``: not a reference of this kind), or the ``"module:function"`` where that function lives, imported on
#: first use, as a plug-in's entry point is (the models layer never imports the experiments layer at import
#: time): the run keys of :data:`paper_repro.experiments.RUNS`, trained on ``profile`` if needed.
REFERENCE_KINDS = Registry("model reference kind")
REFERENCE_KINDS.register("run key", "paper_repro.experiments.runs:resolve_run_key")


def _resolver(kind: str):
    fn = REFERENCE_KINDS[kind]
    if isinstance(fn, str):
        import importlib

        module, _, name = fn.partition(":")
        fn = getattr(importlib.import_module(module), name)
    return fn


class UnknownModelError(FileNotFoundError, KeyError):
    """A reference that names no checkpoint file, registered model or registered reference."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


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


def load_checkpoint(path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model of a ``final.pt`` via ``create(model_name, **model_cfg)`` and load its weights.

    Returned in eval mode on ``device``; ``model.checkpoint`` holds the payload's ``metrics``, ``profile``,
    ``stage`` and ``seed``, ``model.checkpoint_path`` the file.
    """
    payload = read_checkpoint(path)
    cfg = {k: v for k, v in payload["model_cfg"].items() if k not in NON_ARCH_KEYS}
    if cfg.get("encoder", "scratch") != "scratch":
        cfg["pretrained"] = False  # the checkpoint holds every weight: skip reading the ImageNet file
    model = create(payload["model_name"], **cfg)
    model.load_state_dict(payload["state_dict"])
    model.checkpoint = {k: payload.get(k) for k in ("metrics", "profile", "stage", "seed")}
    model.checkpoint_path = str(path)
    return model.to(device).eval()


def resolve(ref, profile=None) -> str:
    """A string reference -> the checkpoint file it names, or the registered model name itself.

    In this order: an existing file; with a ``profile``, a reference of a registered kind (a run key: ``reconwave``
    is then the profile's trained shipped detector, not an untrained model of that name); a registered model
    name; without a profile, the registered kinds (a run key then asks for a profile)."""
    ref = os.fspath(ref)
    if os.path.isfile(ref):
        return ref

    def by_kind():
        for kind in REFERENCE_KINDS:
            path = _resolver(kind)(ref, profile)
            if path is not None:
                return os.fspath(path)
        return None

    if profile is not None and (path := by_kind()) is not None:
        return path
    if ref in MODELS:
        return ref
    if profile is None and (path := by_kind()) is not None:
        return path
    kinds = "".join(f", a {k}" for k in REFERENCE_KINDS)
    raise UnknownModelError(f"{ref}: neither a checkpoint file nor a registered model{kinds} "
                            f"(models: {', '.join(sorted(MODELS))})")


def load(ref, profile=None, device: str | torch.device = "cpu", channels_last: bool = False) -> nn.Module:
    """The model ``ref`` names, in eval mode on ``device`` (NHWC memory format with ``channels_last``).

    ``ref``: an ``nn.Module`` (moved, not copied); a ``final.pt`` path; a reference of a kind in
    :data:`REFERENCE_KINDS` (a run key of ``paper_repro.experiments``, trained on ``profile`` if needed); or a
    registered model name (built with its factory's defaults: ``restore-none``, ``restore-oracle``,
    ``all-tampered`` ...). With a ``profile``, a run key wins over a model name of the same spelling
    (:func:`resolve`).
    """
    if isinstance(ref, (str, os.PathLike)):
        target = resolve(ref, profile)
        model = create(target) if target in MODELS and not os.path.isfile(target) else load_checkpoint(target)
    elif isinstance(ref, nn.Module):
        model = ref
    else:
        raise TypeError(f"expected an nn.Module, a checkpoint path or a model name, got {type(ref).__name__}")
    model = model.to(device).eval()
    return model.to(memory_format=torch.channels_last) if channels_last else model
