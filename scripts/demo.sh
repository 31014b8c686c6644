#!/usr/bin/env bash
# The main job on the built-in dataset. Stages that exist today: synthetic data -> FP32 training ->
# FP32 evaluation on the full test set -> INT8 quantization -> INT8 evaluation on the full test set on
# the host -> FP32/INT8 agreement. The device run, the equivalence verdict and the report are the
# next stages (see README "Status").
set -euo pipefail
QP=${1:-build/qparity}
OUT=${2:-out/demo}
mkdir -p "$OUT"
echo "== 1/5 data: built-in rock/paper/scissors set -> $OUT/data"
"$QP" data synth --out "$OUT/data"
"$QP" data preview "$OUT/data" --out "$OUT/data-preview.png"
echo "== 2/5 train: rps-cnn, FP32, libtorch -> $OUT/fp32.onnx"
"$QP" train --data "$OUT/data" --out "$OUT/fp32.onnx" --force
"$QP" info "$OUT/fp32.onnx"
echo "== 3/5 eval: FP32 on the full test set -> $OUT/fp32-results.json"
"$QP" eval --model "$OUT/fp32.onnx" --data "$OUT/data/test" --out "$OUT/fp32-results.json" --force
echo "== 4/5 quantize: INT8 post-training quantization (per-channel, min/max, 200 calibration images) -> $OUT/int8.onnx"
"$QP" quantize --model "$OUT/fp32.onnx" --calib "$OUT/data/train" --out "$OUT/int8.onnx" --force
"$QP" info "$OUT/int8.onnx"
echo "== 5/5 eval: INT8 on the full test set (integer reference kernels) -> $OUT/int8-results.json"
"$QP" eval --model "$OUT/int8.onnx" --data "$OUT/data/test" --out "$OUT/int8-results.json" --force
"$QP" compare --a "$OUT/fp32-results.json" --b "$OUT/int8-results.json"
echo
echo "Not yet part of the demo (later stages, not built yet): the emulated-device run, the equivalence"
echo "verdict and the HTML report."
echo "Outputs: $OUT/"
