#!/usr/bin/env bash
# README example: search ResNet-18 for QAT at 6.7 Mb (beta 10). Usage: BASE=dir DATA=/imagenet OUT=runs/x bash $0 [extra flags]
set -euo pipefail
PYTHON=${PYTHON:-python}
$PYTHON -m ompq.mixed_bit.feature_extract --dataset imagenet --path "${BASE:?BASE=base-model dir}" --save_path "${DATA:?}" \
  --model resnet18 --beta 10.0 --model_size 6.7 --quant_type QAT --abits "${ABITS:-6}" --out "${OUT:-runs/ompq_search_r18_qat_6.7}" "$@"
