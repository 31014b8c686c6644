#!/usr/bin/env bash
# Crafted model files for the model-validation CLI tests (issue 14, item 2): each is a model qparity
# wrote, decoded to protobuf text with protoc, changed in one place, and encoded again. ONNX's checker
# accepts every one of them; qparity must refuse them with an error naming the node or layer.
# Usage: cli_model_setup.sh TD   (TD holds untrained-rps-cnn.onnx and int8.onnx from the CLI fixtures)
set -euo pipefail
TD=$1
OUT=$TD/crafted
rm -rf "$OUT"; mkdir -p "$OUT"
proto=$(find /usr/include /usr/local/include -path '*/onnx/onnx.proto' 2>/dev/null | head -n1)
[ -n "$proto" ] || { echo "cli_model_setup.sh: onnx/onnx.proto not found (install libonnx-dev)" >&2; exit 1; }
inc=$(dirname "$(dirname "$proto")")
decode() { protoc -I"$inc" --decode=onnx.ModelProto onnx/onnx.proto < "$1"; }
encode() { protoc -I"$inc" --encode=onnx.ModelProto onnx/onnx.proto > "$1"; }
# craft SRC DST PERL: applies the perl substitution (whole file at once) and fails when it changed nothing.
craft() {
  local src=$1 dst=$2 expr=$3 text
  text=$(decode "$src")
  local changed
  changed=$(perl -0pe "$expr" <<<"$text")
  [ "$changed" != "$text" ] || { echo "cli_model_setup.sh: '$expr' changed nothing for $dst" >&2; exit 1; }
  encode "$OUT/$dst" <<<"$changed"
}
FP32=$TD/untrained-rps-cnn.onnx
INT8=$TD/int8.onnx
# The first Conv says 5x5 while its weights are 3x3.
craft "$FP32" conv-kernel5.onnx 's/(name: "kernel_shape"\n\s*ints: )3(\n\s*ints: )3/${1}5${2}5/'
# The first Gemm's weight has no dims (a scalar).
craft "$FP32" gemm-no-dims.onnx 's/dims: \d+\n\s*dims: \d+\n(\s*data_type: 1\n\s*name: "l\d+_Dense\.weight"\n\s*raw_data: )"[^\n]*"/$1"\\000\\000\\000?"/'
# The first Gemm's weight is the activation the Flatten computes, not an initializer.
craft "$FP32" gemm-weight-computed.onnx 's/input: "(l\d+_Flatten_out)"(\s*)input: "l\d+_Dense\.weight"/input: "$1"$2input: "$1"/'
# A 1-channel input (qparity would feed it interleaved RGB bytes).
craft "$FP32" one-channel.onnx 's/dim_value: 3/dim_value: 1/'
# INT8: the first max pool declares a map twice the size the conv before it gives.
craft "$INT8" int8-unchained.onnx 's/(\\"op\\":\\"MaxPool\\".*?\\"in\\":\[)(\d+),(\d+),(\d+)(\],\\"out\\":\[)(\d+),(\d+),(\d+)/$1.$2.",".(2*$3).",".(2*$4).$5.$6.",".(2*$7).",".(2*$8)/e'
# INT8: the input's activation scale is 0.
craft "$INT8" int8-zero-scale.onnx 's/(name: "in\.y_scale"\n\s*raw_data: )"[^\n]*"/$1"\\000\\000\\000\\000"/'
ls "$OUT"
