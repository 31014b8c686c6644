#!/usr/bin/env bash
# Regenerates the seed corpora in fuzz/corpus/<harness>/ from a qparity binary (built without libtorch is
# enough): tiny valid models from `qparity init` / `qparity quantize`, protocol frames, results JSON, journals,
# configs, tiny images, and one crafted regression input per robustness bug of issue 14 (crafted_*).
# Models are edited through protoc's text format (protoc --decode / --encode with onnx.proto), so every
# crafted file is reproducible from this script. Usage: fuzz/make_corpus.sh build/qparity
set -euo pipefail
QP=$(realpath "${1:?usage: fuzz/make_corpus.sh path/to/qparity}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
C="$ROOT/fuzz/corpus"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
mkdir -p "$C"/{proto,client,onnx,qdq,tflite,image,verify,journal,config}
PROTO_INC=/usr/include
dec() { protoc -I"$PROTO_INC" --decode=onnx.ModelProto onnx/onnx.proto <"$1"; }
enc() { protoc -I"$PROTO_INC" --encode=onnx.ModelProto onnx/onnx.proto >"$1"; }

# ---- valid models ----
"$QP" data synth --out data --train 30 --test 12 --threads 1 >/dev/null
"$QP" init --arch "conv3x3(4) relu maxpool2 flatten dense(K) softmax" --size 8 --out small.onnx >/dev/null
"$QP" init --arch "conv3x3s2(4) relu6 dwconv3x3 relu maxpool2 conv1x1(4) relu gap dense(K) softmax" --size 12 --out mobile.onnx >/dev/null
"$QP" init --arch "conv5x5valid(3) relu avgpool2 flatten dense(5) relu dense(K) softmax" --size 10 --out avg.onnx >/dev/null
"$QP" init --arch "conv3x3(4) bn relu maxpool2 flatten dropout(0.5) dense(K) softmax" --size 8 --out bn.onnx >/dev/null
"$QP" init --arch "conv3x3(4) relu add{ conv3x3(4) | } relu concat{ conv1x1(4) relu | } maxpool2 flatten dense(K) softmax" \
  --size 8 --out graph.onnx >/dev/null
for m in small mobile avg bn graph; do
  cp $m.onnx "$C/onnx/valid_$m.onnx"
  "$QP" quantize --model $m.onnx --calib data/train --out q_$m.onnx --calib-count 20 --threads 1 >/dev/null
  cp q_$m.onnx "$C/qdq/valid_$m.onnx"
done
# The same models as TensorFlow Lite files (per-tensor Dense, as --out .tflite writes them; graph.onnx has a
# requantizing Concat, which TFLite cannot express, so it has none).
for m in small mobile avg bn; do
  "$QP" quantize --model $m.onnx --calib data/train --out "$C/tflite/valid_$m.tflite" --calib-count 20 --threads 1 --force >/dev/null
done
rm -f "$C"/tflite/labels.txt
# One FP32 .tflite (float32 throughout: read_fp32_tflite and the FP32 executor), written from the FP32 ONNX by convert.
"$QP" convert mobile.onnx "$C/tflite/valid_fp32_mobile.tflite" --force >/dev/null
"$QP" quantize --model small.onnx --calib data/train --out q_small_pt.onnx --weights per-tensor --calib-count 20 --threads 1 >/dev/null
cp q_small_pt.onnx "$C/qdq/valid_small_per_tensor.onnx"
dec small.onnx >small.txt
dec q_small.onnx >q_small.txt

# ---- FP32 ONNX regressions (issue 14) ----
python3 "$ROOT/fuzz/craft_onnx.py" gemm_no_dims <small.txt | enc "$C/onnx/crafted_gemm_no_dims.onnx"
python3 "$ROOT/fuzz/craft_onnx.py" gemm_dims_overflow <small.txt | enc "$C/onnx/crafted_gemm_dims_overflow.onnx"
python3 "$ROOT/fuzz/craft_onnx.py" gemm_weight_from_node <small.txt | enc "$C/onnx/crafted_gemm_weight_from_node.onnx"
python3 "$ROOT/fuzz/craft_onnx.py" conv_kernel_shape_5x5 <small.txt | enc "$C/onnx/crafted_conv_kernel_shape_mismatch.onnx"
python3 "$ROOT/fuzz/craft_onnx.py" one_channel_input <small.txt | enc "$C/onnx/crafted_one_channel_input.onnx"
# ---- QDQ regressions ----
python3 "$ROOT/fuzz/craft_onnx.py" qdq_not_chaining <q_small.txt | enc "$C/qdq/crafted_not_chaining.onnx"
python3 "$ROOT/fuzz/craft_onnx.py" qdq_not_chaining_window <q_small.txt | enc "$C/qdq/crafted_not_chaining_window.onnx"
python3 "$ROOT/fuzz/craft_onnx.py" qdq_activation_scale_zero <q_small.txt | enc "$C/qdq/crafted_activation_scale_zero.onnx"
python3 "$ROOT/fuzz/craft_onnx.py" qdq_weight_dims_overflow <q_small.txt | enc "$C/qdq/crafted_weight_dims_overflow.onnx"

# ---- the rest: small hand-made inputs ----
"$QP" eval --model q_small.onnx --data data/test --out host.json --threads 1 >/dev/null
"$QP" eval --model small.onnx --data data/test --out fp32.json --threads 1 >/dev/null
python3 "$ROOT/fuzz/craft_misc.py" "$C" "$W"
echo "corpus written to $C: $(find "$C" -type f | wc -l) files, $(du -sh "$C" | cut -f1)"
