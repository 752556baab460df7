#!/usr/bin/env bash
# Evaluate the released resnet50_0.1_75.48.pth.tar.
set -euo pipefail
# Paths (data/, save/, checkpoints/, pretrained/) are relative to the folder you run this from;
# nothing is written next to this script or into the package.
python -m haq.finetune -a resnet50 --resume checkpoints/resnet50/resnet50_0.1_75.48.pth.tar --workers 32 --test_batch 512 --free_high_bit False --eval "$@"
