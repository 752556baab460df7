#!/usr/bin/env bash
# OMPQ quick start on the embedded `digits` data (CPU, minutes), both chains from the trained float baseline:
#   1. float tiny_resnet (python -m reproduce.baseline_digits --reuse: trained once, then read from its folder);
#   2. orthogonality search (model size 0.2 MB, QAT) -> QAT for QAT_EPOCHS epoch(s) from the float weights;
#   3. orthogonality search (model size 0.11 MB, PTQ) -> BRECQ PTQ (W from the search, A8) of the float weights.
# It prints the top-1 of both and fails when either is below MIN_ACC.
#
# Usage: digits_chain.sh [OUT]   (default runs/ompq_digits)
# Environment: QAT_EPOCHS [1], ITERS_W [200], ITERS_A [100], BASE_EPOCHS [15],
#              BASELINE [runs/baseline_digits/tiny_resnet], MIN_ACC [50], PYTHON [python].
set -euo pipefail
if [[ $# -gt 1 ]]; then
    echo "usage: $(basename "$0") [OUT]" >&2
    exit 2
fi
OUT=${1:-${OUT:-runs/ompq_digits}}
OUT=${OUT%/}
PY=${PYTHON:-python}
BASELINE=${BASELINE:-runs/baseline_digits/tiny_resnet}
export CUDA_VISIBLE_DEVICES=""   # CPU only
step() { echo "=== $(date +%H:%M:%S) $*" >&2; }

step "1/3 float baseline"
"$PY" -m reproduce.baseline_digits --arch tiny_resnet --epochs "${BASE_EPOCHS:-15}" --device cpu --seed 0 \
    --out "$BASELINE" --reuse
# feature_extract reads the original's layout: <--path>/checkpoint/model_best.pth.tar
mkdir -p "$OUT/float/checkpoint"
cp "$BASELINE/weights.pth" "$OUT/float/checkpoint/model_best.pth.tar"

step "2/3 search (QAT, 0.2 MB) -> QAT"
"$PY" -m ompq.mixed_bit.feature_extract --model tiny_resnet --dataset digits --save_path digits --model_size 0.2 \
    --beta 1 --quant_type QAT --abits 6 --path "$OUT/float" --out "$OUT/search_qat"
"$PY" -m ompq.QAT.quant_train -a tiny_resnet --data digits --epochs "${QAT_EPOCHS:-1}" --lr 0.0001 --batch_size 64 \
    --save_path "$OUT/qat/" --act_range_momentum=0.99 --wd 1e-4 --fix_BN --resume "$BASELINE/weights.pth" \
    --bit_config "$OUT/search_qat/bit_config.json" -j 0 --device cpu

step "3/3 search (PTQ, 0.11 MB) -> BRECQ PTQ"
"$PY" -m ompq.mixed_bit.feature_extract --model tiny_resnet --dataset digits --save_path digits --model_size 0.11 \
    --beta 100 --quant_type PTQ --path "$OUT/float" --out "$OUT/search_ptq"
"$PY" -m ompq.PTQ.main_imagenet --data_path digits --arch tiny_resnet --n_bits_w 2 --channel_wise --n_bits_a 8 \
    --act_quant --test_before_calibration --bit_config "$OUT/search_ptq/bit_config.json" --num_samples 256 \
    --iters_w "${ITERS_W:-200}" --iters_a "${ITERS_A:-100}" --weights "$BASELINE/weights.pth" --device cpu \
    --out "$OUT/ptq"

"$PY" - "$OUT" "${MIN_ACC:-50}" <<'PYEOF'
import json
import sys
from pathlib import Path

out, floor = Path(sys.argv[1]), float(sys.argv[2])
qat = json.loads((out / "qat" / "final.json").read_text())
ptq = json.loads((out / "ptq" / "final.json").read_text())
accs = {"QAT": qat.get("val_acc1", qat.get("best_acc1")), "PTQ": ptq.get("acc_full_quant")}
bad = []
for label, acc in accs.items():
    print(f"OMPQ {label}: top-1 {acc:.2f} %")
    if acc is None or not acc >= floor:
        bad.append(f"{label} top-1 {acc} < {floor} %")
if bad:
    sys.exit("OMPQ quick start FAILED: " + "; ".join(bad))
print(f"quick start OK: top-1 {min(accs.values()):.2f} %")
PYEOF
