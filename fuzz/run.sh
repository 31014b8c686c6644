#!/usr/bin/env bash
# Runs every libFuzzer harness of BUILD (default build-fuzz) for SECONDS each (default 60), one at a time,
# on a scratch copy of its committed corpus (fuzz/corpus/<name> is never written; new inputs stay in the
# copy). Any crash, sanitizer report, leak, timeout or out-of-memory fails the run; the reproducer is
# copied to fuzz-findings/<name>/ and the exit code is non-zero.
#   fuzz/run.sh [BUILD] [SECONDS] [extra libFuzzer flags...]   e.g. fuzz/run.sh build-fuzz 45 -seed=1
# FUZZ_ONLY="onnx qdq" limits the harnesses; FUZZ_KEEP=DIR keeps each grown corpus in DIR/<name>.
set -uo pipefail
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-60}
shift $(($# >= 2 ? 2 : $#))
HARNESSES=${FUZZ_ONLY:-proto client onnx qdq tflite image verify journal config}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failed=()
for name in $HARNESSES; do
  bin="$BUILD/fuzz/fuzz_$name"
  [ -x "$bin" ] || { echo "fuzz: no harness $bin (configure with -DQPARITY_FUZZ=ON and build it)" >&2; exit 2; }
  corpus="$WORK/corpus-$name"
  mkdir -p "$corpus" "$WORK/art-$name"
  cp "$ROOT/fuzz/corpus/$name/"* "$corpus/"
  echo "== fuzz_$name: ${SECONDS_EACH}s on $(ls "$corpus" | wc -l) seeds"
  start=$(date +%s)
  # -jobs/-workers unset: one process, as the CI machine has 2 cores. ASan leaks count as findings.
  "$bin" "$corpus" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=25 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$WORK/art-$name/" "$@" >"$WORK/log-$name" 2>&1
  rc=$?
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$WORK/log-$name" | tr '\n' ' '
  echo "($(( $(date +%s) - start ))s, exit $rc)"
  if [ $rc -ne 0 ] || ls "$WORK/art-$name/"* >/dev/null 2>&1; then
    failed+=("$name")
    grep -E 'FINDING|ERROR: |SUMMARY|runtime error' "$WORK/log-$name" | head -20
    mkdir -p "$ROOT/fuzz-findings/$name"
    cp "$WORK/art-$name/"* "$WORK/log-$name" "$ROOT/fuzz-findings/$name/" 2>/dev/null
    echo "   reproducer and log in fuzz-findings/$name/ (rerun: $bin fuzz-findings/$name/<file>)"
  fi
  if [ -n "${FUZZ_KEEP:-}" ]; then mkdir -p "$FUZZ_KEEP/$name" && cp "$corpus/"* "$FUZZ_KEEP/$name/"; fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no findings"
