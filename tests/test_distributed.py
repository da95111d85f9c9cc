"""Multi-process training for real: 2 CPU processes under ``torchrun`` (gloo backend) through the package's
``fit`` (``paper-repro train``, the command the README gives for GPUs, with the device and process count
changed). Checks: both ranks end with identical weights, each rank trained on a different shard of every
epoch, only rank 0 wrote checkpoint files, and a run interrupted after 4 batches resumes from rank 0's
``last.pt`` to exactly the weights of the uninterrupted run."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch

EPOCHS, STEPS = 2, 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(ckpts, trace, *extra, cwd):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(_free_port()), "-m", "paper_repro.cli", "train", "reconwave-plain", "--profile", "smoke",
           "--checkpoints", str(ckpts), "--max-steps", str(STEPS), "--epochs", str(EPOCHS), "--trace", str(trace),
           *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


def _load(trace):
    return [torch.load(trace / f"rank{r}.pt", weights_only=False) for r in (0, 1)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    full = _torchrun(root / "ck-full", root / "trace-full", cwd=root)
    assert full.returncode == 0, full.stdout[-3000:] + full.stderr[-3000:]
    cut = _torchrun(root / "ck-resume", root / "trace-cut", "--stop-after", "4", cwd=root)
    assert cut.returncode != 0  # the simulated kill
    resumed = _torchrun(root / "ck-resume", root / "trace-resumed", cwd=root)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    return root, full, cut, resumed


def test_ranks_end_with_identical_weights(runs):
    root, *_ = runs
    r0, r1 = _load(root / "trace-full")
    assert r0["state_dict"] and set(r0["state_dict"]) == set(r1["state_dict"])
    for k, v in r0["state_dict"].items():
        assert torch.equal(v, r1["state_dict"][k]), k


def test_each_rank_trains_on_a_different_shard(runs):
    root, *_ = runs
    r0, r1 = _load(root / "trace-full")
    assert len(r0["seen"]) == len(r1["seen"]) > 0
    per_epoch = len(r0["seen"]) // EPOCHS
    for e in range(EPOCHS):
        a = set(r0["seen"][e * per_epoch:(e + 1) * per_epoch])
        b = set(r1["seen"][e * per_epoch:(e + 1) * per_epoch])
        assert a and b and not a & b, f"epoch {e}: the ranks saw the same images"


def test_only_rank_0_writes_checkpoints(runs):
    root, full, *_ = runs
    folder = root / "ck-full" / "reconwave-plain"
    assert (folder / "final.pt").is_file() and (folder / "last.pt").is_file()
    assert full.stdout.count("reconwave-plain:") == 1  # one summary line, from rank 0
    from paper_repro.train import load_model

    model = load_model(folder / "final.pt")
    r0, _ = _load(root / "trace-full")
    for k, v in model.state_dict().items():
        assert torch.equal(v, r0["state_dict"][k]), k


def test_interrupted_two_process_run_resumes_to_the_same_weights(runs):
    root, _, cut, resumed = runs
    assert "resume: continuing from" in resumed.stdout + resumed.stderr
    full0, _ = _load(root / "trace-full")
    res0, res1 = _load(root / "trace-resumed")
    assert 0 < len(res0["seen"]) < len(full0["seen"])  # it did not start over
    for k, v in full0["state_dict"].items():
        assert torch.equal(v, res0["state_dict"][k]) and torch.equal(v, res1["state_dict"][k]), k
