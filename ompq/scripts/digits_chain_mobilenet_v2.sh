#!/usr/bin/env bash
# OMPQ MobileNetV2 PTQ chain on the embedded `digits` data (CPU), ending with a reload of the saved model:
#   1. float tiny_mobilenet_v2 (torchvision MobileNetV2 at width 0.25; python -m reproduce.baseline_digits --reuse);
#   2. orthogonality search (PTQ, model size MODEL_SIZE MB) from those weights;
#   3. BRECQ PTQ (W from the search, A8) -> <OUT>/ptq/quantized_model.pth;
#   4. python -m ompq.PTQ.evaluate <OUT>/ptq: the saved model rebuilt in a new process must give the PTQ's top-1.
# It fails when the reloaded top-1 differs from the PTQ's or is below MIN_ACC.
#
# Usage: digits_chain_mobilenet_v2.sh [OUT]   (default runs/ompq_digits_mbv2)
# Environment: MODEL_SIZE [0.09], ITERS_W [200], ITERS_A [100], BASE_EPOCHS [15],
#              BASELINE [runs/baseline_digits/tiny_mobilenet_v2], MIN_ACC [50], PYTHON [python].
set -euo pipefail
if [[ $# -gt 1 ]]; then
    echo "usage: $(basename "$0") [OUT]" >&2
    exit 2
fi
OUT=${1:-${OUT:-runs/ompq_digits_mbv2}}
OUT=${OUT%/}
PY=${PYTHON:-python}
BASELINE=${BASELINE:-runs/baseline_digits/tiny_mobilenet_v2}
export CUDA_VISIBLE_DEVICES=""   # CPU only
step() { echo "=== $(date +%H:%M:%S) $*" >&2; }

step "1/4 float baseline"
"$PY" -m reproduce.baseline_digits --arch tiny_mobilenet_v2 --epochs "${BASE_EPOCHS:-15}" --device cpu --seed 0 \
    --out "$BASELINE" --reuse
mkdir -p "$OUT/float/checkpoint"   # feature_extract reads <--path>/checkpoint/model_best.pth.tar
cp "$BASELINE/weights.pth" "$OUT/float/checkpoint/model_best.pth.tar"

step "2/4 search (PTQ, ${MODEL_SIZE:-0.09} MB)"
"$PY" -m ompq.mixed_bit.feature_extract --model tiny_mobilenet_v2 --dataset digits --save_path digits \
    --model_size "${MODEL_SIZE:-0.09}" --beta 100 --quant_type PTQ --path "$OUT/float" --out "$OUT/search_ptq"

step "3/4 BRECQ PTQ"
"$PY" -m ompq.PTQ.main_imagenet --data_path digits --arch tiny_mobilenet_v2 --n_bits_w 2 --channel_wise \
    --n_bits_a 8 --act_quant --test_before_calibration --bit_config "$OUT/search_ptq/bit_config.json" \
    --num_samples 256 --iters_w "${ITERS_W:-200}" --iters_a "${ITERS_A:-100}" --weights "$BASELINE/weights.pth" \
    --device cpu --use_seed --out "$OUT/ptq"

step "4/4 reload and evaluate"
"$PY" -m ompq.PTQ.evaluate "$OUT/ptq" --device cpu | tee "$OUT/evaluate.txt"

"$PY" - "$OUT" "${MIN_ACC:-50}" <<'PYEOF'
import json
import sys
from pathlib import Path

out, floor = Path(sys.argv[1]), float(sys.argv[2])
ptq = json.loads((out / "ptq" / "final.json").read_text())["acc_full_quant"]
line = (out / "evaluate.txt").read_text().strip().splitlines()[-1]
reloaded = float(line.split()[1])
print(f"OMPQ MobileNetV2 PTQ: top-1 {ptq:.3f} %, reloaded {reloaded:.3f} %")
if f"{reloaded:.3f}" != f"{ptq:.3f}":
    sys.exit("FAILED: the reloaded model's top-1 differs from the PTQ's")
if not ptq >= floor:
    sys.exit(f"FAILED: top-1 {ptq:.3f} < {floor} %")
print("chain OK")
PYEOF
