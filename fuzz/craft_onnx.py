#!/usr/bin/env python3
# Crafts one malformed model from a qparity model in protoc text format (stdin -> stdout), for the
# regression seeds of fuzz/corpus (see make_corpus.sh). Each case is a bug of issue 14 that a reader must
# refuse with a qp::Error instead of crashing or answering wrongly. Standard library only.
import json
import re
import sys


def blocks(text):
    """Splits the graph's children (indent 2) into [kind, lines] blocks; other lines are kept as they are."""
    out, cur = [], None
    for line in text.splitlines(keepends=True):
        if cur is None:
            m = re.match(r"^  (\w+) \{$", line.rstrip("\n"))
            if m:
                cur = [m.group(1), [line]]
            else:
                out.append(["", [line]])
        else:
            cur[1].append(line)
            if line.rstrip("\n") == "  }":
                out.append(cur)
                cur = None
    return out


def join(bs):
    return "".join("".join(b[1]) for b in bs)


def named(bs, kind, name):
    for b in bs:
        if b[0] == kind and any(l.strip() == 'name: "%s"' % name for l in b[1]):
            return b
    raise SystemExit("no %s named %s" % (kind, name))


def set_dims(b, dims):
    lines = [l for l in b[1] if not l.startswith("    dims:")]
    b[1] = lines[:1] + ["    dims: %d\n" % d for d in dims] + lines[1:]


def float_data(b, values):
    """Replaces the tensor's payload with little-endian float32 raw_data (as qparity writes it)."""
    import struct
    raw = "".join("\\%03o" % c for c in struct.pack("<%df" % len(values), *values))
    lines = [l for l in b[1] if not l.startswith("    raw_data:") and not l.startswith("    float_data:")]
    b[1] = lines[:-1] + ['    raw_data: "%s"\n' % raw] + lines[-1:]


def main():
    case, text = sys.argv[1], sys.stdin.read()
    bs = blocks(text)
    if case == "gemm_no_dims":  # Gemm weight without dimensions: one float (was: SIGSEGV on dims(0))
        w = named(bs, "initializer", "l4_Dense.weight")
        set_dims(w, [])
        float_data(w, [0.5])
    elif case == "gemm_dims_overflow":
        # transB=0, weight dims [64, 3 + 2^62]: the element count wraps to 192, the real size, so the size check
        # passed and the [in][out] -> [out][in] transpose wrote far out of bounds (was: SIGSEGV).
        set_dims(named(bs, "initializer", "l4_Dense.weight"), [64, 3 + (1 << 62)])
        gemm = named(bs, "node", "l4_Dense")
        gemm[1] = "".join(gemm[1]).replace('name: "transB"\n      i: 1', 'name: "transB"\n      i: 0').splitlines(keepends=True)
    elif case == "gemm_weight_from_node":  # the weight is the Flatten's output, not an initializer (was: map::at)
        gemm = named(bs, "node", "l4_Dense")
        gemm[1] = [l.replace('input: "l4_Dense.weight"', 'input: "l3_Flatten_out"') for l in gemm[1]]
    elif case == "conv_kernel_shape_5x5":  # kernel_shape 5x5 over 3x3 weights (was: ran as 3x3)
        conv = named(bs, "node", "l0_Conv2D")
        s = "".join(conv[1]).replace('name: "kernel_shape"\n      ints: 3\n      ints: 3', 'name: "kernel_shape"\n      ints: 5\n      ints: 5')
        conv[1] = s.splitlines(keepends=True)
    elif case == "one_channel_input":  # a 1-channel model (was: fed the RGB bytes as one channel)
        w = named(bs, "initializer", "l0_Conv2D.weight")
        set_dims(w, [4, 1, 3, 3])
        float_data(w, [((i * 7) % 11 - 5) / 10.0 for i in range(36)])
        inp = named(bs, "input", "input")
        s = "".join(inp[1])
        s = s.replace("dim {\n            dim_value: 3\n", "dim {\n            dim_value: 1\n", 1)
        inp[1] = s.splitlines(keepends=True)
    elif case.startswith("qdq_not_chaining"):
        lines = text.splitlines(keepends=True)
        k = next(k for k, l in enumerate(lines) if 'key: "qparity.int8.layers"' in l) + 1
        value = re.match(r'^  value: "(.*)"$', lines[k].rstrip("\n")).group(1)
        layers = json.loads(value.encode().decode("unicode_escape"))
        pool = next(l for l in layers if l["op"] == "MaxPool")
        if case == "qdq_not_chaining":  # the pool declares a 9x9 input after an 8x8 conv output
            pool["in"] = [pool["in"][0], pool["in"][1] + 1, pool["in"][2] + 1]
        else:  # a 16x16 input pooled 4x4 to the same 4x4 output: only the chain is wrong
            pool["in"] = [pool["in"][0], pool["in"][1] * 2, pool["in"][2] * 2]
            pool["kernel"], pool["stride"] = 4, 4
        lines[k] = '  value: "%s"\n' % json.dumps(layers, separators=(",", ":")).replace('"', '\\"')
        sys.stdout.write("".join(lines))
        return
    elif case == "qdq_activation_scale_zero":  # an activation scale of 0 (was: accepted)
        float_data(named(bs, "initializer", "l0.y_scale"), [0.0])
    elif case == "qdq_weight_dims_overflow":
        set_dims(named(bs, "initializer", "l3.w_q"), [3 + (1 << 62), 64])
    else:
        raise SystemExit("unknown case " + case)
    sys.stdout.write(join(bs))


main()
