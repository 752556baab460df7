#!/usr/bin/env bash
# HMQ quick start on the embedded `digits` data (CPU, minutes): the search + fine-tune of hmq.main from the
# trained float baseline instead of random weights.
#   1. float tiny_resnet (python -m reproduce.baseline_digits --reuse: trained once, then read from its folder);
#   2. python -m hmq.main --pretrained <baseline>/weights.pth: N_EPOCHS search epochs with the Gumbel-Softmax bit
#      and threshold choice towards weight compression 8, then N_EPOCHS_FINAL fine-tune epochs with the hard choice.
# It prints the top-1 after the last fine-tune epoch (final.json "top1_last") and the hard weight compression
# (WCR), and fails below MIN_ACC or below MIN_WCR (a search that stayed at 8-bit weights gives WCR 4).
# Fine-tune epochs: the BatchNorm running statistics (momentum 0.1, 15 batches per epoch here) still carry the
# search stage's soft-quantizer statistics after one epoch, and a layer whose hard threshold is far below its
# expected soft one then breaks the eval-mode top-1 (hmq/README.md "Quick start"); 3 epochs refresh them.
#
# Usage: digits_quickstart.sh [OUT]   (default runs/hmq/digits)
# Environment: N_EPOCHS [3], N_EPOCHS_FINAL [3], BASE_EPOCHS [15], BASELINE [runs/baseline_digits/tiny_resnet],
#              MIN_ACC [50], MIN_WCR [6], PYTHON [python].
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
    --pretrained "$BASELINE/weights.pth" --n_epochs "${N_EPOCHS:-3}" --n_epochs_final "${N_EPOCHS_FINAL:-3}" \
    --batch_size 96 --num_workers 0 --cycle_size 1 --n_target_steps 2 --target_compression 8 --gamma 64 \
    --lr_start 1e-4 --lr_coefficient 2 --out "$OUT"

"$PY" - "$OUT" "${MIN_ACC:-50}" "${MIN_WCR:-6}" <<'PYEOF'
import json
import sys
from pathlib import Path

out, floor, min_wcr = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
final = json.loads((out / "final.json").read_text())
acc = final["top1_last"]
print(f"HMQ: top-1 {acc:.2f} % (float {final.get('float_top1', float('nan')):.2f} %), WCR {final.get('wcr', 0):.2f}")
if not acc >= floor:
    sys.exit(f"HMQ quick start FAILED: top-1 {acc:.2f} % < {floor} %")
if not final.get("wcr", 0) >= min_wcr:
    sys.exit(f"HMQ quick start FAILED: WCR {final.get('wcr', 0):.2f} < {min_wcr} (the search did not compress)")
print(f"quick start OK: top-1 {acc:.2f} %")
PYEOF
