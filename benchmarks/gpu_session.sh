#!/usr/bin/env bash
# One GPU session's measurements, in priority order, each under its own time cap and all under one deadline,
# so that a short lease still returns the most important numbers (benchmarks/README.md, "GPU").
#
#   OUT=/some/folder [PARTS="qat hessian compare others compile seeds"] bash benchmarks/gpu_session.sh [deadline]
#
# PARTS (default: all but seeds) picks what runs, in the order above; seeds is the benchmark at its default
# effort with two seeds on the GPU (mean ± std; results/compare/h200/ keeps one such run).
#
# Logs land in $OUT (hawq.log, others.log, compare.log, compare_report.md, compare.csv, compile.log, env.log;
# seeds.log, seeds_report.md, seeds.csv). PyHessian is taken from .gpu_site/ when it is there (a copy of the installed package;
# the GPU machine has no registry), else PyHessian's side is reported as unavailable.
set -u
DEADLINE=${1:-540}
OUT=${OUT:?set OUT to the folder for the logs}
mkdir -p "$OUT"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
[ -d .gpu_site ] && export PYTHONPATH="$PYTHONPATH:$PWD/.gpu_site"
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
START=$SECONDS

# step CAP LOG COMMAND...: run COMMAND under min(CAP, time left) seconds, appending to $OUT/LOG
step() {
    local cap=$1 log=$2
    shift 2
    local left=$((DEADLINE - (SECONDS - START)))
    if [ "$left" -lt 20 ]; then
        echo "## skipped (deadline): $*" >>"$OUT/$log"
        return
    fi
    [ "$cap" -gt "$left" ] && cap=$left
    echo "## $* (cap ${cap}s, at $((SECONDS - START))s)" >>"$OUT/$log"
    local t0=$SECONDS
    timeout "$cap" "$@" >>"$OUT/$log" 2>&1
    echo "## exit $? after $((SECONDS - t0))s" >>"$OUT/$log"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
    $PY -c "import torch, torchvision; print(torch.__version__, torchvision.__version__, torch.cuda.get_device_name(0))"
    nproc
} >"$OUT/env.log" 2>&1

B=benchmarks
PARTS=${PARTS:-qat hessian compare others compile}
has() { [[ " $PARTS " == *" $1 "* ]]; }

if has qat; then
    step 100 hawq.log $PY $B/bench_hawq.py --device cuda --amp bf16 --batch 64 --image-size 224 --repeats 20 \
        --warmup 3 --threads 0 --skip-hessian
fi
if has hessian; then
    step 80 hawq.log $PY $B/bench_hawq.py --device cuda --skip-qat --repeats 5 --warmup 1 --threads 0
    step 100 hawq.log $PY $B/bench_hawq.py --device cuda --skip-qat --hessian-arch resnet18 --hessian-image-size 224 \
        --hessian-batch 32 --probes 10 --repeats 2 --warmup 1 --threads 0
fi
if has compare; then
    step 200 compare.log $PY -m reproduce.compare --quick --device cuda --amp bf16 --out /tmp/compare_gpu \
        --results-dir /tmp/compare_gpu_results
    cp /tmp/compare_gpu/compare.md "$OUT/compare_report.md" 2>/dev/null
    cat /tmp/compare_gpu_results/*.csv >"$OUT/compare.csv" 2>/dev/null
fi
if has others; then
    step 60 others.log $PY $B/bench_hmq.py --device cuda --amp bf16 --batch_size 128 --batches 10 --repeats 5 --threads 0
    step 90 others.log $PY $B/bench_proqha.py --device cuda --batch 64 --repeats 5 --threads 0
    step 70 hawq.log $PY $B/bench_hawq.py --device cuda --amp none --batch 64 --image-size 224 --repeats 20 --warmup 3 \
        --threads 0 --skip-hessian
    step 60 others.log $PY $B/bench_haq.py --device cuda --which digits --episodes 2 --step_batch 256 --repeats 10 \
        --threads 0
    step 45 others.log $PY $B/bench_ompq.py --device cuda --model resnet18 --batch 32 --size 224 --repeats 5 --threads 0
fi
if has compile; then
    step 200 compile.log $PY $B/bench_hawq.py --device cuda --amp bf16 --batch 64 --image-size 224 --repeats 20 \
        --warmup 3 --threads 0 --skip-hessian --schemes uniform8 --compile
fi
if has seeds; then
    step 400 seeds.log $PY -m reproduce.compare --seeds 2 --device cuda --amp bf16 --out /tmp/compare_seeds \
        --results-dir /tmp/compare_seeds_results
    cp /tmp/compare_seeds/compare.md "$OUT/seeds_report.md" 2>/dev/null
    cat /tmp/compare_seeds_results/*.csv >"$OUT/seeds.csv" 2>/dev/null
fi
echo "total $((SECONDS - START))s" >>"$OUT/env.log"
