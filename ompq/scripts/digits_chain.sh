#!/usr/bin/env bash
# The two chains on the embedded digits data (CPU, about a minute): search -> QAT, search -> PTQ.
set -euo pipefail
PYTHON=${PYTHON:-python}
OUT=${1:-runs/ompq_digits}
$PYTHON -m ompq.mixed_bit.feature_extract --model tiny_resnet --dataset digits --save_path digits --model_size 0.2 \
  --beta 1 --quant_type QAT --abits 6 --out "$OUT/search_qat"
$PYTHON -m ompq.QAT.quant_train -a tiny_resnet --data digits --epochs 1 --lr 0.0001 --batch_size 64 \
  --save_path "$OUT/qat/" --act_range_momentum=0.99 --wd 1e-4 --fix_BN --bit_config "$OUT/search_qat/bit_config.json" -j 0
$PYTHON -m ompq.mixed_bit.feature_extract --model tiny_resnet --dataset digits --save_path digits --model_size 0.11 \
  --beta 100 --quant_type PTQ --out "$OUT/search_ptq"
$PYTHON -m ompq.PTQ.main_imagenet --data_path digits --arch tiny_resnet --n_bits_w 2 --channel_wise --n_bits_a 8 \
  --act_quant --test_before_calibration --bit_config "$OUT/search_ptq/bit_config.json" --num_samples 256 \
  --iters_w 200 --iters_a 100 --out "$OUT/ptq"
