#!/usr/bin/env bash
# HAWQ-V3 model zoo row: ResNet18, High Size (modelsize_0.75).
# Published (model_zoo.md): size 9.9 MB, 103 GBOPs, T4/TVM speed-up 3.09x vs FP32, top-1 71.20 %.
# Starts from the pretrained float model (--pretrained) and runs quantization-aware training with the
# shipped bit configuration bit_config_resnet18_modelsize_0.75.
#
# Epochs / data: model zoo: data-percentage 0.01; epochs "adjusted, typical 90".
#
# Usage: resnet18_modelsize_0.75.sh DATA OUT [extra quant_train flags]   (or DATA=... OUT=... in the environment)
# The template and its traps (-b default 1, --act-range-momentum default -1, --channel-wise) are
# explained in _zoo_common.sh and hawq/README.md.
set -euo pipefail
ARCH=resnet18
SCHEME=modelsize_0.75
EPOCHS=90
PERCENT=0.01
# shellcheck source=hawq/scripts/_zoo_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_zoo_common.sh"
zoo_train "$@"
