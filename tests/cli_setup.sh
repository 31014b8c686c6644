#!/usr/bin/env bash
# Builds the small fixtures the CLI tests use.
set -euo pipefail
QP=$1; TD=$2
rm -rf "$TD"; mkdir -p "$TD"
"$QP" data synth --out "$TD/small" --train 60 --test 30 --seed 5
printf 'this is not a model' > "$TD/not-a-model.onnx"
echo '{"keep": true}' > "$TD/keep.json"
mkdir -p "$TD/userfolder" && echo "my notes" > "$TD/userfolder/notes.txt"
# A dataset with one corrupt image.
mkdir -p "$TD/bad"; cp -r "$TD/small/test" "$TD/bad/test"; cp "$TD/small/classes.txt" "$TD/bad/"
printf 'PNG? no' > "$TD/bad/test/rock/corrupt.png"
# Test split with a class missing from train.
mkdir -p "$TD/extra-class"; cp -r "$TD/small/train" "$TD/small/test" "$TD/extra-class/"
mkdir -p "$TD/extra-class/test/lizard"; cp "$TD/small/test/rock/00000.png" "$TD/extra-class/test/lizard/"
rm -f "$TD/extra-class/classes.txt"
# An untrained rps-cnn model.
"$QP" init --arch rps-cnn --out "$TD/untrained-rps-cnn.onnx" --seed 3
head -c 2000 "$TD/untrained-rps-cnn.onnx" > "$TD/truncated.onnx"
