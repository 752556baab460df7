#!/usr/bin/env bash
# ProQHA quick start on the embedded `digits` data (CPU, minutes), from the trained float baseline:
#   1. float tiny_resnet (python -m reproduce.baseline_digits --reuse: trained once, then read from its folder);
#   2. proqha/main/train.py --archtype quant --k_bits 8 from its weights (ProQHA's --arch tiny_resnet
#      --num_layers 10 has tiny_resnet's layer names): the uniform 8-bit start point, TRAIN_EPOCHS epoch(s);
#   3. proqha/main/search.py from that checkpoint: ROUNDS progressive rounds of LAM candidates each, every round
#      lowering half of the 16 quantizers by one bit and fine-tuning SEARCH_EPOCHS epoch(s);
#   4. proqha/measure/compute.py: the cost of the last round's bits.
# It prints the top-1 of the last round and fails below MIN_ACC.
#
# Usage: digits_quickstart.sh [OUT]   (default runs/proqha_digits)
# Environment: TRAIN_EPOCHS [1], ROUNDS [3], LAM [4], SEARCH_EPOCHS [1], BASE_EPOCHS [15],
#              BASELINE [runs/baseline_digits/tiny_resnet], MIN_ACC [50], PYTHON [python].
set -euo pipefail
if [[ $# -gt 1 ]]; then
    echo "usage: $(basename "$0") [OUT]" >&2
    exit 2
fi
OUT=${1:-${OUT:-runs/proqha_digits}}
OUT=${OUT%/}
PY=${PYTHON:-python}
BASELINE=${BASELINE:-runs/baseline_digits/tiny_resnet}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CUDA_VISIBLE_DEVICES=""   # CPU only
NET=(--dataset digits --data_dir digits --arch tiny_resnet --num_layers 10 --workers 0 --seed 0)

"$PY" -m reproduce.baseline_digits --arch tiny_resnet --epochs "${BASE_EPOCHS:-15}" --device cpu --seed 0 \
    --out "$BASELINE" --reuse
"$PY" "$HERE/main/train.py" "${NET[@]}" --archtype quant --k_bits 8 --ratio 1.0 --lr 0.001 --weight_decay 1e-4 \
    --clip --train_epochs "${TRAIN_EPOCHS:-1}" --resume "$BASELINE/weights.pth" --out "$OUT/train8" --reset
"$PY" "$HERE/main/search.py" "${NET[@]}" --base_data_dir digits --resume "$OUT/train8/checkpoint/model_best.pt" \
    --k_bits 8 --step "${ROUNDS:-3}" --lam "${LAM:-4}" --search_epochs "${SEARCH_EPOCHS:-1}" --lr 1e-3 \
    --out "$OUT/search" --reset
"$PY" - "$OUT" "${MIN_ACC:-50}" <<'PYEOF'
import json
import sys
from pathlib import Path

out, floor = Path(sys.argv[1]), float(sys.argv[2])
final = json.loads((out / "search" / "final.json").read_text())
acc = final["test_top1"]
print(f"ProQHA last round: top-1 {acc:.2f} %, cost {final['cost']:.4f}, bits {final['kbits']}")
if acc is None or not acc >= floor:
    sys.exit(f"ProQHA quick start FAILED: top-1 {acc} < {floor} %")
print(f"quick start OK: top-1 {acc:.2f} %")
PYEOF
