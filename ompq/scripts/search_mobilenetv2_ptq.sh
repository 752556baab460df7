#!/usr/bin/env bash
# mixed_bit/run_scripts/quant_mobilenetv2.sh: MobileNetV2 PTQ search at 0.9 Mb (beta 1e-9)
set -euo pipefail
PYTHON=${PYTHON:-python}
SIZE=${SIZE:-0.9}
$PYTHON -m ompq.mixed_bit.feature_extract --dataset imagenet --path "${BASE:?}" --save_path "${DATA:?}" \
  --model mobilenetv2 --beta 0.000000001 --model_size "$SIZE" --quant_type PTQ --abits 8 --out "${OUT:-runs/ompq_search_mbv2_ptq_$SIZE}" "$@"
