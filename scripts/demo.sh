#!/usr/bin/env bash
# The main job on the built-in dataset, as one command: synthetic rock/paper/scissors data -> FP32
# training -> FP32 evaluation -> INT8 quantization -> INT8 evaluation on the host -> the 50-image
# representative subset on the emulated rv32 microcontroller (QEMU) -> equivalence verdict ->
# quantization inspection -> out/demo/report.html. Rerunning skips the stages whose inputs did not change.
# The exit status is the verdict's: 0 EQUIVALENT, 1 NOT EQUIVALENT.
set -euo pipefail
QP=${1:-build/qparity}
OUT=${2:-out/demo}
# out/demo is the demo's own folder: --force lets the pipeline reuse it even if an older qparity made it.
exec "$QP" pipeline --synth --device qemu-rv32 --subset 50 --out "$OUT" --force
