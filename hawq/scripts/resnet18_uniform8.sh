#!/usr/bin/env bash
# HAWQ-V3 model zoo row: ResNet18, W8A8 (uniform8).
# Published (model_zoo.md): size 11.1 MB, 116 GBOPs, T4/TVM speed-up 3.00x vs FP32, top-1 71.56 %.
# Starts from the pretrained float model (--pretrained) and runs quantization-aware training with the
# shipped bit configuration bit_config_resnet18_uniform8.
#
# Epochs / data: model zoo: 0.0001 of the train set (one batch of 128) for 1 epoch, i.e. a calibration pass.
#
# Usage: resnet18_uniform8.sh DATA OUT [extra quant_train flags]   (or DATA=... OUT=... in the environment)
# The template and its traps (-b default 1, --act-range-momentum default -1, --channel-wise) are
# explained in _zoo_common.sh and hawq/README.md.
set -euo pipefail
ARCH=resnet18
SCHEME=uniform8
EPOCHS=1
PERCENT=0.0001
# shellcheck source=hawq/scripts/_zoo_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_zoo_common.sh"
zoo_train "$@"
