#!/usr/bin/env bash
# ONNX Runtime loads and runs what qparity writes: for an untrained rps-cnn (Conv, MaxPool, Flatten, Gemm)
# and rps-mobilenet (depthwise Conv, Clip, Add, GlobalAveragePool), qparity writes the FP32 ONNX and the
# QDQ ONNX, evaluates both on a small built-in test split, exports the split as raw tensors
# (`qparity data tensors`), and tests/ort_check.js runs them through onnxruntime-node: FP32 decisions must
# equal qparity's; for INT8 it prints the count of int8 output vectors that differ (ONNX Runtime requantizes
# in float) and compares the decisions.
#   ort_check.sh QPARITY NODE_MODULES WORKDIR
set -euo pipefail
QP=$1; MODULES=$2; WD=$3
HERE="$(cd "$(dirname "$0")" && pwd)"
command -v node >/dev/null || { echo "ort_check: node is not installed; fix: scripts/install-deps.sh test" >&2; exit 1; }
[ -f "$MODULES/onnxruntime-node/package.json" ] ||
  { echo "ort_check: $MODULES holds no onnxruntime-node; fix: scripts/install-deps.sh test" >&2; exit 1; }
rm -rf "$WD"; mkdir -p "$WD"
"$QP" data synth --out "$WD/d" --train 30 --test 30 --seed 7 >/dev/null
"$QP" data tensors "$WD/d/test" --out "$WD/x.f32"
for arch in rps-cnn rps-mobilenet; do
  echo "== $arch"
  "$QP" init --arch "$arch" --out "$WD/$arch.onnx" --seed 11 >/dev/null
  "$QP" quantize --model "$WD/$arch.onnx" --calib "$WD/d/train" --out "$WD/$arch-int8.onnx" >/dev/null
  "$QP" eval --model "$WD/$arch.onnx" --data "$WD/d/test" --out "$WD/$arch-fp32.json" >/dev/null
  "$QP" eval --model "$WD/$arch-int8.onnx" --data "$WD/d/test" --out "$WD/$arch-int8.json" >/dev/null
  NODE_PATH="$MODULES" node "$HERE/ort_check.js" "$WD/$arch.onnx" "$WD/$arch-int8.onnx" "$WD/x.f32" \
    "$WD/$arch-fp32.json" "$WD/$arch-int8.json"
done
