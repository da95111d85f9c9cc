#!/usr/bin/env bash
# One prepared GPU check (< 8 minutes on one modern GPU). Run from the project root on a machine with CUDA:
#   bash benchmarks/gpu_check.sh
# 1. paper-repro bench on the GPU at the `paper` profile's size and widths for the main models: MFU against
#    the GPU's dense bf16 peak, the AMP speed-up, peak GPU memory at the paper's batch size;
# 2. a few hundred optimiser steps of the `paper` profile's ReConWave-Net (512x512, width 64, AMP, channels-last,
#    uncached loader with workers) on the built-in synthetic set, whose loss must fall;
# Results go to benchmarks/gpu-check-<date>-{bench,train}.csv (commit them).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
STAMP=$(date +%F)
$PY - <<'PYEOF'
import torch, sys
if not torch.cuda.is_available():
    sys.exit("gpu_check: no CUDA device visible to torch; nothing to check")
print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__)
PYEOF
timeout 300 $PY -m paper_repro.cli bench --device cuda --profile paper --models reconwave restorer lpclnet ncl mpc \
    --json --out "benchmarks/gpu-check-${STAMP}-bench.csv" > /dev/null
timeout 240 $PY benchmarks/gpu_train_check.py --steps "${STEPS:-300}" --out "benchmarks/gpu-check-${STAMP}-train.csv"
echo "gpu_check: results in benchmarks/gpu-check-${STAMP}-*.csv"
