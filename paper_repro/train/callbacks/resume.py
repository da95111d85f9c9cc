"""Atomic resume checkpoints (:class:`CheckpointResumeCallback`): model, optimiser, scaler, schedule
position, epoch / iteration, recorder and random states, every epoch, every ``every_n_batches`` and on
interruption; a killed and resumed run ends with the weights of an uninterrupted one."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from fastai.callback.core import Callback
from fastai.callback.schedule import ParamScheduler
from fastai.torch_core import get_model, rank_distrib

from ...files import atomic_write
from ..optim import load_opt_state, opt_state
from .seeding import get_rng_state

RESUME_FORMAT = "paper_repro.resume/1"


# ---------------------------------------------------------------------------------- checkpoint / resume
def atomic_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path.tmp`` then ``os.replace`` -> a reader never sees a half-written file."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def _builtin(v):
    """fastcore ``L`` / tuples -> lists, recursively (tensors kept): ``weights_only``-safe containers."""
    if isinstance(v, dict):
        return {k: _builtin(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)) or type(v).__name__ == "L":
        return [_builtin(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _plain(v):
    """Recorder values -> python floats / ints / strings (safe for ``weights_only`` loading)."""
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().item() if v.numel() == 1 else v.detach().cpu()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


class CheckpointResumeCallback(Callback):
    """Atomic resume checkpoints, and exact resumption at fit start.

    Saved to ``ckpt_dir/last.pt`` (``tmp`` + ``os.replace``): after every epoch; every ``every`` training
    batches when ``every`` is an int (or ``every_n_batches``); and when the fit is interrupted
    (``CancelFitException`` or ``KeyboardInterrupt``/any exception) between two batches. An
    interruption in the middle of a batch (the step may be half done) keeps the previous checkpoint.

    Contents: model and optimiser state, ``GradScaler`` state (fp16), epoch and batches done in it,
    ``train_iter`` and ``pct_train`` (the one-cycle schedule position), the recorder's history (and
    fastai's smooth loss), the ``ParamScheduler`` history, the states of callbacks that define
    ``get_state``/``set_state`` (loss parts), and the python / numpy / torch / CUDA RNG states.

    On ``before_fit``, if ``last.pt`` exists and ``resume`` is true: everything is restored, finished
    epochs are skipped, the interrupted epoch replays the (per-epoch seeded) data order without training
    on the finished batches, and RNG states are restored right where they were saved. With the same seed
    and data the final weights and metrics equal those of an uninterrupted run. A checkpoint made with a
    different number of epochs or batches per epoch raises (delete it or pass ``resume=False``).
    """

    order = 95  # last: sees the recorder / scheduler / TrainEval state of each batch

    def __init__(self, ckpt_dir: str | os.PathLike, every: str | int = "epoch", resume: bool = True,
                 fname: str = "last.pt", verbose: bool = True, every_n_batches: int | None = None):
        if every != "epoch" and not (isinstance(every, int) and every > 0):
            raise ValueError(f"every must be 'epoch' or a positive number of batches, got {every!r}")
        if isinstance(every, int):
            every_n_batches = every
        self.ckpt_dir, self.fname = Path(ckpt_dir), fname
        self.every_n_batches = int(every_n_batches) if every_n_batches else None
        self.resume, self.verbose = resume, verbose
        self._in_batch = False
        self._active = False

    @property
    def path(self) -> Path:
        return self.ckpt_dir / self.fname

    # ---- state ------------------------------------------------------------------------------
    def _stateful_cbs(self):
        return {type(cb).__name__: cb for cb in self.learn.cbs if cb is not self and hasattr(cb, "get_state")}

    def _state(self, epoch: int, batches_done: int, rng: dict, pct_train: float, train_iter: int) -> dict:
        learn = self.learn
        rec = getattr(learn, "recorder", None)
        state = {
            "format": RESUME_FORMAT,
            "epoch": int(epoch), "batches_done": int(batches_done),
            "n_epoch": int(learn.n_epoch), "n_iter": int(learn.train_batches()),
            "train_iter": int(train_iter), "pct_train": float(pct_train),
            "model": get_model(learn.model).state_dict(),
            "opt": _builtin(opt_state(learn.opt)) if learn.opt is not None else None,
            "rng": rng,
            "cb_states": {k: cb.get_state() for k, cb in self._stateful_cbs().items()},
        }
        scaler = getattr(learn, "scaler", None)
        if scaler is not None and hasattr(scaler, "state_dict"):
            state["scaler"] = scaler.state_dict()
        if rec is not None:
            state["recorder"] = {
                "lrs": _plain(list(getattr(rec, "lrs", []))), "iters": _plain(list(getattr(rec, "iters", []))),
                "losses": _plain(list(getattr(rec, "losses", []))),
                "values": _plain([list(v) for v in getattr(rec, "values", [])]),
                "smooth": [int(rec.smooth_loss.count), rec.smooth_loss.val.detach().cpu().float()],
            }
            if hasattr(rec, "hps"):
                state["recorder"]["hps"] = _plain(rec.hps)
        sched = [cb for cb in learn.cbs if isinstance(cb, ParamScheduler)]
        if sched and hasattr(sched[0], "hps"):
            state["hps"] = _plain(sched[0].hps)
        return state

    def save(self, epoch: int, batches_done: int, rng: dict | None = None, pct_train=None, train_iter=None) -> Path | None:
        if rank_distrib() != 0:
            return None
        st = self._state(epoch, batches_done, rng if rng is not None else get_rng_state(),
                         self.learn.pct_train if pct_train is None else pct_train,
                         self.learn.train_iter if train_iter is None else train_iter)
        return atomic_save(st, self.path)

    def load_state(self) -> dict:
        try:
            st = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"{self.path}: cannot read resume checkpoint ({type(e).__name__}: {e}); "
                               "delete it to start afresh") from None
        if not isinstance(st, dict) or st.get("format") != RESUME_FORMAT:
            raise RuntimeError(f"{self.path}: not a paper_repro resume checkpoint")
        return st

    # ---- events -----------------------------------------------------------------------------
    def before_fit(self):
        if not hasattr(self.learn, "train_batches"):
            raise TypeError("CheckpointResumeCallback needs a paper_repro.train.ResumableLearner (make_learner builds one)")
        self._active, self._in_batch, self._saved_epoch = True, False, -1
        self._done, self._trained, self._last = 0, False, None
        self.learn.resume_epoch, self.learn.resume_point, self.learn.resumed_from = 0, None, None
        if not (self.resume and self.path.exists()):
            return
        st = self.load_state()
        learn = self.learn
        n_iter = learn.train_batches()
        if st["n_epoch"] != learn.n_epoch or st["n_iter"] != n_iter:
            raise RuntimeError(
                f"{self.path} was written by a fit of {st['n_epoch']} epochs x {st['n_iter']} batches, this fit has "
                f"{learn.n_epoch} x {n_iter}; delete the checkpoint (or pass resume=False) to start afresh")
        get_model(learn.model).load_state_dict(st["model"])
        if st.get("opt") is not None:
            load_opt_state(learn.opt, st["opt"], where=str(self.path))
        if st.get("scaler") is not None and getattr(learn, "scaler", None) is not None:
            learn.scaler.load_state_dict(st["scaler"])
        rec = getattr(learn, "recorder", None)
        if rec is not None and "recorder" in st:
            r = st["recorder"]
            rec.lrs, rec.iters, rec.losses = list(r["lrs"]), list(r["iters"]), list(r["losses"])
            from fastcore.foundation import L

            rec.values = [L(v) for v in r["values"]]
            rec.smooth_loss.count, rec.smooth_loss.val = int(r["smooth"][0]), r["smooth"][1]
            if rec.values:
                learn.final_record = rec.values[-1].copy()
        if "hps" in st:
            for cb in learn.cbs:
                if isinstance(cb, ParamScheduler):
                    cb.hps = {k: list(v) for k, v in st["hps"].items()}
        cbs = self._stateful_cbs()
        for k, s in st.get("cb_states", {}).items():
            if k in cbs:
                cbs[k].set_state(s)
        learn.train_iter = st["train_iter"]
        learn.resume_epoch = st["epoch"]
        learn.resume_point = {"epoch": st["epoch"], "skip": st["batches_done"], "pct_train": st["pct_train"],
                              "train_iter": st["train_iter"], "rng": st["rng"]}
        self._saved_epoch = st["epoch"] - 1 if st["batches_done"] == 0 else -1
        learn.resumed_from = (st["epoch"], st["batches_done"])
        if self.verbose and rank_distrib() == 0:
            where = (f"epoch {st['epoch'] + 1}, batch {st['batches_done']}" if st["batches_done"]
                     else f"the start of epoch {st['epoch'] + 1}")
            if st["epoch"] >= learn.n_epoch:
                print(f"resume: {self.path} holds a finished fit of {learn.n_epoch} epochs; nothing to train")
            else:
                print(f"resume: continuing from {self.path} at {where} of {learn.n_epoch}")

    def before_epoch(self):
        self._done, self._trained = 0, False
        res = getattr(self.learn, "resume_point", None)
        if res is not None and res["epoch"] == self.epoch:
            self._done = res["skip"]

    def before_batch(self):
        if self.training:
            self._in_batch = True

    def after_batch(self):
        if not self.training:
            return
        self._in_batch = False
        self._done = self.iter + 1
        self._last = (get_rng_state(), float(self.learn.pct_train), int(self.learn.train_iter))
        if self.every_n_batches and self._done % self.every_n_batches == 0 and self._done < self.learn.n_iter:
            self.save(self.epoch, self._done, *self._last)

    def after_train(self):
        self._trained = True

    def after_epoch(self):
        self.save(self.epoch + 1, 0)
        self._saved_epoch = self.epoch

    def after_cancel_fit(self):
        self.on_interrupt()

    def after_fit(self):
        self._active = False

    def on_interrupt(self):
        """Save the position reached if the fit stopped between two training batches of an unsaved epoch."""
        if not self._active or self._in_batch or self._last is None or self._done == 0:
            return
        if self._saved_epoch == self.epoch or getattr(self.learn, "fit_completed", False):
            return  # saved already, or a deliberate stop (KeepBestCallback): nothing to resume
        rng, pct, it = self._last
        done = self.learn.train_batches() if self._trained else self._done
        try:
            path = self.save(self.epoch, done, rng, pct, it)
        except Exception as e:  # noqa: BLE001 - never mask the original interruption
            warnings.warn(f"could not save the interrupted state to {self.path}: {e}")
            return
        self._active = False
        if path is not None and self.verbose:
            print(f"interrupted: saved epoch {self.epoch + 1}, batch {done} to {path}; rerun to resume")
