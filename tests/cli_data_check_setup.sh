#!/usr/bin/env bash
# cli_data_check_setup.sh TD: datasets for the `data check` and --skip-bad CLI tests, copied from the
# small synthetic set ($TD/small, made by cli_setup.sh) with cp and printf only.
set -euo pipefail
TD=$1
S=$TD/small
OUT=$TD/check
rm -rf "$OUT"; mkdir -p "$OUT"
[ -d "$S/train" ] || { echo "no $S/train (run cli_setup.sh first)" >&2; exit 1; }
fresh() { mkdir -p "$OUT/$1"; cp -r "$S/train" "$S/test" "$OUT/$1/"; cp "$S/classes.txt" "$OUT/$1/"; }

# Six problems in one dataset: data check must list them all, not stop at the first.
fresh multi
printf 'x' > "$OUT/multi/train/rock/corrupt.png"
echo notes > "$OUT/multi/train/rock/notes.txt"
mkdir "$OUT/multi/train/paper/sub"
printf 'y' > "$OUT/multi/test/scissors/bad.jpg"
mkdir "$OUT/multi/test/lizard"; cp "$S/test/rock/00000.png" "$OUT/multi/test/lizard/"

# Warnings only (exit 0): a test image copied into train, an exact duplicate within train.
fresh leak
cp "$S/test/paper/00001.png" "$OUT/leak/train/paper/leak.png"
cp "$S/train/rock/00003.png" "$OUT/leak/train/rock/dup.png"

# Imbalanced train split: 20 rock, 20 paper, 4 scissors (5x, above the 3x threshold).
fresh imbalanced
n=0
for f in "$OUT"/imbalanced/train/scissors/*.png; do
  n=$((n + 1))
  if [ "$n" -gt 4 ]; then rm "$f"; fi
done

# One unreadable image in train and one in test: what --skip-bad is for.
fresh bad
printf 'PNG? no' > "$OUT/bad/train/paper/corrupt.png"
printf 'PNG? no' > "$OUT/bad/test/rock/corrupt.png"
echo "datasets in $OUT"
