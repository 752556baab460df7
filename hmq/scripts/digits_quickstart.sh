#!/usr/bin/env bash
# HMQ quick start on the embedded `digits` data (CPU, minutes): the search + fine-tune of hmq.main from the
# trained float baseline instead of random weights.
#   1. float tiny_resnet (python -m reproduce.baseline_digits --reuse: trained once, then read from its folder);
#   2. python -m hmq.main --pretrained <baseline>/weights.pth: N_EPOCHS search epochs with the Gumbel-Softmax bit
#      and threshold choice towards weight compression 8, then N_EPOCHS_FINAL fine-tune epochs with the hard choice.
# It prints the top-1 after the last fine-tune epoch (final.json "top1_last") and fails below MIN_ACC.
#
# Usage: digits_quickstart.sh [OUT]   (default runs/hmq/digits)
# Environment: N_EPOCHS [3], N_EPOCHS_FINAL [1], BASE_EPOCHS [15], BASELINE [runs/baseline_digits/tiny_resnet],
#              MIN_ACC [50], PYTHON [python].
set -euo pipefail
if [[ $# -gt 1 ]]; then
    echo "usage: $(basename "$0") [OUT]" >&2
    exit 2
fi
OUT=${1:-${OUT:-runs/hmq/digits}}
OUT=${OUT%/}
PY=${PYTHON:-python}
BASELINE=${BASELINE:-runs/baseline_digits/tiny_resnet}
export CUDA_VISIBLE_DEVICES=""   # CPU only

"$PY" -m reproduce.baseline_digits --arch tiny_resnet --epochs "${BASE_EPOCHS:-15}" --device cpu --seed 0 \
    --out "$BASELINE" --reuse
"$PY" -m hmq.main --dataset digits --data_dir digits --network_name tiny_resnet --image_size 32 \
    --pretrained "$BASELINE/weights.pth" --n_epochs "${N_EPOCHS:-3}" --n_epochs_final "${N_EPOCHS_FINAL:-1}" \
    --batch_size 96 --num_workers 0 --cycle_size 1 --n_target_steps 2 --target_compression 8 --gamma 64 \
    --lr_start 1e-4 --lr_coefficient 0.5 --out "$OUT"

"$PY" - "$OUT" "${MIN_ACC:-50}" <<'PYEOF'
import json
import sys
from pathlib import Path

out, floor = Path(sys.argv[1]), float(sys.argv[2])
final = json.loads((out / "final.json").read_text())
acc = final["top1_last"]
print(f"HMQ: top-1 {acc:.2f} % (float {final.get('float_top1', float('nan')):.2f} %), WCR {final.get('wcr', 0):.2f}")
if not acc >= floor:
    sys.exit(f"HMQ quick start FAILED: top-1 {acc:.2f} % < {floor} %")
print(f"quick start OK: top-1 {acc:.2f} %")
PYEOF
