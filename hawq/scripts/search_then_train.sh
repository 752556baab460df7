#!/usr/bin/env bash
# The search HAWQ-V3 describes but never shipped, chained into its QAT:
#   1. python -m hawq.search: per-layer Hessian traces (hawq.hessian, Hutchinson) -> ILP (hawq.ilp) ->
#      portable bit-config file;
#   2. python -m hawq.quant_train --bit-config FILE: QAT with the model-zoo template's other flags.
#
# Usage: search_then_train.sh DATA OUT FLOAT_CKPT [extra quant_train flags]
#        (or DATA=... OUT=... FLOAT_CKPT=... in the environment)
#   FLOAT_CKPT: float weights (a bare state dict or a checkpoint holding one; torchvision or pytorchcv ResNet
#   names). The traces, the ILP's perturbations and the QAT all start from them. The script first writes them
#   as a bare state dict with torchvision names to OUT/float_state_dict.pth, because hawq.hessian loads only
#   this repository's names, and quant_train --resume would otherwise take the start epoch and best accuracy
#   of a training checkpoint (and train no epoch at all if that epoch >= EPOCHS).
# Environment (defaults in brackets):
#   ARCH [resnet18]      quant_train --arch (resnet18, resnet50, resnet101, mobilenetv2_w1, tiny_resnet)
#   KIND [bops]          ILP budget: modelsize or bops (latency needs per-layer latencies in the traces file,
#                        which hawq.hessian does not measure)
#   R [0.5]              budget fraction between all-4-bit (0) and all-8-bit (1) cost
#   PROBES [200] TOL [0] Hutchinson probes per layer; TOL 0 runs all of them (the default 1e-3 of
#                        hawq.search can stop after a few probes with an error of several percent)
#   HESS_BATCH [32] HESS_BATCHES [1]   batch size and number of batches for the Hessian
#   EPOCHS [90] PERCENT [1] BATCH [128] LR [0.0001]   QAT settings
#   DEVICE [auto]        --device of both steps; PYTHON [python]; CUDA_VISIBLE_DEVICES [0]
set -euo pipefail

usage() {
    echo "usage: $(basename "$0") DATA OUT FLOAT_CKPT [extra quant_train flags]" >&2
    echo "       DATA: ImageNet folder with train/ and val/ (or 'digits'); OUT: run folder" >&2
}

if [[ $# -gt 0 && $1 != -* ]]; then DATA=$1; shift; fi
if [[ $# -gt 0 && $1 != -* ]]; then OUT=$1; shift; fi
if [[ $# -gt 0 && $1 != -* ]]; then FLOAT_CKPT=$1; shift; fi
for var in DATA OUT FLOAT_CKPT; do
    if [[ -z ${!var:-} ]]; then echo "error: $var is not set" >&2; usage; exit 2; fi
done
if [[ ! -f $FLOAT_CKPT ]]; then echo "error: FLOAT_CKPT not found: $FLOAT_CKPT" >&2; exit 2; fi
if [[ $DATA != digits && ! -d $DATA ]]; then echo "error: DATA folder not found: $DATA" >&2; exit 2; fi

PY=${PYTHON:-python}
ARCH=${ARCH:-resnet18}
KIND=${KIND:-bops}
R=${R:-0.5}
DEVICE=${DEVICE:-auto}
export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES-0}"
# hawq.search speaks the registered float model's name (resnet50 -> resnet50_v1, the pytorchcv layout)
FLOAT_ARCH=$("$PY" -c "import sys; from hawq.utils.models import resolve_arch; print(resolve_arch(sys.argv[1]).float_name)" "$ARCH")
CFG="${OUT%/}/bit_config_${ARCH}_${KIND}_${R}.json"
STATE="${OUT%/}/float_state_dict.pth"
mkdir -p "$OUT"

set -x
"$PY" - "$FLOAT_CKPT" "$STATE" <<'PYEOF'
import sys

import torch

from common.models.pretrained import read_state_dict
from hawq.utils.models.pytorchcv_weights import is_pytorchcv_resnet, pytorchcv_resnet_to_torchvision

state = read_state_dict(sys.argv[1])
if is_pytorchcv_resnet(state):
    state = pytorchcv_resnet_to_torchvision(state)
torch.save(state, sys.argv[2])
PYEOF

"$PY" -m hawq.search \
    --arch "$FLOAT_ARCH" \
    --data "$DATA" \
    --checkpoint "$STATE" \
    --kind "$KIND" \
    --r "$R" \
    --probes "${PROBES:-200}" \
    --tol "${TOL:-0}" \
    --batch-size "${HESS_BATCH:-32}" \
    --batches "${HESS_BATCHES:-1}" \
    --device "$DEVICE" \
    --out "$CFG"

# --resume with a float file (no --resume-quantize) loads its weights by name (--pretrained is ignored then)
"$PY" -m hawq.quant_train \
    -a "$ARCH" \
    --epochs "${EPOCHS:-90}" \
    --lr "${LR:-0.0001}" \
    --batch-size "${BATCH:-128}" \
    --data "$DATA" \
    --resume "$STATE" \
    --save-path "${OUT%/}/qat/" \
    --act-range-momentum=0.99 \
    --wd 1e-4 \
    --data-percentage "${PERCENT:-1}" \
    --fix-BN \
    --checkpoint-iter -1 \
    --bit-config "$CFG" \
    --device "$DEVICE" \
    "$@"
