#!/usr/bin/env bash
# cli_verify_setup.sh QP TD: device-like results files for the verify CLI tests, made from the host's
# INT8 results ($TD/int8-results.json, written by `qparity eval` with one key per line) with awk and
# sed only. Each keeps every STEP-th image and adds what `qparity device run` adds (platform, device,
# subset, cycles, micros); some carry one deliberate defect.
set -euo pipefail
QP=$1; TD=$2
HOST=$TD/int8-results.json
OUT=$TD/verify
rm -rf "$OUT"; mkdir -p "$OUT"
[ -x "$QP" ] || { echo "no qparity binary at $QP" >&2; exit 1; }
hash=$(sed -n 's/^ "model_sha256": "\([0-9a-f]*\)",$/\1/p' "$HOST")
total=$(grep -c '^   "file": ' "$HOST")
[ -n "$hash" ] && [ "$total" -gt 0 ] || { echo "cannot read $HOST" >&2; exit 1; }

# device NAME STEP [FLIP NUDGE STRANGER]: FLIP / NUDGE / STRANGER are positions in the subset (-1 = none):
# FLIP changes the prediction, NUDGE changes one non-winning score by one step, STRANGER replaces the
# image's SHA-256 with one the host never saw.
device() {
  local name=$1 step=$2 flip=${3:--1} nudge=${4:--1} stranger=${5:--1}
  local kept=$(( (total + step - 1) / step ))
  awk -v step="$step" -v flip="$flip" -v nudge="$nudge" -v stranger="$stranger" -v kept="$kept" -v total="$total" \
      -v hash="$hash" '
    NR == 1 {
      print
      print " \"platform\": \"device\","
      printf " \"subset\": {\"seed\": 1, \"requested\": \"%s\", \"n\": %d, \"of\": %d, \"data\": \"test\"},\n", (step == 1 ? "all" : kept), kept, total
      printf " \"device\": {\"target\": \"qemu-rv32\", \"port\": \"qemu-rv32\", \"model_hash\": \"%s\", \"arena_bytes\": 20480},\n", hash
      next
    }
    /^ "n": [0-9]+,$/ { printf " \"n\": %d,\n", kept; next }
    /^ "images": \[$/ { in_images = 1; idx = -1; printed = 0; print; next }
    in_images && /^ \]/ { if (printed) printf "\n"; in_images = 0; print; next }
    in_images && /^  \{$/ { idx++; keep = (idx % step == 0); k = int(idx / step); buf = $0 "\n"; in_scores = 0; nudged = 0; next }
    in_images && /^  \},?$/ {
      if (keep) {
        sub(/\n$/, ",\n", buf)
        if (printed) printf ",\n"
        printf "%s   \"cycles\": %d,\n   \"micros\": 4000\n  }", buf, 1000000 + idx
        printed++
      }
      next
    }
    in_images {
      line = $0
      if (keep && k == flip && line ~ /^   "pred": /) { p = line; gsub(/[^0-9]/, "", p); line = "   \"pred\": " ((p + 1) % 3) "," }
      if (line ~ /^   "pred": /) { pred = line; gsub(/[^0-9]/, "", pred); pred += 0; si = -1 }
      if (keep && k == stranger && line ~ /^   "sha256": /) line = "   \"sha256\": \"" sprintf("%064d", 0) "\","
      if (line ~ /^   "scores": \[$/) in_scores = 1
      else if (in_scores && line ~ /^   \]/) in_scores = 0
      else if (in_scores) {
        si++
        if (keep && k == nudge && !nudged && si != pred) {
          v = line; comma = (v ~ /,$/) ? "," : ""; gsub(/[ ,]/, "", v)
          v += 0; v = (v > -128) ? v - 1 : v + 1
          line = "    " v comma; nudged = 1
        }
      }
      buf = buf line "\n"
      next
    }
    { print }
  ' "$HOST" > "$OUT/$name.json"
}

device all 1
device subset 3
device flip 3 1
device nudge 3 -1 2
device stranger 3 -1 -1 4
sed 's/^ "model_sha256": "[0-9a-f]*",$/ "model_sha256": "'"$(printf '%064d' 7)"'",/' "$OUT/subset.json" > "$OUT/other-model.json"
sed '/^ "classes": \[$/,/^ \],$/ s/"rock"/"stone"/' "$OUT/subset.json" > "$OUT/other-classes.json"
grep -q '"stone"' "$OUT/other-classes.json"
grep -q '"model_sha256": "0000' "$OUT/other-model.json"
# 2^32 added to the first image's first score, or to its label: read with a truncating get<int>() they
# were the same values again (verify said EQUIVALENT); now they are refused as not fitting.
awk '!done && /^   "scores": \[$/ { print; getline; v = $0; comma = (v ~ /,$/) ? "," : ""; gsub(/[ ,]/, "", v)
     printf "    %.0f%s\n", v + 4294967296, comma; done = 1; next } { print }' "$OUT/subset.json" > "$OUT/wrapped-score.json"
awk '!done && /^   "label": [0-9]+,$/ { v = $2; gsub(/,/, "", v); printf "   \"label\": %.0f,\n", v + 4294967296; done = 1; next }
     { print }' "$OUT/subset.json" > "$OUT/wrapped-label.json"
grep -qE '^    42949[0-9]{5},?$' "$OUT/wrapped-score.json"
grep -qE '"label": 42949[0-9]{5},' "$OUT/wrapped-label.json"
echo '{"keep": true}' > "$OUT/existing.json"
# Sanity: the unmodified subset must verify (exit 0) before the tests rely on it.
"$QP" verify --host "$HOST" --device "$OUT/subset.json" > "$OUT/setup-check.txt"
echo "device-like results written to $OUT"
