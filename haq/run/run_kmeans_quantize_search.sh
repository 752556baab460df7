#!/usr/bin/env bash
# K-means / model-size search on ResNet-50 (preserve ratio 0.1).
set -euo pipefail
# Paths (data/, save/, checkpoints/, pretrained/) are relative to the folder you run this from;
# nothing is written next to this script or into the package.
python -m haq.rl_quantize --arch resnet50 --dataset imagenet --suffix ratio010 --preserve_ratio 0.1 --n_worker 32 --data_bsize 256 --train_size 20000 --val_size 10000 "$@"
