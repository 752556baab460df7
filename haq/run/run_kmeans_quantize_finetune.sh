#!/usr/bin/env bash
# Fine-tune ResNet-50 with the README K-means strategy (75.48 / 92.42).
set -euo pipefail
# Paths (data/, save/, checkpoints/, pretrained/) are relative to the folder you run this from;
# nothing is written next to this script or into the package.
python -m haq.finetune -a resnet50 -c checkpoints/resnet50 --epochs 100 --lr 0.01 --train_batch 256 --workers 32 --pretrained "$@"
