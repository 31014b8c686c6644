#!/usr/bin/env bash
# Installs the Debian packages qparity needs, only those missing. Idempotent and fast when all is present.
# Usage: scripts/install-deps.sh [build|test|bench|fuzz|all]   (default: build)
set -euo pipefail

build_pkgs=(cmake g++ make pkg-config
  libtorch-dev libonnx-dev libprotobuf-dev protobuf-compiler
  libstb-dev libpng-dev libjpeg-dev libwebp-dev libcli11-dev nlohmann-json3-dev
  libflatbuffers-dev flatbuffers-compiler
  qemu-system-misc gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
  gcc-xtensa-lx106 picolibc-xtensa-lx106-elf)
# The device stage (firmware cross builds, emulated targets) is part of `make demo`, hence in build.
# g++-aarch64-linux-gnu + qemu-user: the neon.* tests (ARM64 NEON kernels cross-compiled, run under qemu-aarch64).
test_pkgs=(libgtest-dev libgmock-dev chromium g++-aarch64-linux-gnu qemu-user)
bench_pkgs=(libbenchmark-dev hyperfine python3-torch time)
# make fuzz / make fuzz-ci: clang with libFuzzer and the sanitizer runtimes.
fuzz_pkgs=(clang libclang-rt-dev)

want=("${build_pkgs[@]}")
ort=0  # the ort.* tests' ONNX Runtime (npm onnxruntime-node), with the test sets
case "${1:-build}" in
  build) ;;
  test) want+=("${test_pkgs[@]}"); ort=1 ;;
  bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}"); ort=1 ;;
  fuzz) want+=("${fuzz_pkgs[@]}") ;;
  all) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}" "${fuzz_pkgs[@]}"); ort=1 ;;
  *) echo "install-deps.sh: unknown set '$1' (use build, test, bench, fuzz or all)" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done
# node and npm from Debian unless some node is already there (e.g. NodeSource's nodejs, which bundles npm).
if [ "$ort" = 1 ]; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi

# onnxruntime-node, the CPU build of ONNX Runtime, into tools/onnxruntime/node_modules (not committed), at the
# versions of tools/onnxruntime/package-lock.json; again only when that lock changed. Its install script would
# download GPU parts: ONNXRUNTIME_NODE_INSTALL=skip and --ignore-scripts (the CPU library is in the package).
install_ort() {
  [ "$ort" = 1 ] || return 0
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tools/onnxruntime"
  cmp -s "$dir/package-lock.json" "$dir/node_modules/.qparity-lock" && return 0
  echo "install-deps: npm ci onnxruntime-node into $dir/node_modules"
  if (cd "$dir" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --ignore-scripts --loglevel=error); then
    cp "$dir/package-lock.json" "$dir/node_modules/.qparity-lock"
  else
    echo "install-deps: npm could not install onnxruntime-node (is registry.npmjs.org reachable?); the ort.* tests will fail" >&2
  fi
}
if [ ${#missing[@]} -eq 0 ]; then install_ort; exit 0; fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
stamp=/var/lib/apt/periodic/qparity-update-stamp
if [ ! -f "$stamp" ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]; then
  $SUDO apt-get update -qq
  $SUDO mkdir -p "$(dirname "$stamp")" && $SUDO touch "$stamp"
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
install_ort
