#!/usr/bin/env bash
# End-to-end smoke run of the HAWQ-V3 chain on the embedded `digits` data, on CPU, in a few minutes:
#   1. float baseline of tiny_resnet (python -m reproduce.baseline_digits --reuse: the shared digits baseline,
#      trained once in BASELINE, then read from there);
#   2. QAT uniform8 and uniform4 from its weights (the model-zoo template's flags, --resume instead of
#      --pretrained, since digits has no published weights);
#   3. re-evaluation of the uniform8 run's checkpoint with --resume-quantize -e (eval_resnet50_bops0.5.sh with
#      ARCH=tiny_resnet SCHEME=uniform8);
#   4. Hessian traces -> ILP (bops, r=0.5) -> bit-config file -> QAT with --bit-config (search_then_train.sh).
# It checks that every stage wrote its outputs, prints the top-1 of each and fails when a quantized top-1 is
# below MIN_ACC (a floor far above chance; a few epochs on 8x8 digits say little about the method).
#
# Usage: digits_smoke.sh [OUT]   (or OUT=... in the environment; default runs/hawq_digits_smoke)
# Environment: BASE_EPOCHS [15], QAT_EPOCHS [1], PROBES [10] (Hutchinson probes per layer), MIN_ACC [50],
#              BASELINE [runs/baseline_digits/tiny_resnet], PYTHON [python].
set -euo pipefail

if [[ $# -gt 1 ]]; then
    echo "usage: $(basename "$0") [OUT]" >&2
    exit 2
fi
OUT=${1:-${OUT:-runs/hawq_digits_smoke}}
OUT=${OUT%/}
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE_EPOCHS=${BASE_EPOCHS:-15}
BASELINE=${BASELINE:-runs/baseline_digits/tiny_resnet}
BASELINE=${BASELINE%/}
QAT_EPOCHS=${QAT_EPOCHS:-1}
export CUDA_VISIBLE_DEVICES=""   # CPU only
mkdir -p "$OUT"

step() { echo "=== $(date +%H:%M:%S) $*" >&2; }

step "1/4 float baseline ($BASE_EPOCHS epochs, cached in $BASELINE)"
"$PY" -m reproduce.baseline_digits --arch tiny_resnet --epochs "$BASE_EPOCHS" --device cpu --seed 0 \
    --out "$BASELINE" --reuse
# quant_train --resume takes the start epoch and best accuracy from a full checkpoint; the baseline's
# weights.pth holds the weights alone, so QAT from it starts at epoch 0.
mkdir -p "$OUT/float"
cp "$BASELINE/final.json" "$OUT/float/final.json"
cp "$BASELINE/weights.pth" "$OUT/float/state_dict.pth"

qat() {  # qat SCHEME: the model-zoo template on digits, from the float weights
    "$PY" -m hawq.quant_train \
        -a tiny_resnet \
        --epochs "$QAT_EPOCHS" \
        --lr 0.0001 \
        --batch-size 128 \
        --data digits \
        --resume "$OUT/float/state_dict.pth" \
        --save-path "$OUT/$1/" \
        --act-range-momentum=0.99 \
        --wd 1e-4 \
        --data-percentage 1 \
        --fix-BN \
        --checkpoint-iter -1 \
        --quant-scheme "$1" \
        --workers 0 --device cpu --seed 0
}
step "2/4 QAT uniform8 and uniform4 ($QAT_EPOCHS epoch(s) each)"
qat uniform8
qat uniform4

step "3/4 re-evaluate the uniform8 checkpoint (--resume-quantize -e)"
ARCH=tiny_resnet SCHEME=uniform8 PYTHON="$PY" "$HERE/eval_resnet50_bops0.5.sh" digits \
    "$OUT/uniform8/checkpoint.pth.tar" "$OUT/uniform8_eval" --workers 0 --device cpu

step "4/4 Hessian traces -> ILP (bops, r=0.5) -> QAT with --bit-config"
ARCH=tiny_resnet KIND=bops R=0.5 PROBES="${PROBES:-10}" TOL=0 DEVICE=cpu EPOCHS="$QAT_EPOCHS" PERCENT=1 \
    PYTHON="$PY" "$HERE/search_then_train.sh" digits "$OUT/search" "$OUT/float/state_dict.pth" --workers 0 --seed 0

"$PY" - "$OUT" "${MIN_ACC:-50}" <<'PYEOF'
import json
import math
import sys
from pathlib import Path

out = Path(sys.argv[1])
runs = {
    "float": out / "float",
    "uniform8": out / "uniform8",
    "uniform4": out / "uniform4",
    "uniform8 re-evaluated": out / "uniform8_eval",
    "searched (bops 0.5)": out / "search" / "qat",
}
bad, quantized = [], []
for label, folder in runs.items():
    final = json.loads((folder / "final.json").read_text())
    acc = final.get("val_acc1", final.get("best_acc1"))
    costs = final.get("costs", {})
    extra = f", {costs['size_MB']:.3f} MB, {costs['GBOPs']:.3f} GBOPs" if costs else ""
    print(f"{label:24s} top-1 {acc:6.2f} %{extra}")
    if acc is None or math.isnan(acc):
        bad.append(label)
    elif label != "float":
        quantized.append(acc)
    if label != "float" and acc is not None and not acc >= float(sys.argv[2]):
        bad.append(f"{label}: top-1 {acc:.2f} % < {sys.argv[2]} %")
for name in ("checkpoint.pth.tar", "model_best.pth.tar", "quantized_checkpoint.pth.tar", "bit_config.json"):
    for label in ("uniform8", "uniform4", "searched (bops 0.5)"):
        if not (runs[label] / name).is_file():
            bad.append(f"{label}: {name} missing")
searched = json.loads((out / "search" / "bit_config_tiny_resnet_bops_0.5.json").read_text())
print("searched bits (w):", "".join(str(v["w"]) for v in searched["layers"].values()))
if bad:
    sys.exit("digits smoke FAILED: " + "; ".join(bad))
print("digits smoke OK")
print(f"quick start OK: top-1 {min(quantized):.2f} %")
PYEOF
