#!/usr/bin/env bash
# Folders the scripts expect (nothing is downloaded: place mobilenetv2-150.pth.tar from the HAQ README yourself).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p data save pretrained/imagenet checkpoints
