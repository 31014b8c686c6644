#!/usr/bin/env bash
# The main job on the built-in dataset. Stages that exist today: synthetic data -> FP32 training ->
# FP32 evaluation on the full test set. INT8 quantization, the device run, the equivalence verdict and
# the report are the next stages (see README "Status").
set -euo pipefail
QP=${1:-build/qparity}
OUT=${2:-out/demo}
mkdir -p "$OUT"
echo "== 1/3 data: built-in rock/paper/scissors set -> $OUT/data"
"$QP" data synth --out "$OUT/data"
"$QP" data preview "$OUT/data" --out "$OUT/data-preview.png"
echo "== 2/3 train: rps-cnn, FP32, libtorch -> $OUT/fp32.onnx"
"$QP" train --data "$OUT/data" --out "$OUT/fp32.onnx" --force
"$QP" info "$OUT/fp32.onnx"
echo "== 3/3 eval: FP32 on the full test set -> $OUT/fp32-results.json"
"$QP" eval --model "$OUT/fp32.onnx" --data "$OUT/data/test" --out "$OUT/fp32-results.json" --force
echo
echo "Not yet part of the demo (later stages, not built yet): INT8 quantization, host INT8 evaluation,"
echo "the emulated-device run, the equivalence verdict and the HTML report."
echo "Outputs: $OUT/"
