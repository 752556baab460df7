#!/usr/bin/env bash
# ProQHA baselines (the original scripts/run.sh, fixed): the float model, then the uniform 8-bit QAT model.
# Usage: bash proqha/scripts/run.sh PROJECT_PATH DATASET MISSION RESUME ARCH LAYERS
#   e.g. bash proqha/scripts/run.sh . imagenet r18_base "" resnet 18
# The original's second run never switched to --archtype quant ("ARCHTYPE = quant" is not an assignment);
# here it does.
#
# Environment overrides (unset = the original value; a set variable wins over the positional argument, and a
# positional argument may then be left empty):
#   DATASET, ARCH, LAYERS, MISSION, RESUME   the positional arguments
#   DATA_DIR        data folder or "digits" (default /gdata/ImageNet2012/)
#   TRAIN_EPOCHS    (alias EPOCHS) epochs per run (default 300)
#   LR              SGD learning rate (default 0.001)
#   TRAIN_BATCH_SIZE  (default 256)
#   K_BITS          --k_bits and --pre_k_bits (default 8)
#   ARCHTYPES       which runs, in order (default "origin quant")
#   OUT             if set, run ARCHTYPE writes to $OUT/$MISSION-$ARCHTYPE (--out) instead of under --job_dir
#   JOB_DIR         (default ../outputs, relative to PROJECT_PATH)
#   PYTHON          interpreter (default python3)
#   EXTRA_ARGS      extra train.py flags, word-split and appended last (so they win over the above)
#   e.g. DATASET=digits DATA_DIR=digits TRAIN_EPOCHS=1 OUT=runs/pq \
#        EXTRA_ARGS="--train_fraction 0.05 --workers 0 --seed 0" bash proqha/scripts/run.sh . "" base "" resnet20 8
set -euo pipefail
PROJECT_PATH=${1:?PROJECT_PATH}
DATASET=${DATASET:-${2:?DATASET}}
MISSION=${MISSION:-${3:?MISSION}}
RESUME=${RESUME:-${4:-}}
ARCH=${ARCH:-${5:?ARCH}}
LAYERS=${LAYERS:-${6:?LAYERS}}
DATA_DIR=${DATA_DIR:-/gdata/ImageNet2012/}
TRAIN_EPOCHS=${TRAIN_EPOCHS:-${EPOCHS:-300}}
LR=${LR:-0.001}
TRAIN_BATCH_SIZE=${TRAIN_BATCH_SIZE:-256}
K_BITS=${K_BITS:-8}
ARCHTYPES=${ARCHTYPES:-origin quant}
JOB_DIR=${JOB_DIR:-../outputs}
PY=${PYTHON:-python3}
read -r -a EXTRA <<<"${EXTRA_ARGS:-}"
cd "$PROJECT_PATH"
RESUME_FLAG=()
if [ -n "$RESUME" ]; then RESUME_FLAG=(--resume="$RESUME"); fi

for ARCHTYPE in $ARCHTYPES; do
  echo "== ProQHA baseline: archtype $ARCHTYPE =="
  OUT_FLAG=()
  if [ -n "${OUT:-}" ]; then OUT_FLAG=(--out="$OUT/$MISSION-$ARCHTYPE"); fi
  "$PY" proqha/main/train.py --arch="$ARCH" --num_layers="$LAYERS" --archtype="$ARCHTYPE" --lr="$LR" \
    --weight_decay=1e-4 --train_batch_size="$TRAIN_BATCH_SIZE" --k_bits="$K_BITS" --pre_k_bits="$K_BITS" \
    --ratio=1.0 --mission="$MISSION-$ARCHTYPE" --gpus=0 --train_epochs="$TRAIN_EPOCHS" --dataset="$DATASET" \
    --data_dir="$DATA_DIR" --job_dir="$JOB_DIR" --clip "${RESUME_FLAG[@]}" "${OUT_FLAG[@]}" "${EXTRA[@]}"
done
