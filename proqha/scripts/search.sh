#!/usr/bin/env bash
# ProQHA progressive search (the original scripts/search.sh): 25 rounds, 500 candidates, interval 1, ratio 0.5,
# 30 fine-tuning epochs per round, Adam lr 1e-3; batch sizes at their defaults (128/100).
# Usage: bash proqha/scripts/search.sh PROJECT_PATH DATASET MISSION RESUME ARCH LAYERS
#   e.g. bash proqha/scripts/search.sh . imagenet r18_search ../outputs/.../checkpoint/model_best.pt resnet 18
#
# Environment overrides (unset = the original value; a set variable wins over the positional argument, and a
# positional argument may then be left empty):
#   DATASET, ARCH, LAYERS, MISSION, RESUME   the positional arguments
#   DATA_DIR        data folder or "digits" (default /userhome/memory_data/imagenet)
#   BASE_DATA_DIR   scoring-batch folder or "digits" (default /gdata/ImageNet2012)
#   STEP            (alias ROUNDS) progressive rounds (default 25)
#   LAM             (alias LAMBDA) candidates per round (default 500)
#   INTERVAL        bits removed per chosen quantizer (default 1)
#   RATIO           fraction of quantizers lowered per candidate (default 0.5)
#   SEARCH_EPOCHS   fine-tuning epochs per round (default 30)
#   LR              Adam learning rate (default 1e-3)
#   K_BITS          (default 8)
#   SEED            seeds the search (default: unseeded, as the original)
#   OUT             output folder (--out; default: the run directory under --job_dir)
#   PYTHON          interpreter (default python3)
#   EXTRA_ARGS      extra search.py flags, word-split and appended last (so they win over the above)
#   e.g. DATASET=digits DATA_DIR=digits BASE_DATA_DIR=digits STEP=3 LAM=4 SEARCH_EPOCHS=1 OUT=runs/pq_search \
#        bash proqha/scripts/search.sh . "" search runs/pq/base-quant/checkpoint/model_best.pt resnet20 8
set -euo pipefail
PROJECT_PATH=${1:?PROJECT_PATH}
DATASET=${DATASET:-${2:?DATASET}}
MISSION=${MISSION:-${3:?MISSION}}
RESUME=${RESUME:-${4:?RESUME}}
ARCH=${ARCH:-${5:?ARCH}}
LAYERS=${LAYERS:-${6:?LAYERS}}
STEP=${STEP:-${ROUNDS:-25}}
LAMBDA=${LAM:-${LAMBDA:-500}}
INTERVAL=${INTERVAL:-1}
RATIO=${RATIO:-0.5}
SEARCH_EPOCHS=${SEARCH_EPOCHS:-30}
LR=${LR:-1e-3}
K_BITS=${K_BITS:-8}
DATA_DIR=${DATA_DIR:-/userhome/memory_data/imagenet}
BASE_DATA_DIR=${BASE_DATA_DIR:-/gdata/ImageNet2012}
PY=${PYTHON:-python3}
read -r -a EXTRA <<<"${EXTRA_ARGS:-}"
SEED_FLAG=()
if [ -n "${SEED:-}" ]; then SEED_FLAG=(--seed="$SEED"); fi
OUT_FLAG=()
if [ -n "${OUT:-}" ]; then OUT_FLAG=(--out="$OUT"); fi
cd "$PROJECT_PATH"
"$PY" proqha/main/search.py --step="$STEP" --lam="$LAMBDA" --interval="$INTERVAL" --ratio="$RATIO" \
  --search_epochs="$SEARCH_EPOCHS" --dataset="$DATASET" --arch="$ARCH" --lr="$LR" --num_layers="$LAYERS" \
  --k_bits="$K_BITS" --gpus=0 --data_dir "$DATA_DIR" --base_data_dir "$BASE_DATA_DIR" --clip \
  --mission="$MISSION" --resume="$RESUME" "${SEED_FLAG[@]}" "${OUT_FLAG[@]}" "${EXTRA[@]}"
