#!/usr/bin/env bash
# run_qemu.sh BIN CPU EXPECT_DOT: runs the aarch64 neon_bit_exact under qemu-aarch64 -cpu CPU (cortex-a53: NEON
# without the dot-product extension, so neon runs; max: with it, so neon and neon-dot run). EXPECT_DOT (yes|no)
# is what the run-time detection must report on that CPU. Exits 77 (skipped, with the reason) when the cross
# compiler was missing at configure time or qemu-aarch64 is not installed.
set -euo pipefail
bin=$1 cpu=$2 dot=$3
if [ ! -x "$bin" ]; then
  echo "SKIPPED: $bin was not built: no aarch64-linux-gnu-g++ when CMake configured (scripts/install-deps.sh test" \
    "installs g++-aarch64-linux-gnu; then reconfigure and build)"
  exit 77
fi
if ! command -v qemu-aarch64 >/dev/null; then
  echo "SKIPPED: qemu-aarch64 is not installed (scripts/install-deps.sh test installs qemu-user)"
  exit 77
fi
exec qemu-aarch64 -cpu "$cpu" "$bin" --expect-dot "$dot"
