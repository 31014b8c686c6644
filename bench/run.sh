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
# A partial run (BENCH_ONLY) gets its own file, so it never replaces a complete run's record.
[ -n "${BENCH_ONLY:-}" ] && LOG=$OUT/bench-$STAMP-sections-$(echo "$BENCH_ONLY" | tr ' ' '-').txt
: > "$LOG"
say() { echo "$@" | tee -a "$LOG"; }
# BENCH_ONLY="7 8" runs only those sections (they build what they need).
want() { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]; }
THREADS=$(nproc)
say "# qparity benchmarks, $STAMP, $(nproc) cores, $(uname -m)"

if want 1; then
say "## 1. qparity data synth (defaults: 2520 train + 427 test), whole process"
hyperfine --warmup 1 --runs 5 --prepare "rm -rf $WORK/synth" --export-markdown "$WORK/synth.md" \
  "$QP data synth --out $WORK/synth" 2>&1 | tee -a "$LOG"
fi

if want 2; then
say "## 2. micro-benchmarks (Google Benchmark)"
"$BUILD/bench/bench_core" --benchmark_min_time=0.5 2>&1 | tee -a "$LOG"
fi
"$QP" data synth --out "$WORK/data" >/dev/null

if want 3; then
say "## 3. training throughput, rps-cnn, batch 64, 8 epochs, $THREADS threads: qparity (libtorch C++) vs PyTorch"
"$QP" train --data "$WORK/data" --out "$WORK/bench8.onnx" --epochs 8 --patience 100 --threads "$THREADS" 2>"$WORK/train8.log" | tee -a "$LOG"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 bench/torch_peer_train.py "$WORK/data" 8 "$THREADS" 2>/dev/null | tee -a "$LOG"
else
  say "PyTorch peer skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)"
fi
fi

if want 4 || want 5 || want 6 || want 7 || want 8; then
say "## 4. the default recipe end to end: train (defaults) then FP32 test accuracy"
/usr/bin/time -f "train wall %e s, peak RSS %M KB" "$QP" train --data "$WORK/data" --out "$WORK/model.onnx" 2>"$WORK/train.log" | tee -a "$LOG"
tail -1 "$WORK/train.log" | tee -a "$LOG"
"$QP" eval --model "$WORK/model.onnx" --data "$WORK/data/test" | tee -a "$LOG"
"$QP" quantize --model "$WORK/model.onnx" --calib "$WORK/data/train" --out "$WORK/int8.onnx" --force >/dev/null
fi
if want 5; then
say "## 5. INT8: quantization (200 calibration images) and whole-test-set INT8 evaluation, whole process"
hyperfine --warmup 1 --runs 5 \
  "$QP quantize --model $WORK/model.onnx --calib $WORK/data/train --out $WORK/int8.onnx --force" \
  "$QP eval --model $WORK/int8.onnx --data $WORK/data/test --threads 1" \
  "$QP eval --model $WORK/int8.onnx --data $WORK/data/test --threads $THREADS" \
  "$QP --version" 2>&1 | tee -a "$LOG"
"$QP" info "$WORK/int8.onnx" | tail -2 | tee -a "$LOG"
ls -l "$WORK/model.onnx" "$WORK/int8.onnx" | tee -a "$LOG"
fi
if want 6; then
say "## 6. INT8 inference peers: PyTorch eager-mode PTQ of the same network, 427 images as one batch"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 bench/torch_peer_int8.py "$THREADS" 2>/dev/null | tee -a "$LOG"
fi
fi
if want 7; then
say "## 7. firmware on the emulated boards: instructions per layer and per inference (QEMU -icount), footprint"
say "baseline (not runnable here, from the issue): TensorFlow Lite Micro reference kernels, same model, rv32imac GCC 12 -O2:"
say "  32.7 M instructions per inference (11.4 per MAC), arena 23.5 KB, runtime code 36.8 KB + 13.8 KB soft-float"
for target in qemu-rv32 qemu-xtensa; do
  "$QP" firmware --model "$WORK/int8.onnx" --target $target --out "$WORK/fw-$target" --subset-from "$WORK/data/test" --subset 1 --force \
    | tee -a "$LOG"
  "$QP" device run --model "$WORK/int8.onnx" --data "$WORK/data/test" --port $target --subset 20 --out "$WORK/dev-$target.json" \
    --firmware "$WORK/fw-$target/firmware.elf" --force | grep -E "per inference" | tee -a "$LOG"
  grep -h -E "Profile:|Stack:" "$WORK"/device-logs/$target-0.console.log | tee -a "$LOG"
  say "footprint: $(cat "$WORK/fw-$target/footprint.json" | tr -d '\n ' )"
done
fi
if want 8; then
say "## 8. emulated device throughput: 50 images (1 QEMU instance) and the whole test set ($THREADS instances), with -icount"
for target in qemu-rv32 qemu-xtensa; do
  "$QP" firmware --model "$WORK/int8.onnx" --target $target --out "$WORK/fw8-$target" --force >/dev/null
  hyperfine --runs 3 --export-markdown "$WORK/dev8-$target.md" \
    "$QP device run --model $WORK/int8.onnx --data $WORK/data/test --port $target --subset 50 --out $WORK/d50.json --firmware $WORK/fw8-$target/firmware.elf --force" \
    "$QP device run --model $WORK/int8.onnx --data $WORK/data/test --port $target --subset all --out $WORK/dall.json --firmware $WORK/fw8-$target/firmware.elf --force" \
    2>&1 | tee -a "$LOG"
done
fi
if want 9; then
say "## 9. make demo after the build: qparity pipeline --synth --device qemu-rv32 --subset 50, per stage (fresh run folder)"
/usr/bin/time -f "pipeline wall %e s" "$QP" pipeline --synth --device qemu-rv32 --subset 50 --out "$WORK/demo" >"$WORK/demo.log" 2>"$WORK/demo.err" || true
tail -1 "$WORK/demo.err" | tee -a "$LOG"
grep -E "^verdict" "$WORK/demo.log" | tee -a "$LOG"
/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('\n'.join('%-10s %7.1f s' % (s['name'], s['seconds']) for s in d['stages']))" \
  "$WORK/demo/pipeline.json" | tee -a "$LOG"
say "## 10. qparity pipeline --subset all on the default data (rerun of 9: only the device, verify and report stages run)"
/usr/bin/time -f "pipeline --subset all wall %e s" "$QP" pipeline --synth --device qemu-rv32 --subset all --out "$WORK/demo" >"$WORK/all.log" 2>"$WORK/all.err" || true
tail -1 "$WORK/all.err" | tee -a "$LOG"
grep -E "^verdict" "$WORK/all.log" | tee -a "$LOG"
/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('\n'.join('%-10s %7.1f s%s' % (s['name'], s['seconds'], ' (skipped)' if s['skipped'] else '') for s in d['stages']))" \
  "$WORK/demo/pipeline.json" | tee -a "$LOG"
fi
if want 11; then
say "## 11. the residual preset end to end: qparity pipeline --synth --arch rps-resnet --device qemu-rv32 --subset all"
/usr/bin/time -f "pipeline wall %e s" "$QP" pipeline --synth --arch rps-resnet --device qemu-rv32 --subset all --out "$WORK/resnet" \
  >"$WORK/resnet.log" 2>"$WORK/resnet.err" || true
tail -1 "$WORK/resnet.err" | tee -a "$LOG"
grep -E "^verdict|bit-exact|accuracy|agreement" "$WORK/resnet.log" | tee -a "$LOG"
"$QP" info "$WORK/resnet/model-fp32.onnx" | grep -E "parameters|MACs" | tee -a "$LOG" || true
"$QP" firmware --model "$WORK/resnet/model-int8.onnx" --target qemu-rv32 --out "$WORK/fw11" --force | tee -a "$LOG"
grep -h "QP_MODEL_ARENA_BYTES\|without buffer reuse" "$WORK/fw11/qp_model.h" | tee -a "$LOG"
"$QP" device run --model "$WORK/resnet/model-int8.onnx" --data "$WORK/resnet/data/test" --port qemu-rv32 --subset 20 \
  --out "$WORK/d11.json" --firmware "$WORK/fw11/firmware.elf" --force | grep -E "per inference" | tee -a "$LOG"
fi
if want 12; then
# BENCH12_EPOCHS (default 20) and BENCH12_THREADS (default $THREADS) size the runs; short runs, not the default recipe.
E12=${BENCH12_EPOCHS:-20}; T12=${BENCH12_THREADS:-$THREADS}
say "## 12. input size x preset on the built-in set: $E12 epochs, $T12 thread(s); FP32/INT8 accuracy, qemu-rv32 instructions"
"$QP" data synth --out "$WORK/data64" --size 64 >/dev/null
for input in 32x32x3 64x64x3; do
  d="$WORK/data"; [ "$input" = 64x64x3 ] && d="$WORK/data64"
  for arch in rps-cnn rps-resnet rps-mobilenet; do
    m="$WORK/b12-$arch-$input"
    "$QP" train --data "$d" --out "$m.onnx" --arch "$arch" --input "$input" --epochs "$E12" --patience 100 --threads "$T12" \
      --force 2>/dev/null | head -1 | tee -a "$LOG"
    "$QP" info "$m.onnx" | grep -E "parameters|MACs" | tr -s ' ' | tee -a "$LOG"
    "$QP" quantize --model "$m.onnx" --calib "$d/train" --out "$m-int8.onnx" --force >/dev/null
    "$QP" eval --model "$m.onnx" --data "$d/test" --out "$m-fp32.json" --force | grep -i accuracy | sed "s/^/FP32 /" | tee -a "$LOG"
    "$QP" eval --model "$m-int8.onnx" --data "$d/test" --out "$m-int8.json" --force | grep -i accuracy | sed "s/^/INT8 /" | tee -a "$LOG"
    "$QP" firmware --model "$m-int8.onnx" --target qemu-rv32 --out "$m-fw" --force >/dev/null
    "$QP" device run --model "$m-int8.onnx" --data "$d/test" --port qemu-rv32 --subset 5 --out "$m-dev.json" \
      --firmware "$m-fw/firmware.elf" --force | grep -E "per inference" | tee -a "$LOG"
  done
done
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  say "## 12b. training throughput at 64x64x3, rps-cnn, batch 64, 4 epochs, $THREADS threads: qparity vs PyTorch (same data)"
  "$QP" train --data "$WORK/data64" --out "$WORK/b12t.onnx" --input 64x64x3 --epochs 4 --patience 100 --threads "$THREADS" \
    --force 2>/dev/null | tee -a "$LOG"
  /usr/bin/python3 bench/torch_peer_train.py "$WORK/data64" 4 "$THREADS" 2>/dev/null | tee -a "$LOG"
fi
fi
if want 13; then
say "## 13. MCU and host kernels (issue 11): per-layer instructions and instructions per MAC on both boards (QEMU -icount),"
say "##     rps-resnet and rps-mobile, untrained (seed 7) and quantized on the default set; host images/s reference vs optimized"
grep -m1 "model name" /proc/cpuinfo | tee -a "$LOG" || true
say "SIMD: $(grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|avx2|fma|avx512f|avx512_vnni|avx512vnni)$' | tr '\n' ' ')"
for arch in rps-resnet rps-mobile; do
  "$QP" init --arch $arch --seed 7 --out "$WORK/$arch.onnx" --force >/dev/null
  "$QP" quantize --model "$WORK/$arch.onnx" --calib "$WORK/data/train" --out "$WORK/$arch-int8.onnx" --force >/dev/null
  "$QP" info "$WORK/$arch.onnx" >"$WORK/$arch-info.txt"
  for target in qemu-rv32 qemu-xtensa; do
    "$QP" firmware --model "$WORK/$arch-int8.onnx" --target $target --out "$WORK/fw13-$arch-$target" --subset-from "$WORK/data/test" \
      --subset 1 --force >/dev/null
    "$QP" device run --model "$WORK/$arch-int8.onnx" --data "$WORK/data/test" --port $target --subset 1 --out "$WORK/d13.json" \
      --firmware "$WORK/fw13-$arch-$target/firmware.elf" --force | grep -E "per inference" | sed "s/^/$arch $target: /" | tee -a "$LOG"
    /usr/bin/python3 bench/layer_profile.py "$WORK/$arch-info.txt" "$WORK"/device-logs/$target-0.console.log | tee -a "$LOG"
  done
  # Host: the whole test set (427 images) through each engine, 1 and $THREADS threads (the machine may be shared).
  for backend in reference optimized; do
    for t in 1 "$THREADS"; do
      /usr/bin/time -f "$arch host $backend, $t thread(s): %e s wall for 427 images" "$QP" eval --model "$WORK/$arch-int8.onnx" \
        --data "$WORK/data/test" --backend $backend --threads $t >/dev/null 2>>"$LOG" || say "(eval --backend $backend failed)"
    done
  done
  tail -4 "$LOG"
done
fi
if want 14; then
# BENCH14_ROUNDS (default 3): interleaved rounds; the script writes its own raw file and table under bench/results/.
say "## 14. host INT8 peers (issue 13): qparity kernel sets vs PyTorch oneDNN/QNNPACK and ONNX Runtime, rps-cnn and rps-resnet"
bench/host_int8_peers.sh "$BUILD" "${BENCH14_ROUNDS:-3}" 2>&1 | tee -a "$LOG"
fi
say "saved $LOG"
