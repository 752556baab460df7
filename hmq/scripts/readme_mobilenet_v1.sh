#!/usr/bin/env bash
# The one command of HMQ's README (MobileNetV1, ImageNet, weight compression 8), through torchrun.
# Usage: NUM_GPU=8 DATA=/data/imagenet bash hmq/scripts/readme_mobilenet_v1.sh [extra flags]
# DATA needs train/ and validation/ (or val/); MobileNetV1 weights: $MPQ_WEIGHTS_DIR/hmq/mobilenet_v1_imagenet.pth
set -euo pipefail
NUM_GPU="${NUM_GPU:-1}"
DATA="${DATA:-/local_datasets/image_net/}"
OUT="${OUT:-runs/hmq/mobilenet_v1_wcr8}"
torchrun --nproc_per_node="$NUM_GPU" -m hmq.main --data_dir "$DATA" --network_name mobilenet_v1 \
  --lr_start 0.000005 --gamma 64 --lr_coefficient 0.005 --batch_size 256 --n_epochs 30 \
  --target_compression 8.0 --fp16 --out "$OUT" "$@"
