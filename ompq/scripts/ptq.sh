#!/usr/bin/env bash
# PTQ/run_scripts: ROW=r18_3.0|r18_3.5|r18_4.0|r18_4.5|r18_5.0|r18_5.5|r18_5.5_a4|mbv2_0.9|mbv2_1.1|mbv2_1.3|mbv2_1.5
# (or BIT_CONFIG=file from the search with ARCH=resnet18|mobilenetv2).
set -euo pipefail
PYTHON=${PYTHON:-python}
ROW=${ROW:-r18_4.5}
A=8; W=0.01; ARCH=resnet18
case "$ROW" in
  r18_3.0) CFG="[4,3,4,4,4,4,4,3,4,4,2,2,2,2,2,2,2,2]";;
  r18_3.5) CFG="[4,3,3,4,4,4,4,4,4,4,3,3,4,3,2,2,2,3]";;
  r18_4.0) CFG="[4,4,4,4,4,4,4,3,3,3,3,3,4,3,2,3,3,3]";;
  r18_4.5) CFG="[4,3,3,4,4,4,4,4,4,4,3,3,4,4,3,3,3,3]";;
  r18_5.0) CFG="[4,3,3,3,4,4,4,3,4,3,4,3,4,3,3,4,4,4]";;
  r18_5.5) CFG="[4,4,4,4,4,4,4,4,4,4,3,4,4,4,4,4,4,4]";;
  r18_5.5_a4) CFG="[4,4,4,4,4,4,4,4,4,4,3,4,4,4,4,4,4,4]"; A=4;;
  mbv2_1.5) ARCH=mobilenetv2; W=0.1; CFG="[$(printf '4,%.0s' $(seq 52))3]";;
  mbv2_1.3) ARCH=mobilenetv2; W=0.1; CFG="[$(printf '4,%.0s' $(seq 50))3,3,2]";;
  mbv2_1.1) ARCH=mobilenetv2; W=0.1; CFG="[$(printf '4,%.0s' $(seq 41))3,3,4,3,3,4,3,3,4,2,2,2]";;
  mbv2_0.9) ARCH=mobilenetv2; W=0.1; CFG="[$(printf '4,%.0s' $(seq 21))3,4,3,3,4,3,3,4,3,3,4,3,2,4,2,2,4,2,2,4,2,2,4,2,2,4,2,2,4,2,2,2]";;
  *) echo "unknown ROW=$ROW" >&2; exit 2;;
esac
EXTRA=(--bit_cfg "$CFG")
if [[ -n "${BIT_CONFIG:-}" ]]; then EXTRA=(--bit_config "$BIT_CONFIG"); ARCH=${ARCH_OVERRIDE:-$ARCH}; fi
$PYTHON -m ompq.PTQ.main_imagenet --data_path "${DATA:?}" --arch "$ARCH" --n_bits_w 2 --channel_wise --n_bits_a "$A" \
  --act_quant --test_before_calibration --weight "$W" "${EXTRA[@]}" --out "${OUT:-runs/ompq_ptq_$ROW}" "$@"
