#!/usr/bin/env bash
# QAT/run_scripts/train_resnet{18,50}.sh. ARCH=resnet18|resnet50 SCHEME=modelsize_6.7_a6_75B|modelsize_6.7_a8_97B|
# modelsize_16.0_a5_141BOP|modelsize_18.7_a5_156BOP|modelsize_21.2_a7_226BOP, or BIT_CONFIG=file from the search.
set -euo pipefail
PYTHON=${PYTHON:-python}
ARCH=${ARCH:-resnet18}
SCHEME=${SCHEME:-modelsize_6.7_a6_75B}
EXTRA=()
if [[ -n "${BIT_CONFIG:-}" ]]; then EXTRA=(--bit_config "$BIT_CONFIG"); fi
$PYTHON -m ompq.QAT.quant_train -a "$ARCH" --epochs 90 --lr 0.0001 --batch_size 128 --data "${DATA:?}" \
  --save_path "${OUT:-runs/ompq_qat_${ARCH}_${SCHEME}}/" --act_range_momentum=0.99 --wd 1e-4 --data_percentage 1 \
  --pretrained --fix_BN --checkpoint_iter -1 --quant_scheme "$SCHEME" "${EXTRA[@]}" "$@"
