#!/usr/bin/env bash
# Fixtures of the cli.*tflite* tests: a 10-class test split (CIFAR-10's class names, two images of the small
# synthetic set in each) for the ResNet-8 .tflite, and a truncated copy of that model.
set -euo pipefail
TD=$1; MODEL=$2
rm -rf "$TD/cifar10"
files=("$TD"/small/test/*/*.png)
i=0
for c in airplane automobile bird cat deer dog frog horse ship truck; do
  mkdir -p "$TD/cifar10/test/$c"
  for k in 0 1; do cp "${files[$(((i + k) % ${#files[@]}))]}" "$TD/cifar10/test/$c/$k.png"; done
  i=$((i + 2))
done
head -c 5000 "$MODEL" > "$TD/truncated.tflite"
