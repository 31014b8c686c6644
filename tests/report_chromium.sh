#!/usr/bin/env bash
# report_chromium.sh QP TD: assembles a run folder from the CLI fixtures (FP32 and INT8 results, the
# INT8 model, and a device.json/verdict.json derived from the host's INT8 results), writes the report
# with `qparity report`, then opens it in headless Chromium: the page must render without console
# errors or blocked loads, the verdict and the three matrices must be in the DOM, and a screenshot
# is saved to TD/report-screenshot.png. Exits 77 (skipped) when Chromium is not installed.
set -euo pipefail
QP=$1; TD=$2
CHROME=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
if [ -z "$CHROME" ]; then
  echo "SKIPPED: Chromium is not installed (scripts/install-deps.sh installs it for the test run)"
  exit 77
fi
RUN=$TD/report-run
rm -rf "$RUN"; mkdir -p "$RUN"
cp "$TD/results.json" "$RUN/fp32-results.json"
cp "$TD/int8-results.json" "$RUN/int8-host-results.json"
cp "$TD/untrained-rps-cnn.onnx" "$RUN/fp32.onnx"
cp "$TD/int8.onnx" "$RUN/int8.onnx"
# The device ran every test image and decided as the host did: the host's results plus a device block.
sed '0,/{/s//{"platform": "device", "subset": {"seed": 1, "requested": "all"}, "device": {"target": "test-board", "port": "qemu-rv32", "instructions_per_inference": 6000000, "est_ms": {"160": 37.5, "240": 25.0}, "arena_bytes": 24576, "flash_bytes": 180000},/' \
  "$RUN/int8-host-results.json" > "$RUN/device.json"
# The verdict as verify writes it (the report renders verify's verdict.json, it does not re-derive it).
"$QP" verify --host "$RUN/int8-host-results.json" --device "$RUN/device.json" --fp32 "$RUN/fp32-results.json" \
  --json "$RUN/verdict.json" >/dev/null

out=$("$QP" report --run "$RUN")
echo "$out"
grep -q "verdict: EQUIVALENT" <<<"$out" || { echo "report_chromium.sh: qparity report did not print the verdict" >&2; exit 1; }

flags=(--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking --disable-component-update
       --disable-sync --hide-scrollbars --enable-logging=stderr --v=0)
profile=$(mktemp -d); trap 'rm -rf "$profile"' EXIT
timeout 60 "$CHROME" "${flags[@]}" --user-data-dir="$profile" --dump-dom "file://$RUN/report.html" > "$TD/report-dom.html" 2> "$TD/report-chromium.log" || {
  echo "report_chromium.sh: chromium failed:" >&2; tail -20 "$TD/report-chromium.log" >&2; exit 1; }
if grep -E "CONSOLE|Uncaught|Refused to|net::ERR" "$TD/report-chromium.log"; then
  echo "report_chromium.sh: the page logged errors in Chromium (above)" >&2; exit 1
fi
grep -q '<div class="vbig">EQUIVALENT</div>' "$TD/report-dom.html" || { echo "report_chromium.sh: no verdict in the DOM" >&2; exit 1; }
tables=$(grep -o '<table class="heat">' "$TD/report-dom.html" | wc -l)
[ "$tables" -ge 3 ] || { echo "report_chromium.sh: $tables confusion matrices in the DOM, expected 3" >&2; exit 1; }
grep -q 'Subset · device INT8' "$TD/report-dom.html" || { echo "report_chromium.sh: the device matrix is missing" >&2; exit 1; }

shot=$TD/report-screenshot.png
rm -f "$shot"
timeout 60 "$CHROME" "${flags[@]}" --user-data-dir="$profile" --screenshot="$shot" --window-size=1280,4000 "file://$RUN/report.html" \
  >/dev/null 2>> "$TD/report-chromium.log" || { echo "report_chromium.sh: screenshot failed" >&2; exit 1; }
size=$(stat -c %s "$shot" 2>/dev/null || echo 0)
[ "$(head -c 8 "$shot" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || { echo "report_chromium.sh: $shot is not a PNG" >&2; exit 1; }
[ "$size" -gt 50000 ] || { echo "report_chromium.sh: screenshot only $size bytes: the page looks empty" >&2; exit 1; }
echo "report rendered in Chromium: verdict and $tables matrices in the DOM, no console errors; screenshot $shot ($size bytes)"
