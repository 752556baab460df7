#!/usr/bin/env bash
# Linear / latency search on qmobilenetv2, ImageNet-100 (script ratio 0.556; the published strategy came from 0.6).
set -euo pipefail
# Paths (data/, save/, checkpoints/, pretrained/) are relative to the folder you run this from;
# nothing is written next to this script or into the package.
python -m haq.rl_quantize --arch qmobilenetv2 --dataset imagenet100 --dataset_root data/imagenet100 --suffix ratio0556bit28 --preserve_ratio 0.556 --float_bit 8 --max_bit 8 --min_bit 2 --n_worker 32 --data_bsize 128 --train_size 20000 --val_size 10000 --linear_quantization "$@"
