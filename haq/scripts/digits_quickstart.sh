#!/usr/bin/env bash
# HAQ quick start on the embedded `digits` data (CPU, minutes): from the trained float baseline, a short
# K-means search (the DDPG agent picks the bits per layer under --preserve_ratio 0.1 of the float size).
#   1. float tiny_resnet (python -m reproduce.baseline_digits --reuse: trained once, then read from its folder);
#   2. python -m haq.rl_quantize --pretrained <baseline>/weights.pth with EPISODES episodes, the first WARMUP random
#      (the original's 600/20 take about 50 min on two CPU cores).
# It prints the top-1 of the best policy (the episode with the highest reward, measured after the in-search
# fine-tune) and fails below MIN_ACC.
#
# Usage: digits_quickstart.sh [OUT]   (default runs/haq_digits)
# Environment: EPISODES [50], WARMUP [20], BASE_EPOCHS [15], BASELINE [runs/baseline_digits/tiny_resnet],
#              MIN_ACC [50], PYTHON [python].
set -euo pipefail
if [[ $# -gt 1 ]]; then
    echo "usage: $(basename "$0") [OUT]" >&2
    exit 2
fi
OUT=${1:-${OUT:-runs/haq_digits}}
OUT=${OUT%/}
PY=${PYTHON:-python}
BASELINE=${BASELINE:-runs/baseline_digits/tiny_resnet}
export CUDA_VISIBLE_DEVICES=""   # CPU only

"$PY" -m reproduce.baseline_digits --arch tiny_resnet --epochs "${BASE_EPOCHS:-15}" --device cpu --seed 0 \
    --out "$BASELINE" --reuse
"$PY" -m haq.rl_quantize --arch tiny_resnet --dataset digits --pretrained "$BASELINE/weights.pth" \
    --train_episode "${EPISODES:-50}" --warmup "${WARMUP:-20}" --train_size 512 --val_size 256 \
    --data_bsize 128 --n_worker 0 --device cpu --output "$OUT"

"$PY" - "$OUT" "${MIN_ACC:-50}" <<'PYEOF'
import csv
import sys
from pathlib import Path

out, floor = Path(sys.argv[1]), float(sys.argv[2])
rows = [row for f in sorted(out.glob("*/epochs.csv")) for row in csv.DictReader(f.open())]
if not rows:
    sys.exit(f"HAQ quick start FAILED: no epochs.csv under {out}")
best = max(rows, key=lambda r: float(r["reward"]))
acc = float(best["accuracy"])
print(f"HAQ best policy (episode {best['episode']}): top-1 {acc:.2f} %, reward {float(best['reward']):.4f}")
if not acc >= floor:
    sys.exit(f"HAQ quick start FAILED: top-1 {acc:.2f} % < {floor} %")
print(f"quick start OK: top-1 {acc:.2f} %")
PYEOF
