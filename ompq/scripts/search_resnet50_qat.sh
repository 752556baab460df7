#!/usr/bin/env bash
# mixed_bit/run_scripts/quant_resnet50.sh: ResNet-50 QAT search at 16.0 Mb (beta 3.3)
set -euo pipefail
PYTHON=${PYTHON:-python}
SIZE=${SIZE:-16.0}
$PYTHON -m ompq.mixed_bit.feature_extract --dataset imagenet --path "${BASE:?}" --save_path "${DATA:?}" \
  --model resnet50 --beta 3.3 --model_size "$SIZE" --quant_type QAT --abits "${ABITS:-5}" --out "${OUT:-runs/ompq_search_r50_qat_$SIZE}" "$@"
