#!/usr/bin/env bash
# HAWQ-V3 model zoo row: ResNet18, Low Size (modelsize_0.25).
# Published (model_zoo.md): size 7.3 MB, 95 GBOPs, T4/TVM speed-up 3.24x vs FP32, top-1 70.01 %.
# Starts from the pretrained float model (--pretrained) and runs quantization-aware training with the
# shipped bit configuration bit_config_resnet18_modelsize_0.25.
#
# Epochs / data: the model zoo gives no data-percentage for the 0.25 (Low) rows; we use the value it gives for
#   the 0.5 rows and W4A4, between which these rows lie (1, the full train set), and 90 epochs.
#
# Usage: resnet18_modelsize_0.25.sh DATA OUT [extra quant_train flags]   (or DATA=... OUT=... in the environment)
# The template and its traps (-b default 1, --act-range-momentum default -1, --channel-wise) are
# explained in _zoo_common.sh and hawq/README.md.
set -euo pipefail
ARCH=resnet18
SCHEME=modelsize_0.25
EPOCHS=90
PERCENT=1
# shellcheck source=hawq/scripts/_zoo_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_zoo_common.sh"
zoo_train "$@"
