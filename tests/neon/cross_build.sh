#!/usr/bin/env bash
# cross_build.sh SRC OUT CXX CC JSON_INCLUDE: builds OUT/neon_bit_exact for aarch64 (static, so qemu-aarch64 runs it
# without a sysroot) from only what the optimized kernels need: src/quant/engine_{opt,opt_ops,add}.cpp, quant/multiplier.cpp,
# qp::fail, the C99 runtime kernels and the test's own main (tests/neon/neon_bit_exact.cpp); no libonnx, protobuf or
# gtest for aarch64.
# JSON_INCLUDE: the folder holding nlohmann/json.hpp (a header-only library that quant/qmodel.h reaches through
# data/image_folder.h); it is the only host folder put on the include path, through a link, not /usr/include.
set -euo pipefail
src=$1 out=$2 cxx=$3 cc=$4 json=$5
mkdir -p "$out/obj" "$out/inc"
ln -sfn "$json/nlohmann" "$out/inc/nlohmann"
warn=(-Wall -Wextra -Werror)
pids=()
for f in "$src"/src/runtime/*.c; do
  "$cc" -std=c99 -O2 "${warn[@]}" -pedantic -I"$src/src/runtime" -c "$f" -o "$out/obj/$(basename "$f" .c).o" &
  pids+=($!)
done
for f in src/quant/engine_opt.cpp src/quant/engine_opt_ops.cpp src/quant/engine_add.cpp src/quant/multiplier.cpp src/common/error.cpp \
    tests/neon/neon_bit_exact.cpp; do
  "$cxx" -std=c++20 -O2 "${warn[@]}" -Wno-restrict -I"$src/src" -I"$src/src/runtime" -isystem "$out/inc" \
    -c "$src/$f" -o "$out/obj/$(basename "$f" .cpp).o" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
"$cxx" -static -o "$out/neon_bit_exact.tmp" "$out"/obj/*.o
mv "$out/neon_bit_exact.tmp" "$out/neon_bit_exact"
