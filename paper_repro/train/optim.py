"""The training optimisers a profile can name (``Profile.optimizer``), built the same way for the package's
fastai loop (:func:`opt_func`) and for the hand-written reference loop of ``paper-repro bench``
(:func:`torch_optimizer`).

- ``"adam"``: fastai's ``Adam`` (betas (0.9, 0.99), eps 1e-5, decoupled weight decay 0.01, none on
  normalisation and bias parameters: fastai's ``wd_bn_bias=False``). A Python loop over the parameter
  tensors, several small ops each: about 12 ms per step for ReConWave-Net's 4 M parameters (201
  tensors) on the 2-core CPU, measured, i.e. ~1.5 % of a ``cpu``-profile step but a real share of a
  ``smoke`` step of a few tens of ms.
- ``"adamw"``: ``torch.optim.AdamW`` with the same hyper-parameters, wrapped in fastai's ``OptimWrapper``
  so fastai's schedulers drive it; ``fused=True`` on CPU and CUDA (one kernel over all tensors: 2.7 ms
  for the same model, measured), torch's default elsewhere. Parameters with ``ndim <= 1`` (norm
  weights, biases) form a group without weight decay, as fastai's default does for norm / bias
  parameters (the ``ndim`` rule is ours, the one timm's ``param_groups_weight_decay`` uses); a later
  ``set_hypers(wd=...)`` keeps that group at 0.

Both give the same update rule up to floating-point order, not bit-identical weights: a profile's
optimizer is part of each run's spec, so changing it retrains. Resume checkpoints store the optimiser's
own ``state_dict`` (fastai's format for ``"adam"``, torch's for ``"adamw"``) with its name;
:func:`load_opt_state` refuses a checkpoint written by the other one.
"""
from __future__ import annotations

from functools import lru_cache, partial

import torch

OPTIMIZERS = ("adam", "adamw")
BETAS, EPS, WD = (0.9, 0.99), 1e-5, 0.01


def _groups(params, wd: float) -> list[dict]:
    params = [p for p in params if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim > 1], "weight_decay": wd, "no_wd": False},
              {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0, "no_wd": True}]
    return [g for g in groups if g["params"]]


def _fused_ok(groups) -> bool:
    return all(p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float16, torch.bfloat16)
               for g in groups for p in g["params"])


def torch_optimizer(name: str, params, lr: float = 1e-3, wd: float = WD) -> torch.optim.Optimizer:
    """A plain torch optimiser with the update rule of ``name`` (for hand-written loops)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; optimizers: {', '.join(OPTIMIZERS)}")
    groups = _groups(params, wd)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=BETAS, eps=EPS, fused=_fused_ok(groups) or None)
    # "adam": fastai's Adam is decoupled weight decay without it on norm / bias, i.e. AdamW's rule
    return torch.optim.AdamW(groups, lr=lr, betas=BETAS, eps=EPS, foreach=False)


@lru_cache(maxsize=None)
def _wrapped_adamw():
    """The wrapper class, built once on first use (fastai is imported only when a fit needs it)."""
    from fastai.optimizer import OptimWrapper

    class AdamWWrapper(OptimWrapper):
        """fastai's ``OptimWrapper`` around fused AdamW whose no-decay group stays at weight decay 0.

        ``hypers`` and scalar ``set_hyper`` (what fastai's one-cycle scheduler and ``Recorder`` call about five
        times per batch) are computed directly from torch's param groups; fastai's generic versions went through
        ``detuplify_pg`` / ``L`` and cost ~0.4 ms per step, measured: 3 % of a ``smoke`` finetune step.
        The values are the same (tested).
        """

        @property
        def hypers(self):
            fwd = self.fwd_map
            out = []
            for pg in self.opt.param_groups:
                h = {}
                for k, v in pg.items():
                    if k == "params":
                        continue
                    if isinstance(v, (tuple, list)):
                        for i, x in enumerate(v):
                            name = f"{k}__{i}"
                            h[fwd.get(name, name)] = x
                    else:
                        h[fwd.get(k, k)] = v
                out.append(h)
            return out

        def set_hyper(self, k, v):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return self._set_hyper(k, [v] * len(self.opt.param_groups))
            return super().set_hyper(k, v)

        def _set_hyper(self, k, v):
            if k == "wd":
                v = [0.0 if pg.get("no_wd") else x for pg, x in zip(self.opt.param_groups, v)]
            return super()._set_hyper(k, v)

    return AdamWWrapper


def _build_adamw(params, lr: float = 1e-3, wd: float = WD):
    return _wrapped_adamw()(opt=torch_optimizer("adamw", params, lr=lr, wd=wd))


def opt_func(name: str):
    """fastai ``opt_func`` (``opt_func(params, lr=...)``) for the optimiser called ``name``."""
    if name == "adam":
        from fastai.optimizer import Adam

        return partial(Adam, mom=BETAS[0], sqr_mom=BETAS[1], eps=EPS, wd=WD)
    if name == "adamw":
        return _build_adamw
    raise ValueError(f"unknown optimizer {name!r}; optimizers: {', '.join(OPTIMIZERS)}")


def optimizer_name(opt) -> str:
    """``"adamw"`` for a wrapped torch optimiser, ``"adam"`` for fastai's own."""
    from fastai.optimizer import OptimWrapper

    return "adamw" if isinstance(opt, OptimWrapper) else "adam"


def opt_state(opt) -> dict:
    """What a resume checkpoint keeps of ``opt``: its name and its own ``state_dict``."""
    return {"optimizer": optimizer_name(opt), "state": opt.state_dict()}


def load_opt_state(opt, saved: dict, where: str = "checkpoint") -> None:
    """Restore :func:`opt_state`'s ``saved`` into ``opt``; a checkpoint of the other optimiser is refused.
    A checkpoint written before the name was stored holds fastai's ``{"state", "hypers"}``: ``"adam"``."""
    from fastcore.foundation import L

    if "optimizer" not in saved:  # older resume checkpoints: fastai's Adam state dict itself
        saved = {"optimizer": "adam", "state": saved}
    name = optimizer_name(opt)
    if saved["optimizer"] != name:
        raise RuntimeError(f"{where} was written with optimizer {saved['optimizer']!r}, this fit uses {name!r}; "
                           "delete it (or pass resume=False) to start afresh")
    st = saved["state"]
    if name == "adam":
        opt.load_state_dict({"state": st["state"], "hypers": L(st["hypers"])})
    else:
        opt.load_state_dict(st)
