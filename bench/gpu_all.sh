#!/usr/bin/env bash
# Every GPU check of the project in one go, for a machine with one CUDA GPU and no internet: the
# GPU-marked tests, then the GPU benchmarks of the four back ends with full-size random weights, in
# order of priority, each under its own time limit so that one slow part cannot starve the rest.
# Rows are appended to bench/results/*.csv; the log and copies of the CSVs go to $OUT (or
# bench/results/gpu-<date>/). About 10 minutes on one H100/H200.
#
#     bash bench/gpu_all.sh            # or: OUT=/somewhere bash bench/gpu_all.sh
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/results/gpu-$(date -u +%Y%m%dT%H%M)}"
mkdir -p "$OUT"
LOG="$OUT/gpu_all.log"
WEIGHTS="$(mktemp -d)"
trap 'rm -rf "$WEIGHTS"' EXIT

step() {  # step SECONDS DESCRIPTION COMMAND...: run with a limit, log it, never stop the script
    local limit="$1" what="$2"; shift 2
    echo "=== $what (limit ${limit}s): $*" | tee -a "$LOG"
    local t0=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
    echo "=== $what: exit ${PIPESTATUS[0]} after $((SECONDS - t0)) s" | tee -a "$LOG"
}

nvidia-smi 2>&1 | tee -a "$LOG"
step 120 "GPU tests" python -m pytest -q -m gpu tests
step 150 "SD 1.5 at 512, bf16 and fp32 (target 20 ms bf16)" \
    python bench/bench_sds_step.py --scenario sd15-512-bf16 --scenario sd15-512-fp32 --weights-dir "$WEIGHTS/sd15"
step 240 "SDXL at 1024 + 2 ControlNets, bf16 (target 100 ms), fp32, and the VAE option" \
    python bench/bench_sds_step.py --scenario sdxl-1024-controlnets-bf16 --scenario sdxl-1024-controlnets-bf16-vae \
    --scenario sdxl-1024-controlnets-fp32 --weights-dir "$WEIGHTS/sdxl"
step 90 "Gatys NST on the GPU, and 300 L-BFGS iterations at 512 px (target 15 s)" \
    python bench/bench_nst.py --device cuda --gpu-full
step 120 "SMS at 512 px, full-size random SD 1.5 (target 500 iterations in 3 min)" \
    python bench/bench_sms.py --full --size 512 --steps 30 --warmup 5 --device cuda
step 150 "Council GAN: 256/512 px x 3/4 councils, full widths (target: 512 px, 3 councils within 24 GB)" \
    python bench/bench_facegen.py --device cuda --steps 3 --warmup 1 --scenario proposed-512-c3 \
    --scenario full-512-c4 --scenario full-256-c3 --scenario baseline-256-c4

cp bench/results/*.csv "$OUT"/ 2>/dev/null
echo "log and CSVs in $OUT"
