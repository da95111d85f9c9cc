"""How long a profile's training takes on a machine whose step times were measured: steps x seconds per step.

    python benchmarks/wall_time_estimate.py --profile paper --data-root ../shared/data \
        --step-seconds reconwave=0.109 restorer=0.267 lpclnet=0.064 ncl=0.075 mpc=0.427 \
        [--classifier-seconds 0.267] [--finetune-seconds 0.427]

Every run of :data:`paper_repro.experiments.RUNS` is counted at the profile's budgets by
:func:`paper_repro.experiments.planned_steps` from the size of the profile's training part: CASIA v1's training
side is split exactly as the profile splits it (the manifest only, no image is read; a profile without
``photos-synthetic`` is split as it is); ``photos-synthetic`` counts
``n_synthetic x (1 - valid_fraction)`` items, a fifth of them authentic (``PHOTOS_SYNTHETIC``), which is the
profile's split to within the rounding of its groups. ``--step-seconds`` gives one measured training step (at the
profile's batch and size) per model; MPC's head (``mpc-finetune``) and the restorer's disturbance classifier
(trained alone first, once per seed) are priced with ``--finetune-seconds`` / ``--classifier-seconds``, by default
their whole model's step (an upper bound: the head trains on a frozen backbone, the classifier is a part of the
restorer). Evaluation, data synthesis and loading are not counted: the estimate is the training's compute.

Prints one row per run (steps, seconds per step, hours) and the total.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def training_rows(profile) -> tuple[int, int]:
    """``(rows, authentic rows)`` of the profile's training part (see the module docstring)."""
    from paper_repro.experiments import datasets_for
    from paper_repro.experiments.splits import PHOTOS_SYNTHETIC

    if "photos-synthetic" not in profile.train_datasets:  # nothing to synthesise: the profile's own split
        train = datasets_for(profile)[0]
        return len(train), int((train["label"].astype(int) == 0).sum())
    n, n_auth = 0, 0
    for spec in profile.train_datasets:
        if spec == "photos-synthetic":
            k = int(round(profile.n_synthetic * (1 - profile.valid_fraction)))
            n, n_auth = n + k, n_auth + int(round(PHOTOS_SYNTHETIC["authentic_fraction"] * k))
        else:
            only = profile.replace(train_datasets=(spec,), eval_datasets=("casia1:test",))
            train = datasets_for(only)[0]
            n, n_auth = n + len(train), n_auth + int((train["label"].astype(int) == 0).sum())
    return n, n_auth


def estimate(profile, step_seconds: dict[str, float], classifier_seconds: float | None = None,
             finetune_seconds: float | None = None):
    """The per-run table: :func:`planned_steps` with ``seconds_per_step`` and ``hours`` (classifier included)."""
    from paper_repro.experiments import planned_steps

    n, n_auth = training_rows(profile)
    plan = planned_steps(profile, n, n_auth)
    prices = dict(step_seconds)
    if "mpc-finetune" not in prices and (finetune_seconds or "mpc" in prices):
        prices["mpc-finetune"] = finetune_seconds or prices["mpc"]
    missing = sorted(set(plan["model"]) - set(prices))
    if missing:
        raise SystemExit(f"no step time for {', '.join(missing)}: give --step-seconds NAME=SECONDS")
    plan["seconds_per_step"] = plan["model"].map(prices)
    cls = classifier_seconds if classifier_seconds is not None else prices.get("restorer", 0.0)
    plan["hours"] = (plan["steps"] * plan["seconds_per_step"] + plan["classifier_steps"] * cls) / 3600
    return plan, n, n_auth


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="paper")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--step-seconds", nargs="+", required=True, metavar="MODEL=SECONDS")
    ap.add_argument("--classifier-seconds", type=float, default=None)
    ap.add_argument("--finetune-seconds", type=float, default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from paper_repro.experiments import profile_for

    prices = {}
    for item in args.step_seconds:
        name, _, value = item.partition("=")
        try:
            prices[name] = float(value)
        except ValueError:
            ap.error(f"--step-seconds: {item!r} is not MODEL=SECONDS")
    prof = profile_for(args.profile, args.data_root)
    plan, n, n_auth = estimate(prof, prices, args.classifier_seconds, args.finetune_seconds)
    print(f"profile {prof.name}: {n} training rows ({n_auth} authentic), batch {prof.batch_size}, {prof.size[0]} px")
    print(plan.round(3).to_string(index=False))
    print(f"total: {plan['steps'].sum() + plan['classifier_steps'].sum()} steps, {plan['hours'].sum():.1f} h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
