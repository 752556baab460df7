#!/usr/bin/env bash
# Fine-tune qmobilenetv2 with the README 0.6x-latency strategy (71.23 / 90.00).
set -euo pipefail
# Paths (data/, save/, checkpoints/, pretrained/) are relative to the folder you run this from;
# nothing is written next to this script or into the package.
python -m haq.finetune -a qmobilenetv2 -c checkpoints/imagenet_qmobilenetv2_lr010e30_ratio060 --data_name imagenet --data data/imagenet/ --epochs 30 --lr 0.01 --train_batch 256 --wd 4e-5 --workers 32 --pretrained --linear_quantization "$@"
