#!/usr/bin/env bash
# The original measure/compute.sh, fixed: it built the CIFAR ResNet-50 (no --dataset) and crashed on the string
# --k_bits. Prints the README table's cost of uniform W{k}A{k} ImageNet ResNet-18 (5 -> 0.15625, 3 -> 0.09375).
set -euo pipefail
K=${1:-2}
cd "$(dirname "$0")/../.."
"${PYTHON:-python3}" proqha/measure/compute.py --dataset imagenet --arch resnet --num_layers 18 --k_bits "$K" \
  --pre_k_bits 8 --ratio 1.0
