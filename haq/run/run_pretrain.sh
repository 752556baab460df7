#!/usr/bin/env bash
# Float MobileNetV2 pre-training (README: 72.05 / 90.49).
set -euo pipefail
# Paths (data/, save/, checkpoints/, pretrained/) are relative to the folder you run this from;
# nothing is written next to this script or into the package.
python -m haq.pretrain -a mobilenetv2 -c checkpoints/mobilenetv2_lr005b256e150_fp16 --epochs 150 --lr 0.05 --wd 0.00004 --train_batch 256 --workers 32 --half "$@"
