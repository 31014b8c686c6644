#!/usr/bin/env python3
# Seeds for the non-ONNX harnesses (see make_corpus.sh): protocol frames and client conversations, results
# JSON for verify, journals, pipeline configs and tiny images, plus the regression inputs of issue 14.
# Usage: craft_misc.py CORPUS_DIR WORK_DIR   (WORK_DIR holds host.json and fp32.json from `qparity eval`)
# Standard library only; images are written by hand (PPM/BMP/PNG) and through cjpeg/cwebp when present.
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

C, W = sys.argv[1], sys.argv[2]


def put(harness, name, data):
    with open(os.path.join(C, harness, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- protocol (fuzz_proto, fuzz_client) ----
def frame(ftype, seq, payload, version=1):
    body = struct.pack("<BBHH", version, ftype, seq, len(payload)) + payload
    return b"QP" + body + struct.pack("<I", zlib.crc32(body))


def hello(classes=3, layers=5):
    return bytes([1]) + bytes(range(32)) + b"qemu-rv32".ljust(16, b"\0") + struct.pack("<II", 20480, 160000000) + \
        bytes([classes, layers, 32, 32, 3])


def infer_reply(pred=2, scores=(-75, -85, 32), cycles=6650000, micros=41560):
    return bytes([pred, len(scores)]) + bytes(s & 0xFF for s in scores) + struct.pack("<QI", cycles, micros)


def trace_reply(pred=1, layers=((3072, 0x1234ABCD), (256, 0xDEADBEEF))):
    return bytes([pred, len(layers)]) + b"".join(struct.pack("<II", s, c) for s, c in layers)


put("proto", "ready.bin", frame(0x80, 0, hello()))
put("proto", "infer_reply.bin", frame(0x82, 7, infer_reply()))
put("proto", "trace_reply.bin", frame(0x84, 8, trace_reply()))
put("proto", "layer_request.bin", frame(0x05, 9, struct.pack("<BIH", 3, 0, 5) + bytes(12)))
put("proto", "error.bin", frame(0xFF, 10, bytes([3]) + b"kernel failed"))
put("proto", "garbage_then_frames.bin", b"QPQ\x01\xffQP" + bytes(range(40)) + frame(0x81, 11, hello()) + b"Q" +
    frame(0x83, 12, b""))
put("proto", "bad_crc_then_good.bin", frame(0x82, 1, infer_reply())[:-1] + b"\0" + frame(0x82, 2, infer_reply()))
put("proto", "max_payload.bin", frame(0x85, 3, bytes([1]) + struct.pack("<I", 0) + bytes(4091)))
put("proto", "too_long.bin", b"QP\x01\x85\x01\x00\x01\x10" + bytes(64))  # length 4097 > the maximum
put("proto", "infer_pred_out_of_range.bin", frame(0x82, 4, bytes([5, 3, 1, 2, 3]) + bytes(12)))


def chunk(data, as_frame=True, bad_crc=False):
    return bytes([(1 if as_frame else 0) | (2 if bad_crc else 0), len(data)]) + data


put("client", "wait_ready.bin", bytes([1]) + chunk(bytes([0x80]) + hello()))
put("client", "hello_infer.bin", bytes([2 | 4]) + chunk(bytes([0x81]) + hello()) + chunk(bytes([0x82]) + infer_reply()))
put("client", "trace.bin", bytes([8]) + chunk(bytes([0x84]) + trace_reply()))
put("client", "layer_then_reset.bin", bytes([16 | 32]) + chunk(bytes([0x85, 3]) + struct.pack("<I", 0) + bytes(5)) +
    chunk(bytes([0x83])) + chunk(bytes([0x80]) + hello()))
put("client", "noise_stale_bad_crc.bin", bytes([4]) + chunk(b"boot log: hello\r\nQP", as_frame=False) +
    chunk(frame(0x82, 1, infer_reply()), as_frame=False) + chunk(bytes([0x82]) + infer_reply(), bad_crc=True) +
    chunk(bytes([0x82]) + infer_reply()))
put("client", "reboot_mid_request.bin", bytes([4]) + chunk(bytes([0x80]) + hello()) + chunk(bytes([0x82]) + infer_reply()))
put("client", "device_error.bin", bytes([4]) + chunk(bytes([0xFF, 3]) + b"kernel failed"))
put("client", "infer_pred_out_of_range.bin", bytes([4]) + chunk(bytes([0x82, 7, 3, 1, 2, 3]) + bytes(12)))

# ---- verify (fuzz_verify): host results, device results (a subset with device fields), optional FP32 ----
host = json.load(open(os.path.join(W, "host.json")))
fp32 = json.load(open(os.path.join(W, "fp32.json")))
dev = json.loads(json.dumps(host))
dev["platform"] = "device"
dev["subset"] = {"seed": 1, "requested": "6", "n": 6, "of": len(host["images"]), "data": "test"}
dev["device"] = {"target": "qemu-rv32", "port": "qemu-rv32", "model_hash": host["model_sha256"], "arena_bytes": 20480}
dev["images"] = dev["images"][::2]
dev["n"] = len(dev["images"])
for k, im in enumerate(dev["images"]):
    im["cycles"], im["micros"] = 1000000 + k, 4000
SEP = "\n--\n"


def verify_seed(name, h, d, f=None):
    text = json.dumps(h, indent=1) + SEP + json.dumps(d, indent=1)
    if f is not None:
        text += SEP + json.dumps(f, indent=1)
    put("verify", name, text)


verify_seed("equivalent.json", host, dev)
verify_seed("equivalent_with_fp32.json", host, dev, fp32)
flip = json.loads(json.dumps(dev))
flip["images"][1]["pred"] = (flip["images"][1]["pred"] + 1) % 3
flip["images"][2]["scores"][0] -= 1
verify_seed("not_equivalent.json", host, flip)
# Regressions: an int8 score of 2^32 + s and a label of 2^32 + l (were truncated to s and l: "EQUIVALENT").
big = json.loads(json.dumps(dev))
big["images"][0]["scores"][0] += 1 << 32
verify_seed("crafted_score_2pow32.json", host, big)
big = json.loads(json.dumps(dev))
big["images"][0]["label"] += 1 << 32
verify_seed("crafted_label_2pow32.json", host, big)
bad = json.loads(json.dumps(dev))
del bad["images"][0]["pred"]
bad["images"][1]["scores"] = "oops"
verify_seed("crafted_missing_and_mistyped_keys.json", host, bad)

# ---- journal (fuzz_journal): the header must be the harness's ----
header = {"qparity_device_journal": 1, "model_sha256": "fuzz", "port": "qemu-rv32", "subset_sha256": "fuzz"}


def journal(entries, torn=""):
    lines = [json.dumps({"qparity_journal": 1, "header": header}, separators=(",", ":"))]
    lines += [json.dumps({"key": k, "entry": e}, separators=(",", ":")) for k, e in entries]
    return "\n".join(lines) + "\n" + torn


ok = [("data/test/rock/00000.png", {"pred": 2, "scores": [-75, -85, 32], "cycles": 6650000, "micros": 41560}),
      ("data/test/paper/00001.png", {"pred": 0, "scores": [12, -40, -90], "cycles": 6650012, "micros": 41561})]
put("journal", "two_entries.jsonl", journal(ok))
put("journal", "torn_last_line.jsonl", journal(ok, torn='{"key":"data/test/sci'))
put("journal", "duplicate_key.jsonl", journal(ok + [(ok[0][0], {"pred": 1, "scores": [0, 1, 0], "cycles": 1, "micros": 0})]))
put("journal", "header_only.jsonl", journal([]))
put("journal", "other_header.jsonl", journal([]).replace('"fuzz"', '"other"', 1))
# Regressions: a predicted class outside the model's classes, and entries missing a key (were heap corruption
# and "internal error" in the runner that reads the journal back).
put("journal", "crafted_pred_out_of_range.jsonl",
    journal([("data/test/rock/00000.png", {"pred": 7, "scores": [1, 2, 3], "cycles": 5, "micros": 0}),
             ("data/test/rock/00001.png", {"pred": -1, "scores": [1, 2, 3], "cycles": 5, "micros": 0})]))
put("journal", "crafted_missing_key.jsonl",
    journal([("data/test/rock/00000.png", {"pred": 1, "cycles": 5, "micros": 0}),
             ("data/test/rock/00001.png", {"scores": [1, 2, 3], "cycles": 5}),
             ("data/test/rock/00002.png", {"pred": "1", "scores": [1, 2, 300], "cycles": -5, "micros": 0})]))

# ---- pipeline config (fuzz_config) ----
put("config", "run.toml", '# a pipeline run\n[run]\nsynth = true\nout = "out/run"  # the run folder\ndevice = "qemu-rv32"\n'
    'subset = "50"\nseed = 7\narch = \'rps-cnn\'\n')
put("config", "run.json", json.dumps({"synth": True, "out": "out/run", "device": "qemu-rv32", "subset": "all", "seed": 7,
                                      "epochs": 3, "skip-bad": False}))
put("config", "bad_line.toml", 'out = "out/run"\nthis line has no equals sign\n')
put("config", "quotes.toml", 'out = "a # not a comment"\ntarget = "esp32s3"\nempty =\n= 3\n')
put("config", "not_object.json", "[1, 2, 3]")


# ---- images (fuzz_image) ----
def pixels(w, h):
    return bytes((x * 40 + y * 7 + c * 85) & 0xFF for y in range(h) for x in range(w) for c in range(3))


def png(w, h, color_type=2, px=None):
    ch = {0: 1, 2: 3, 6: 4}[color_type]
    px = px if px is not None else bytes((i * 13) & 0xFF for i in range(w * h * ch))
    raw = b"".join(b"\0" + px[y * w * ch:(y + 1) * w * ch] for y in range(h))

    def chunk_(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return b"\x89PNG\r\n\x1a\n" + chunk_(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)) + \
        chunk_(b"IDAT", zlib.compress(raw, 9)) + chunk_(b"IEND", b"")


def bmp(w, h, bpp=24):
    row = (w * bpp // 8 + 3) & ~3
    data = b"".join(bytes((x * 31 + y * 17 + c) & 0xFF for x in range(w) for c in range(bpp // 8)).ljust(row, b"\0")
                    for y in range(h))
    return b"BM" + struct.pack("<IHHI", 54 + len(data), 0, 0, 54) + \
        struct.pack("<IiiHHIIiiII", 40, w, h, 1, bpp, 0, len(data), 2835, 2835, 0, 0) + data


ppm = b"P6\n9 7\n255\n" + pixels(9, 7)
put("image", "rgb_9x7.png", png(9, 7))
put("image", "gray_5x6.png", png(5, 6, 0))
put("image", "rgba_4x4.png", png(4, 4, 6))
put("image", "rgb_7x5.bmp", bmp(7, 5))
put("image", "rgba_3x3.bmp", bmp(3, 3, 32))
src_ppm = os.path.join(W, "seed.ppm")
open(src_ppm, "wb").write(ppm)
for tool, args, name in (("cjpeg", ["-quality", "80"], "rgb_9x7.jpg"), ("cjpeg", ["-progressive"], "progressive_9x7.jpg"),
                         ("cjpeg", ["-grayscale"], "gray_9x7.jpg"), ("cwebp", ["-quiet", "-q", "80"], "rgb_9x7.webp"),
                         ("cwebp", ["-quiet", "-lossless"], "lossless_9x7.webp")):
    if shutil.which(tool):
        out = os.path.join(W, name)
        subprocess.run([tool] + args + (["-o", out, src_ppm] if tool == "cwebp" else ["-outfile", out, src_ppm]), check=True)
        put("image", name, open(out, "rb").read())
# Regressions: a JPEG whose Huffman table declares more than 256 codes (stb wrote past its table), a 60-byte
# TGA claiming 4000x3000 pixels (stb spent 1.5 s and 230 MB), a 2-byte "P6" (the error did not name the file).
jpg = os.path.join(W, "rgb_9x7.jpg")
if os.path.exists(jpg):
    j = open(jpg, "rb").read()
    counts = bytes([0] * 14 + [45, 255])  # 300 codes
    dht = b"\xff\xc4" + struct.pack(">H", 2 + 1 + 16 + 300) + b"\x00" + counts + bytes(i & 0xFF for i in range(300))
    put("image", "crafted_jpeg_huffman_over_256.jpg", j[:2] + dht + j[2:])
tga = struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, 4000, 3000, 24, 0)
put("image", "crafted_tga_12_megapixels.tga", tga + bytes(60 - len(tga)))
put("image", "crafted_p6_2_bytes.ppm", b"P6")
put("image", "crafted_png_header_lies.png", png(9, 7)[:16] + struct.pack(">II", 100000, 100000) + png(9, 7)[24:])
