#!/usr/bin/env bash
# HAWQ-V3 model zoo row: ResNet50, Medium Latency (latency_0.5).
# Published (model_zoo.md): size 18.5 MB, 155 GBOPs, T4/TVM speed-up 3.75x vs FP32, top-1 74.95 %.
# Starts from the pretrained float model (--pretrained) and runs quantization-aware training with the
# shipped bit configuration bit_config_resnet50_latency_0.5.
#
# Epochs / data: model zoo: data-percentage 1 (the full train set); epochs "adjusted, typical 90".
#
# Usage: resnet50_latency_0.5.sh DATA OUT [extra quant_train flags]   (or DATA=... OUT=... in the environment)
# The template and its traps (-b default 1, --act-range-momentum default -1, --channel-wise) are
# explained in _zoo_common.sh and hawq/README.md.
set -euo pipefail
ARCH=resnet50
SCHEME=latency_0.5
EPOCHS=90
PERCENT=1
# shellcheck source=hawq/scripts/_zoo_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_zoo_common.sh"
zoo_train "$@"
