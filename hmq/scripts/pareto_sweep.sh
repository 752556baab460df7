#!/usr/bin/env bash
# Target-compression sweep behind the README's ImageNet Pareto figure (docs/hmq.md 6.1), then the plot.
# Only the MobileNetV1 / WCR 8 command is published; every other point reuses the README's
# hyper-parameters (an assumption, see hmq/README.md). EfficientNet-B0 also gets target 4.
# Usage: NUM_GPU=8 DATA=/data/imagenet bash hmq/scripts/pareto_sweep.sh [networks...]
set -euo pipefail
NUM_GPU="${NUM_GPU:-1}"
DATA="${DATA:-/local_datasets/image_net/}"
ROOT="${ROOT:-runs/hmq/pareto}"
NETWORKS=("${@:-mobilenet_v1 mobilenet_v2 resnet50 efficient_net}")
for net in ${NETWORKS[@]}; do
  targets="8 12 16"
  [ "$net" = efficient_net ] && targets="4 8 12 16"
  for t in $targets; do
    out="$ROOT/${net}_wcr${t}"
    [ -f "$out/final.json" ] && continue
    resume=()
    [ -f "$out/resume.pt" ] && resume=(--resume "$out/resume.pt")
    torchrun --nproc_per_node="$NUM_GPU" -m hmq.main --data_dir "$DATA" --network_name "$net" \
      --lr_start 0.000005 --gamma 64 --lr_coefficient 0.005 --batch_size 256 --n_epochs 30 \
      --target_compression "$t" --fp16 --out "$out" "${resume[@]}"
  done
done
python -m hmq.pareto "$ROOT" --out "$ROOT/pareto.png"
