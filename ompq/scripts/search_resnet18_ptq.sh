#!/usr/bin/env bash
# mixed_bit/run_scripts/quant_resnet18.sh: ResNet-18 PTQ search (beta 100), SIZE=3.0 by default (3.0..5.5 in the figure)
set -euo pipefail
PYTHON=${PYTHON:-python}
SIZE=${SIZE:-3.0}
$PYTHON -m ompq.mixed_bit.feature_extract --dataset imagenet --path "${BASE:?}" --save_path "${DATA:?}" \
  --model resnet18 --beta 100 --model_size "$SIZE" --quant_type PTQ --abits 8 --out "${OUT:-runs/ompq_search_r18_ptq_$SIZE}" "$@"
