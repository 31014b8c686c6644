#!/usr/bin/env python3
"""Per-layer instructions and instructions per MAC of a firmware's boot profile.

usage: layer_profile.py INFO_TXT CONSOLE_LOG
INFO_TXT: `qparity info` of the FP32 model (its MACs column); CONSOLE_LOG: the emulated board's console
log, whose "Profile: layer K:Op N cycles" lines are instructions under QEMU -icount. The weighted layers
(Conv2D, DepthwiseConv2D, Dense) take the FP32 MAC counts in order: the INT8 model keeps that order."""
import re
import sys

macs = []
for line in open(sys.argv[1]):
    m = re.match(r"\s*\d+\s+(Conv2D|DepthwiseConv2D|Dense)\s.*?\s([\d,]+)\s+(<-.*)?$", line)
    if m:
        macs.append(int(m.group(2).replace(",", "")))
rows, total, total_macs = [], 0, sum(macs)
for line in open(sys.argv[2], errors="replace"):
    m = re.search(r"Profile: layer (\d+):(\w+) (\d+) cycles", line)
    if m:
        rows.append((int(m.group(1)), m.group(2), int(m.group(3))))
weighted = iter(macs)
print(f"{'layer':>5} {'op':<16} {'instructions':>12} {'MACs':>10} {'instr/MAC':>9} {'share':>6}")
total = sum(r[2] for r in rows)
for k, op, n in rows:
    mac = next(weighted, 0) if op in ("Conv2D", "DepthwiseConv2D", "Dense") else 0
    per = f"{n / mac:9.2f}" if mac else f"{'-':>9}"
    print(f"{k:>5} {op:<16} {n:>12,} {mac:>10,} {per} {100.0 * n / total:5.1f}%")
print(f"{'all':>5} {'':<16} {total:>12,} {total_macs:>10,} {total / total_macs:9.2f}")
