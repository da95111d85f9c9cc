"""Per-epoch records: :class:`LossPartsCallback` (the loss's named parts, beside the recorder's table, in a
CSV) and :class:`EpochLogCallback` (one plain-text line per epoch)."""
from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path

import torch
from fastai.callback.core import Callback
from fastai.torch_core import rank_distrib

from ...files import atomic_write


# ------------------------------------------------------------------------------------------- logging
def _as_float(v):
    if isinstance(v, torch.Tensor):
        return float(v.detach().float().mean())
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


class LossPartsCallback(Callback):
    """Per-epoch means of ``learn.loss_func.parts`` (train and valid) -> ``recorder.loss_parts`` and a CSV.

    ``csv_path``: when given, after every epoch the recorder's table (epoch, train_loss, valid_loss,
    metrics) plus the loss parts (``train_<part>``, ``valid_<part>``) is rewritten atomically there.
    """

    order = 55  # after Recorder (50) so the epoch's row exists

    def __init__(self, csv_path: str | os.PathLike | None = None):
        self.csv_path = Path(csv_path) if csv_path is not None else None
        self.history: list[dict] = []

    def before_fit(self):
        self.history = []
        if hasattr(self.learn, "recorder"):
            self.learn.recorder.__dict__["loss_parts"] = self.history  # plain attribute, no shadowing warning

    def before_epoch(self):
        self._sums, self._counts = {}, {}
        pending = getattr(self, "_pending", None)
        if pending is not None:  # resuming inside this epoch
            self._sums = {k: torch.tensor(v) for k, v in pending[0].items()}
            self._counts = dict(pending[1])
            self._pending = None

    def after_batch(self):
        parts = getattr(self.learn.loss_func, "parts", None)
        if not parts:
            return
        split = "train" if self.training else "valid"
        for k, v in parts.items():
            key = f"{split}_{k}"
            self._sums[key] = self._sums.get(key, 0.0) + v.detach().float()
            self._counts[key] = self._counts.get(key, 0) + 1

    def after_epoch(self):
        row = {"epoch": int(self.epoch)}
        row.update({k: float(self._sums[k]) / self._counts[k] for k in sorted(self._sums)})
        self.history.append(row)
        self._sums, self._counts = {}, {}
        if self.csv_path is not None and rank_distrib() == 0:
            self.write_csv()

    def table(self) -> list[dict]:
        """One dict per epoch: the recorder's values and the loss parts."""
        rec = getattr(self.learn, "recorder", None)
        names = [n for n in (list(rec.metric_names)[1:] if rec is not None else []) if n != "time"]
        rows = []
        for i, parts in enumerate(self.history):
            row = {"epoch": parts["epoch"]}
            if rec is not None and i < len(rec.values):
                row.update({n: _as_float(v) for n, v in zip(names, rec.values[i])})
            row.update({k: v for k, v in parts.items() if k != "epoch"})
            rows.append(row)
        return rows

    def write_csv(self):
        rows = self.table()
        if not rows:
            return
        cols = list(dict.fromkeys(k for r in rows for k in r))

        def write(tmp):
            with open(tmp, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=cols)
                w.writeheader()
                w.writerows(rows)

        atomic_write(self.csv_path, write)

    # resume support (see CheckpointResumeCallback): the history and this epoch's training sums
    def get_state(self):
        train = {k: float(v) for k, v in getattr(self, "_sums", {}).items() if k.startswith("train_")}
        counts = {k: self._counts[k] for k in train}
        return {"history": [dict(r) for r in self.history], "sums": train, "counts": counts}

    def set_state(self, state):
        self.history[:] = [dict(r) for r in state["history"]]
        self._pending = (dict(state.get("sums", {})), dict(state.get("counts", {})))


class EpochLogCallback(Callback):
    """One plain-text line per epoch (``epoch 2/3  train_loss 0.41  valid_loss 0.44  f1 0.62  (3.1s)``).

    Replaces fastai's table logger; with ``quiet=True`` the Learner has no progress bars either, so
    papermill notebooks stay small.
    """

    order = 60

    def __init__(self, print_fn=print):
        self.print_fn = print_fn

    def before_fit(self):
        self._old_logger = self.learn.logger
        self.learn.logger = lambda *a, **k: None
        self._t0 = time.time()

    def before_epoch(self):
        self._t = time.time()

    def after_epoch(self):
        if rank_distrib() != 0:  # one line per epoch, not one per process
            return
        rec = self.learn.recorder
        names = [n for n in list(rec.metric_names)[1:] if n != "time"]
        vals = getattr(self.learn, "final_record", None) or []
        fields = []
        for n, v in zip(names, vals):
            v = _as_float(v)
            fields.append(f"{n} {v:.4f}" if isinstance(v, float) and math.isfinite(v) else f"{n} {v}")
        parts = getattr(rec, "loss_parts", None)
        if parts:
            fields += [f"{k} {v:.4f}" for k, v in parts[-1].items() if k.startswith("train_") and k != "epoch"]
        self.print_fn(f"epoch {self.epoch + 1}/{self.n_epoch}  " + "  ".join(fields) + f"  ({time.time() - self._t:.1f}s)")

    def after_fit(self):
        self.learn.logger = self._old_logger


