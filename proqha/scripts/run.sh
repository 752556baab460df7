#!/usr/bin/env bash
# ProQHA baselines (the original scripts/run.sh, fixed): the float model, then the uniform 8-bit QAT model.
# Usage: bash proqha/scripts/run.sh PROJECT_PATH DATASET MISSION RESUME ARCH LAYERS
#   e.g. bash proqha/scripts/run.sh . imagenet r18_base "" resnet 18
# The original's second run never switched to --archtype quant ("ARCHTYPE = quant" is not an assignment);
# here it does. DATA_DIR (default /gdata/ImageNet2012/) may be set to another folder or to "digits".
set -euo pipefail
PROJECT_PATH=${1:?PROJECT_PATH}; DATASET=${2:?DATASET}; MISSION=${3:?MISSION}; RESUME=${4:-}
ARCH=${5:?ARCH}; LAYERS=${6:?LAYERS}
DATA_DIR=${DATA_DIR:-/gdata/ImageNet2012/}
PY=${PYTHON:-python3}
cd "$PROJECT_PATH"
RESUME_FLAG=()
if [ -n "$RESUME" ]; then RESUME_FLAG=(--resume="$RESUME"); fi

for ARCHTYPE in origin quant; do
  echo "== ProQHA baseline: archtype $ARCHTYPE =="
  "$PY" proqha/main/train.py --arch="$ARCH" --num_layers="$LAYERS" --archtype="$ARCHTYPE" --lr=0.001 \
    --weight_decay=1e-4 --train_batch_size=256 --k_bits=8 --pre_k_bits=8 --ratio=1.0 \
    --mission="$MISSION-$ARCHTYPE" --gpus=0 --train_epochs=300 --dataset="$DATASET" --data_dir="$DATA_DIR" \
    --job_dir=../outputs --clip "${RESUME_FLAG[@]}"
done
