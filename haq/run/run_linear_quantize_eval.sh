#!/usr/bin/env bash
# Evaluate the released qmobilenetv2_0.6_71.23.pth.tar.
set -euo pipefail
# Paths (data/, save/, checkpoints/, pretrained/) are relative to the folder you run this from;
# nothing is written next to this script or into the package.
python -m haq.finetune -a qmobilenetv2 --resume checkpoints/mobilenetv2/qmobilenetv2_0.6_71.23.pth.tar --workers 32 --test_batch 512 --free_high_bit False --linear_quantization --eval "$@"
