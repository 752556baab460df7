#!/usr/bin/env bash
# Folders the scripts expect (nothing is downloaded: place mobilenetv2-150.pth.tar from the HAQ README yourself).
set -euo pipefail
# Paths (data/, save/, checkpoints/, pretrained/) are relative to the folder you run this from;
# nothing is written next to this script or into the package.
mkdir -p data save pretrained/imagenet checkpoints
