#!/usr/bin/env bash
# Evaluate a released HAWQ-V3 model-zoo checkpoint: the README's command for ResNet50 bops0.5
# (model zoo: "75.58 % top-1" for this download; the table row says 75.39 %).
#
# The downloaded tarball unpacks to resnet50_bops0.5/checkpoint.pth.tar: a *quantized* state_dict (keys start
# with "module."), hence --resume-quantize. -e only validates; drop it (EVALUATE=0) to resume QAT instead.
# The model-zoo name "bops0.5" is accepted as an alias of the config key bops_0.5.
# Note (original issue #23): all ResNet50 model-zoo downloads are reported to be the same file; compare the
# accuracy you get with the row you meant to evaluate.
#
# Usage: eval_resnet50_bops0.5.sh DATA CKPT [OUT] [extra quant_train flags]
#        (or DATA=... CKPT=... OUT=... in the environment; OUT defaults to the checkpoint's folder + /eval)
# Environment: ARCH (default resnet50), SCHEME (default bops_0.5), EVALUATE (default 1), PYTHON, CUDA_VISIBLE_DEVICES.
set -euo pipefail

usage() {
    echo "usage: $(basename "$0") DATA CKPT [OUT] [extra quant_train flags]" >&2
    echo "       DATA: ImageNet folder with train/ and val/; CKPT: e.g. resnet50_bops0.5/checkpoint.pth.tar" >&2
}

if [[ $# -gt 0 && $1 != -* ]]; then DATA=$1; shift; fi
if [[ $# -gt 0 && $1 != -* ]]; then CKPT=$1; shift; fi
if [[ $# -gt 0 && $1 != -* ]]; then OUT=$1; shift; fi
if [[ -z ${DATA:-} ]]; then echo "error: DATA is not set" >&2; usage; exit 2; fi
if [[ -z ${CKPT:-} ]]; then echo "error: CKPT is not set" >&2; usage; exit 2; fi
if [[ ! -f $CKPT ]]; then echo "error: checkpoint not found: $CKPT" >&2; exit 2; fi
if [[ $DATA != digits && ! -d $DATA ]]; then echo "error: DATA folder not found: $DATA" >&2; exit 2; fi
OUT=${OUT:-$(dirname "$CKPT")/eval}
ARCH=${ARCH:-resnet50}
SCHEME=${SCHEME:-bops_0.5}
EVAL_FLAG=()
if [[ ${EVALUATE:-1} == 1 ]]; then EVAL_FLAG=(-e); fi

export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES-0}"
mkdir -p "$OUT"
set -x
"${PYTHON:-python}" -m hawq.quant_train \
    -a "$ARCH" \
    --epochs 90 \
    --lr 0.0001 \
    --batch-size 128 \
    --data "$DATA" \
    --save-path "${OUT%/}/" \
    --act-range-momentum=0.99 \
    --wd 1e-4 \
    --data-percentage 1 \
    --checkpoint-iter -1 \
    --quant-scheme "$SCHEME" \
    --resume "$CKPT" \
    --resume-quantize \
    "${EVAL_FLAG[@]}" \
    "$@"
