#!/usr/bin/env bash
# Host INT8 inference: qparity vs PyTorch (oneDNN, QNNPACK) and ONNX Runtime (issue 13), rps-cnn and rps-resnet.
#
#   bench/host_int8_peers.sh BUILD [ROUNDS]        (BUILD: a Release build with -DQPARITY_BENCH=ON; ROUNDS: 3)
#
# Makes the FP32 ONNX (qparity init, seed 7: weights do not change the work done) and the QDQ ONNX (qparity
# quantize on 'qparity data synth' images) of both presets, then runs ROUNDS interleaved rounds of
#   - bench_core, BM_Int8Inference_RpsCnn and BM_Int8Inference_Arch/resnet_*: each kernel set this CPU has
#     (auto, avx2 forced, portable), 1 and 2 threads (one image per iteration per thread);
#   - bench/torch_peer_int8.py (PyTorch eager PTQ of the same network, 427 images as one batch, best of 20),
#     as is, with ONEDNN_MAX_CPU_ISA=AVX2 (oneDNN limited to AVX2) and, where the CPU has AVX-VNNI, with
#     ONEDNN_MAX_CPU_ISA=AVX2_VNNI (oneDNN's avx2_vnni kernels: the peer of qparity's avx-vnni set);
#   - bench/ort_peer.js (ONNX Runtime on the same QDQ and FP32 ONNX files, 427 images as one batch, best of 10);
# and prints the best and median images/s per (engine, arch, threads) over the rounds, with the ratios
# qparity/oneDNN and qparity/ORT. Raw output and table: bench/results/host-int8-peers-DATE-TIME{.txt,-table.md}.
# A peer that is missing is skipped with a message. The machine should be quiet: figures under load mean little.
set -euo pipefail

usage() { echo "usage: bench/host_int8_peers.sh BUILD [ROUNDS]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
BUILD=$1
ROUNDS=${2:-3}
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || usage
cd "$(dirname "$0")/.."
QP=$BUILD/qparity
BC=$BUILD/bench/bench_core
for exe in "$QP" "$BC"; do
  [ -x "$exe" ] || { echo "host_int8_peers: $exe not found (build with -DQPARITY_BENCH=ON)" >&2; exit 1; }
done
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "host_int8_peers: $PY is needed (the summary, and the PyTorch peer)" >&2; exit 1; }
THREADS=2  # bench_core's ThreadRange(1, 2); every peer runs at 1 and 2 threads too
ARCHS=(rps-cnn rps-resnet)

OUT=bench/results
STAMP=$(date -u +%Y-%m-%d-%H%M)
RAW=$OUT/host-int8-peers-$STAMP.txt
TABLE=$OUT/host-int8-peers-$STAMP-table.md
WORK=$(mktemp -d /tmp/qparity-peers.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
: >"$RAW"
REC=$WORK/records.tsv  # round, engine, arch, threads, images/s
: >"$REC"
say() { echo "$@" | tee -a "$RAW"; }
hsay() { say "$@"; echo "$@" >>"$WORK/head.txt"; }  # also heads the table file
rec() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$REC"; }

# --- machine, commit, date -------------------------------------------------------------------------------
flags=$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo | cut -d: -f2 || true)
has_flag() { [[ " $flags " == *" $1 "* ]]; }
simd_have="" simd_lack=""
for f in avx2 fma avx512f avx512_vnni avx_vnni amx_tile amx_int8; do
  if has_flag "$f"; then simd_have+="$f "; else simd_lack+="$f "; fi
done
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit+=" (with uncommitted changes)"
hsay "# host INT8 peers (bench/host_int8_peers.sh $BUILD $ROUNDS), $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit"
hsay "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(uname -m)"
simd_lack=${simd_lack% }
hsay "SIMD flags: ${simd_have:-none }(absent: ${simd_lack:-none})"
hsay "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- models --------------------------------------------------------------------------------------------------
"$QP" data synth --out "$WORK/data" >/dev/null
for arch in "${ARCHS[@]}"; do
  "$QP" init --arch "$arch" --seed 7 --out "$WORK/$arch.onnx" >/dev/null
  "$QP" quantize --model "$WORK/$arch.onnx" --calib "$WORK/data/train" --out "$WORK/$arch-int8.onnx" >/dev/null
  hsay "$arch: $("$QP" info "$WORK/$arch.onnx" | { grep -E '^(parameters|MACs) ' || true; } | tr -s ' ' | paste -sd ';' -)"
done
auto_set=$(env -u QPARITY_ISA "$QP" eval --model "$WORK/rps-cnn-int8.onnx" --data "$WORK/data/test" | sed -n 's/^INT8 kernels: //p')
hsay "qparity auto kernel set here: $auto_set"

# --- what runs ------------------------------------------------------------------------------------------------
# bench_core names: BM_Int8Inference_RpsCnn/optimized{,_avx2,_avx_vnni,_portable}[/real_time/threads:N],
#                   BM_Int8Inference_Arch/resnet_{optimized,optimized_avx2,optimized_avx_vnni,portable}[/real_time/threads:N]
# (a kernel set the CPU lacks is skipped by bench_core and so absent from the table)
if has_flag avx2; then
  FILTER='^BM_Int8Inference_(RpsCnn/optimized|Arch/resnet_(optimized|portable))'
else
  FILTER='^BM_Int8Inference_(RpsCnn/optimized(/|_portable)|Arch/resnet_(optimized/|portable))'
  say "qparity avx2 (forced) skipped: this CPU has no avx2"
fi
TORCH=1 TORCH_AVX2=1 TORCH_AVX2VNNI=1 ORT=1
if ! "$PY" -c 'import torch' 2>/dev/null; then
  TORCH=0 TORCH_AVX2=0 TORCH_AVX2VNNI=0
  say "PyTorch peer skipped: $PY has no torch (apt-get install python3-torch)"
else
  hsay "PyTorch $("$PY" -c 'import torch; print(torch.__version__, "quantized engines:", *torch.backends.quantized.supported_engines)')"
  if ! has_flag avx2; then
    TORCH_AVX2=0
    say "PyTorch oneDNN limited to AVX2 skipped: this CPU has no avx2"
  fi
  if ! has_flag avx_vnni; then
    TORCH_AVX2VNNI=0
    say "PyTorch oneDNN limited to AVX2 with VNNI skipped: this CPU has no avx_vnni"
  fi
fi
TORCH_ALL=fp32,qnnpack,onednn,x86,fbgemm  # those this PyTorch lacks are left out by the peer
TORCH_ONEDNN=onednn,x86                   # the engines built on oneDNN ('x86' picks oneDNN or FBGEMM per layer)
ORT_MODULES=tools/onnxruntime/node_modules
if ! command -v node >/dev/null; then
  ORT=0
  say "ONNX Runtime peer skipped: no node (scripts/install-deps.sh installs it)"
elif [ ! -d "$ORT_MODULES/onnxruntime-node" ]; then
  ORT=0
  say "ONNX Runtime peer skipped: $ORT_MODULES/onnxruntime-node is missing (scripts/install-deps.sh installs it)"
fi
say "qparity: bench_core, one image per iteration per thread (2 threads = 2 concurrent inferences), Google Benchmark's"
say "  items_per_second; peers: 427 images as one batch (PyTorch best of 20, ONNX Runtime best of 10)."

# torch_peer_int8.py lines: 'pytorch int8 ENGINE threads=N images_per_second X arch=A' / 'pytorch fp32 threads=N ...'
torch_run() {  # round, arch, engine-name suffix, engines, [env assignment]
  local r=$1 arch=$2 suffix=$3 engines=$4 line engine threads ips
  shift 4
  if ! env "$@" "$PY" bench/torch_peer_int8.py "$THREADS" "$arch" "$engines" >"$WORK/torch.out" 2>"$WORK/torch.err"; then
    say "PyTorch peer failed ($arch${*:+, $*}):"; tee -a "$RAW" <"$WORK/torch.err"; return 0
  fi
  tee -a "$RAW" <"$WORK/torch.out"
  while read -r line; do
    if [[ "$line" =~ ^pytorch\ (fp32|int8\ ([a-z0-9]+))\ threads=([0-9]+)\ images_per_second\ ([0-9.]+) ]]; then
      engine=${BASH_REMATCH[2]:-fp32} threads=${BASH_REMATCH[3]} ips=${BASH_REMATCH[4]}
      rec "$r" "pytorch-$engine$suffix" "$arch" "$threads" "$ips"
    fi
  done <"$WORK/torch.out"
}

ort_run() {  # round, arch, kind (qdq|fp32), model, threads
  local line
  if ! line=$(NODE_PATH=$ORT_MODULES node bench/ort_peer.js "$4" "$5" 2>&1); then
    say "ONNX Runtime peer failed ($2 $3, $5 threads): $line"; return 0
  fi
  say "$2 $3: $line"
  if [[ "$line" =~ :\ ([0-9]+)\ images/s ]]; then rec "$1" "ort-$3" "$2" "$5" "${BASH_REMATCH[1]}"; fi
}

# --- rounds ---------------------------------------------------------------------------------------------------
for ((r = 1; r <= ROUNDS; ++r)); do
  say "## round $r of $ROUNDS ($(date -u +%H:%M:%S), load average $(cut -d' ' -f1-3 /proc/loadavg))"
  say "# $BC --benchmark_filter='$FILTER' --benchmark_min_time=0.5"
  env -u QPARITY_ISA "$BC" --benchmark_filter="$FILTER" --benchmark_min_time=0.5 \
    --benchmark_out="$WORK/bc.json" --benchmark_out_format=json 2>&1 | tee -a "$RAW"
  "$PY" - "$WORK/bc.json" "$r" "$auto_set" >>"$REC" <<'EOF'
import json, sys
path, rnd, auto = sys.argv[1], sys.argv[2], sys.argv[3]
for b in json.load(open(path))["benchmarks"]:
    if b.get("run_type", "iteration") != "iteration" or "items_per_second" not in b:
        continue
    name = b["name"]
    arch = "rps-resnet" if "/resnet_" in name else "rps-cnn"
    kset = ("portable" if "portable" in name else "avx-vnni" if "avx_vnni" in name else "avx2" if "avx2" in name
            else "auto")
    print(f"{rnd}\tqparity-{kset}\t{arch}\t{b.get('threads', 1)}\t{b['items_per_second']:.0f}")
EOF
  for arch in "${ARCHS[@]}"; do
    if [ "$TORCH" = 1 ]; then
      say "# $PY bench/torch_peer_int8.py $THREADS $arch $TORCH_ALL"
      torch_run "$r" "$arch" "" "$TORCH_ALL"
    fi
    if [ "$TORCH_AVX2" = 1 ]; then
      say "# ONEDNN_MAX_CPU_ISA=AVX2 $PY bench/torch_peer_int8.py $THREADS $arch $TORCH_ONEDNN"
      torch_run "$r" "$arch" "-avx2" "$TORCH_ONEDNN" ONEDNN_MAX_CPU_ISA=AVX2
    fi
    if [ "$TORCH_AVX2VNNI" = 1 ]; then
      say "# ONEDNN_MAX_CPU_ISA=AVX2_VNNI $PY bench/torch_peer_int8.py $THREADS $arch $TORCH_ONEDNN"
      torch_run "$r" "$arch" "-avx2vnni" "$TORCH_ONEDNN" ONEDNN_MAX_CPU_ISA=AVX2_VNNI
    fi
    if [ "$ORT" = 1 ]; then
      for t in 1 "$THREADS"; do
        ort_run "$r" "$arch" qdq "$WORK/$arch-int8.onnx" "$t"
        ort_run "$r" "$arch" fp32 "$WORK/$arch.onnx" "$t"
      done
    fi
  done
done

# --- summary --------------------------------------------------------------------------------------------------
{ cat "$WORK/head.txt"; echo; } >"$TABLE"
"$PY" - "$REC" >>"$TABLE" <<'EOF'
import statistics, sys
from collections import defaultdict
path = sys.argv[1]
runs = defaultdict(list)
for line in open(path):
    rnd, engine, arch, threads, ips = line.rstrip("\n").split("\t")
    runs[(engine, arch, int(threads))].append(float(ips))
order = ["qparity-auto", "qparity-avx-vnni", "qparity-avx2", "qparity-portable", "pytorch-onednn", "pytorch-onednn-avx2vnni", "pytorch-onednn-avx2",
         "pytorch-x86", "pytorch-x86-avx2vnni", "pytorch-x86-avx2", "pytorch-fbgemm", "pytorch-fbgemm-avx2", "pytorch-qnnpack", "ort-qdq", "pytorch-fp32", "ort-fp32"]
rank = lambda e: (order.index(e) if e in order else len(order), e)
keys = sorted(runs, key=lambda k: (k[1], rank(k[0]), k[2]))
print(f"| engine | arch | threads | best images/s | median images/s | rounds |")
print("|---|---|---:|---:|---:|---:|")
for k in keys:
    v = runs[k]
    print(f"| {k[0]} | {k[1]} | {k[2]} | {max(v):,.0f} | {statistics.median(v):,.0f} | {len(v)} |")
print()
print("| ratio (best / median) | arch | 1 thread | 2 threads |")
print("|---|---|---:|---:|")
pairs = [("qparity-auto", "pytorch-onednn"), ("qparity-avx-vnni", "pytorch-onednn-avx2vnni"),
         ("qparity-avx2", "pytorch-onednn-avx2"),
         ("qparity-auto", "ort-qdq"), ("qparity-avx2", "ort-qdq")]
for arch in sorted({k[1] for k in runs}):
    for a, b in pairs:
        cells = []
        for t in (1, 2):
            x, y = runs.get((a, arch, t)), runs.get((b, arch, t))
            cells.append(f"{max(x) / max(y):.2f}x / {statistics.median(x) / statistics.median(y):.2f}x" if x and y else "n/a")
        print(f"| {a} / {b} | {arch} | {cells[0]} | {cells[1]} |")
print()
print("qparity: bench_core, one image per iteration per thread; peers: 427 images as one batch. "
      "-avx2 / -avx2vnni: oneDNN limited with ONEDNN_MAX_CPU_ISA=AVX2 / AVX2_VNNI. n/a: that engine did not run here.")
EOF
say "## summary over $ROUNDS round(s)"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$TABLE"
tail -n +"$(($(wc -l <"$WORK/head.txt") + 2))" "$TABLE" | tee -a "$RAW"
{ echo "# records: round, engine, arch, threads, images/s"; cat "$REC"; } >>"$RAW"
say "saved $RAW and $TABLE"
