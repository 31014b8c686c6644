#!/usr/bin/env bash
# make bench: the benchmarks of BENCHMARKS.md, printed and saved under bench/results/ (date-stamped).
# Whole-process timings use hyperfine; in-process ones Google Benchmark; the training peer is
# Debian's PyTorch (/usr/bin/python3) on the same model, data, batch size and epochs.
set -euo pipefail
BUILD=${1:-build}
QP=$BUILD/qparity
OUT=bench/results
STAMP=$(date +%Y-%m-%d)
WORK=$(mktemp -d /tmp/qparity-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
LOG=$OUT/bench-$STAMP.txt
: > "$LOG"
say() { echo "$@" | tee -a "$LOG"; }
THREADS=$(nproc)
say "# qparity benchmarks, $STAMP, $(nproc) cores, $(uname -m)"

say "## 1. qparity data synth (defaults: 2520 train + 427 test), whole process"
hyperfine --warmup 1 --runs 5 --prepare "rm -rf $WORK/synth" --export-markdown "$WORK/synth.md" \
  "$QP data synth --out $WORK/synth" 2>&1 | tee -a "$LOG"

say "## 2. micro-benchmarks (Google Benchmark)"
"$BUILD/bench/bench_core" --benchmark_min_time=0.5 2>&1 | tee -a "$LOG"

say "## 3. training throughput, rps-cnn, batch 64, 8 epochs, $THREADS threads: qparity (libtorch C++) vs PyTorch"
"$QP" data synth --out "$WORK/data" >/dev/null
"$QP" train --data "$WORK/data" --out "$WORK/bench8.onnx" --epochs 8 --patience 100 --threads "$THREADS" 2>"$WORK/train8.log" | tee -a "$LOG"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 bench/torch_peer_train.py "$WORK/data" 8 "$THREADS" 2>/dev/null | tee -a "$LOG"
else
  say "PyTorch peer skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)"
fi

say "## 4. the default recipe end to end: train (defaults) then FP32 test accuracy"
/usr/bin/time -f "train wall %e s, peak RSS %M KB" "$QP" train --data "$WORK/data" --out "$WORK/model.onnx" 2>"$WORK/train.log" | tee -a "$LOG"
tail -1 "$WORK/train.log" | tee -a "$LOG"
"$QP" eval --model "$WORK/model.onnx" --data "$WORK/data/test" | tee -a "$LOG"
say "## 5. INT8: quantization (200 calibration images) and whole-test-set INT8 evaluation, whole process"
hyperfine --warmup 1 --runs 5 \
  "$QP quantize --model $WORK/model.onnx --calib $WORK/data/train --out $WORK/int8.onnx --force" \
  "$QP eval --model $WORK/int8.onnx --data $WORK/data/test --threads 1" \
  "$QP eval --model $WORK/int8.onnx --data $WORK/data/test --threads $THREADS" \
  "$QP --version" 2>&1 | tee -a "$LOG"
"$QP" info "$WORK/int8.onnx" | tail -2 | tee -a "$LOG"
ls -l "$WORK/model.onnx" "$WORK/int8.onnx" | tee -a "$LOG"
say "## 6. INT8 inference peers: PyTorch eager-mode PTQ of the same network, 427 images as one batch"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 bench/torch_peer_int8.py "$THREADS" 2>/dev/null | tee -a "$LOG"
fi
say "saved $LOG"
