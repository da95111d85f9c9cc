"""Training speed of two versions of the package, measured in one run, interleaved: each round times the older
version and then the newer one (the order reversed every other round), each in a fresh process, so a change in
machine load hits both alike.

    python benchmarks/before_after.py --before 2acc148 [--after HEAD] [--profile cpu] [--models reconwave] \
        [--rounds 3] [--out benchmarks/before-after-cpu.csv]

A version is a git revision of this checkout (``--after WORKTREE`` measures the files as they are); each is
checked out into a temporary ``git worktree`` and imported from there. In each process and for each model
``paper_repro.bench`` measures, at the profile's size, batch, widths, precision (``"auto"`` resolved on this
machine) and layout:

- ``dense_matmul_flops``: the fp32 2048 x 2048 matrix product on this CPU (the ruler): the median of
  :func:`paper_repro.bench.dense_matmul_rate` taken three times before and three times after the model's
  training steps (a single reading scattered by +-20 % between processes on a 2-core virtual machine);
- ``train_ips_manual``: training images/s of the hand-written loop (:func:`paper_repro.bench.manual_fit`, the
  bench's ``warmup`` untimed and ``repeats x group`` timed steps of the profile's bench settings);
- ``matmul_share``: 3 x forward FLOPs x images/s over the dense-matmul rate of the same process.

One CSV row per version, round, model and measure (``bench``'s columns plus ``version``, ``revision`` and
``round``). The summary printed at the end is the median over rounds of each version and the ratio after /
before of the medians.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: what one measuring process runs (in the version's own tree, which is first on sys.path)
PROBE = r"""
import json, sys, time, statistics, torch
from paper_repro import bench, profiles
from paper_repro.train.callbacks import resolve_precision
prof = profiles.get(sys.argv[1])
st = bench.settings_for(prof.name)
dev = torch.device("cpu")
auto = resolve_precision(prof.precision, dev)
df, _ = bench._synthetic_frames(prof, max(st.n_synthetic, 2 * st.n_eval), False)
bs = prof.batch_size
imgs, masks = bench._pool_tensors(df, prof.size, max(2 * bs, 8))
pool = bench._Pool(imgs, masks, bs * (st.warmup + st.timed_steps + 1))
def ruler():
    # the dense-matmul rate, measured the same way for both versions: 3 x 5 timed products after a warm-up
    return [bench.dense_matmul_rate(dev, repeats=5)[0] for _ in range(3)]
rates = ruler()
out = []
for name in sys.argv[2].split(","):
    cfg = prof.model_cfg(name)
    flops = bench.count_flops(bench._fresh_model(name, cfg, prof.seed), prof.size)
    ips = bench._manual_ips(name, cfg, pool, bs, prof.lr[bench._stage_of(name)], auto, prof.channels_last, dev,
                            prof.seed, st, prof.optimizer)
    med = statistics.median(ips)
    rates += ruler()
    dense = statistics.median(rates)
    common = dict(model=name, precision=auto, channels_last=prof.channels_last, image_size=prof.image_size,
                  batch_size=bs, min=None, max=None, flops=flops)
    out.append(dict(common, measure="dense_matmul_flops", value=dense, unit="FLOP/s"))
    out.append(dict(common, measure="train_ips_manual", value=med, unit="images/s", min=min(ips), max=max(ips),
                    repeats=len(ips)))
    out.append(dict(common, measure="matmul_share", value=3 * flops * med / dense, unit="fraction"))
env = bench.environment(dev)
print("PROBE-JSON " + json.dumps([dict(r, **env, loadavg_1m=bench._loadavg()) for r in out]))
"""


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


def checkout(revision: str, into: Path) -> tuple[Path, str]:
    """The tree of ``revision`` (``WORKTREE``: this checkout as it is) and its commit id."""
    if revision == "WORKTREE":
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
        return ROOT, _git("rev-parse", "--short=12", "HEAD") + ("+uncommitted changes" if dirty else "")
    sha = _git("rev-parse", "--short=12", revision)
    _git("worktree", "add", "--detach", str(into), sha)
    return into, sha


def measure(tree: Path, profile: str, models: str) -> list[dict]:
    """One fresh process importing ``paper_repro`` from ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", PROBE, profile, models], cwd=tree, env=env, capture_output=True,
                          text=True)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE-JSON ")]
    if proc.returncode != 0 or not line:
        raise RuntimeError(f"measuring {tree} failed (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}")
    return json.loads(line[-1][len("PROBE-JSON "):])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="git revision of the older version")
    ap.add_argument("--after", default="WORKTREE", help="git revision of the newer one (default: this checkout)")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--models", default="reconwave", help="comma-separated")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None, help="append the rows to this CSV (bench's columns)")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    import pandas as pd

    from paper_repro.bench import append_csv
    from paper_repro.reference import provenance

    prov = provenance(ROOT)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        trees = {}
        try:
            for version, rev in (("before", args.before), ("after", args.after)):
                trees[version] = (*checkout(rev, Path(tmp) / version), rev)
            for r in range(args.rounds):
                order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
                for version in order:
                    tree, sha, rev = trees[version]
                    got = measure(tree, args.profile, args.models)
                    for row in got:
                        row.update(version=version, revision=sha, round=r, profile=args.profile,
                                   timestamp=prov["date"], measured_from=prov["commit"])
                    rows += got
                    share = [g["value"] for g in got if g["measure"] == "matmul_share"]
                    print(f"round {r} {version} ({sha}): matmul_share {share}", file=sys.stderr, flush=True)
        finally:
            for version, (tree, _, rev) in trees.items():
                if rev != "WORKTREE":
                    _git("worktree", "remove", "--force", str(tree))
    if args.out:
        append_csv(rows, args.out)
    df = pd.DataFrame(rows)
    summary = df.groupby(["model", "measure", "version"])["value"].median().unstack("version")
    summary["after / before"] = summary["after"] / summary["before"]
    with pd.option_context("display.float_format", lambda v: f"{v:.4g}", "display.width", 160):
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
