# shellcheck shell=bash
# Shared by the hawq/scripts/resnet*_*.sh model-zoo scripts; source it, do not run it.
#
# Each model-zoo script sets ARCH, SCHEME, EPOCHS and PERCENT, then calls `zoo_train "$@"`.
# The command it runs is the model-zoo template of HAWQ-V3 (docs/hawq.md section 2.1):
#
#   python -m hawq.quant_train -a ARCH --epochs E --lr 0.0001 --batch-size 128 --data $DATA --pretrained
#     --save-path $OUT/ --act-range-momentum=0.99 --wd 1e-4 --data-percentage P --fix-BN
#     --checkpoint-iter -1 --quant-scheme S
#
# Three defaults of quant_train are traps, and the template spells out the value it needs for each:
#   * -b/--batch-size defaults to 1 (not 128): always pass --batch-size 128.
#   * --act-range-momentum defaults to -1 (running min/max since the first batch, no EMA): pass 0.99.
#   * --channel-wise is store_false: per-channel weights are already ON, and *passing* the flag turns them OFF.
#     The template does not pass it; neither should you.
#
# Usage of every model-zoo script:
#   DATA=/path/to/imagenet OUT=/path/to/run ./resnet18_bops_0.5.sh [extra quant_train flags]
#   ./resnet18_bops_0.5.sh /path/to/imagenet /path/to/run [extra quant_train flags]
# Environment: PYTHON (default: python), CUDA_VISIBLE_DEVICES (default: 0, a single GPU as the authors advise:
# DataParallel changes the BN and activation-range statistics the folding relies on).

zoo_usage() {
    echo "usage: $(basename "$0") DATA OUT [extra quant_train flags]" >&2
    echo "       (or set DATA and OUT in the environment; DATA is an ImageNet folder with train/ and val/," >&2
    echo "        or 'digits' for the embedded data; OUT is the run folder, created if missing)" >&2
}

# zoo_parse_data_out "$@": sets DATA, OUT and the array EXTRA (remaining flags) from positionals or env.
zoo_parse_data_out() {
    EXTRA=()
    if [[ $# -gt 0 && $1 != -* ]]; then
        DATA=$1
        shift
    fi
    if [[ $# -gt 0 && $1 != -* ]]; then
        OUT=$1
        shift
    fi
    EXTRA=("$@")
    if [[ -z ${DATA:-} ]]; then
        echo "error: DATA is not set (first argument or DATA=...)" >&2
        zoo_usage
        exit 2
    fi
    if [[ -z ${OUT:-} ]]; then
        echo "error: OUT is not set (second argument or OUT=...)" >&2
        zoo_usage
        exit 2
    fi
    if [[ $DATA != digits && $DATA != synthetic && ! -d $DATA ]]; then
        echo "error: DATA folder not found: $DATA" >&2
        exit 2
    fi
}

zoo_train() {
    zoo_parse_data_out "$@"
    export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES-0}"
    local py="${PYTHON:-python}"
    mkdir -p "$OUT"
    set -x
    "$py" -m hawq.quant_train \
        -a "$ARCH" \
        --epochs "$EPOCHS" \
        --lr 0.0001 \
        --batch-size 128 \
        --data "$DATA" \
        --pretrained \
        --save-path "${OUT%/}/" \
        --act-range-momentum=0.99 \
        --wd 1e-4 \
        --data-percentage "$PERCENT" \
        --fix-BN \
        --checkpoint-iter -1 \
        --quant-scheme "$SCHEME" \
        "${EXTRA[@]}"
}
