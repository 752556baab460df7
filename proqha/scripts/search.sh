#!/usr/bin/env bash
# ProQHA progressive search (the original scripts/search.sh): 25 rounds, 500 candidates, interval 1, ratio 0.5,
# 30 fine-tuning epochs per round, Adam lr 1e-3; batch sizes at their defaults (128/100).
# Usage: bash proqha/scripts/search.sh PROJECT_PATH DATASET MISSION RESUME ARCH LAYERS
#   e.g. bash proqha/scripts/search.sh . imagenet r18_search ../outputs/.../checkpoint/model_best.pt resnet 18
# DATA_DIR (default /userhome/memory_data/imagenet) and BASE_DATA_DIR (default /gdata/ImageNet2012, the
# scoring batch) may be set to other folders or to "digits". SEED (optional) seeds the search; the original
# set none.
set -euo pipefail
PROJECT_PATH=${1:?PROJECT_PATH}; DATASET=${2:?DATASET}; MISSION=${3:?MISSION}; RESUME=${4:?RESUME}
ARCH=${5:?ARCH}; LAYERS=${6:?LAYERS}
STEP=25; LAMBDA=500; INTERVAL=1; RATIO=0.5; SEARCH_EPOCHS=30; LR=1e-3
DATA_DIR=${DATA_DIR:-/userhome/memory_data/imagenet}
BASE_DATA_DIR=${BASE_DATA_DIR:-/gdata/ImageNet2012}
PY=${PYTHON:-python3}
SEED_FLAG=()
if [ -n "${SEED:-}" ]; then SEED_FLAG=(--seed="$SEED"); fi
cd "$PROJECT_PATH"
"$PY" proqha/main/search.py --step=$STEP --lam=$LAMBDA --interval=$INTERVAL --ratio=$RATIO \
  --search_epochs=$SEARCH_EPOCHS --dataset="$DATASET" --arch="$ARCH" --lr=$LR --num_layers="$LAYERS" --k_bits=8 \
  --gpus=0 --data_dir "$DATA_DIR" --base_data_dir "$BASE_DATA_DIR" --clip --mission="$MISSION" \
  --resume="$RESUME" "${SEED_FLAG[@]}"
