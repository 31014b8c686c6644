#!/usr/bin/python3
"""PyTorch peer for the INT8 inference benchmark: qparity's rps-cnn or rps-resnet preset quantized with
eager-mode post-training quantization (conv/BN/ReLU fused; per-channel weights where the engine supports
it), timed on 427 images of 32x32x3 as one batch (best of 20), for each available quantized engine, at 1
thread and at THREADS; plus FP32. Weights are random: they do not change the work done.

usage: torch_peer_int8.py THREADS [ARCH [ENGINES]]
  ARCH: rps-cnn (default) or rps-resnet; ENGINES: comma-separated subset of fp32 and the quantized engines
  (qnnpack, onednn, x86, fbgemm; default: fp32 and every one this PyTorch has)
Output lines: pytorch {fp32|int8 ENGINE} threads=N images_per_second X arch=ARCH
"""
import sys
import time

import torch
import torch.nn as nn
import torch.ao.quantization as tq
from torch.ao.nn.quantized import FloatFunctional


class RpsCnn(nn.Module):
    """qparity's rps-cnn (dropout is the identity at inference; softmax left out, as qparity's argmax)."""

    def __init__(self):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.c1, self.c2, self.c3 = nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1)
        self.r1, self.r2, self.r3, self.r4 = nn.ReLU(), nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.d1, self.d2 = nn.Linear(1024, 64), nn.Linear(64, 3)

    def forward(self, x):
        x = self.quant(x)
        x = self.pool(self.r1(self.c1(x)))
        x = self.pool(self.r2(self.c2(x)))
        x = self.pool(self.r3(self.c3(x)))
        x = self.d2(self.r4(self.d1(x.flatten(1))))
        return self.dequant(x)

    fusions = [["c1", "r1"], ["c2", "r2"], ["c3", "r3"], ["d1", "r4"]]


def conv_bn(cin, cout, k, stride):
    # 'same' padding: qparity pads a stride-2 3x3 conv on an even map TF's way (0 before, 1 after); a
    # PyTorch conv pads both sides alike, so padding=1 here: the same output size and the same MACs.
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout)


class RpsResnet(nn.Module):
    """qparity's rps-resnet preset (src/model/spec.cpp, kResnetSpec):
    conv3x3(16) bn relu
    add{ conv3x3(16) bn relu conv3x3(16) bn | } relu
    add{ conv3x3s2(32) bn relu conv3x3(32) bn | conv1x1s2(32) bn } relu
    add{ conv3x3s2(64) bn relu conv3x3(64) bn | conv1x1s2(64) bn } relu
    gap dense(K) softmax          (BN folded into the convs by fusion; each Add fused with its ReLU)"""

    def __init__(self, classes=3):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.c0, self.b0 = conv_bn(3, 16, 3, 1)
        self.r0 = nn.ReLU()
        # block 1: identity shortcut
        self.c1a, self.b1a = conv_bn(16, 16, 3, 1)
        self.r1a = nn.ReLU()
        self.c1b, self.b1b = conv_bn(16, 16, 3, 1)
        self.add1 = FloatFunctional()
        # blocks 2 and 3: stride 2, strided 1x1 projection shortcut
        self.c2a, self.b2a = conv_bn(16, 32, 3, 2)
        self.r2a = nn.ReLU()
        self.c2b, self.b2b = conv_bn(32, 32, 3, 1)
        self.p2, self.bp2 = conv_bn(16, 32, 1, 2)
        self.add2 = FloatFunctional()
        self.c3a, self.b3a = conv_bn(32, 64, 3, 2)
        self.r3a = nn.ReLU()
        self.c3b, self.b3b = conv_bn(64, 64, 3, 1)
        self.p3, self.bp3 = conv_bn(32, 64, 1, 2)
        self.add3 = FloatFunctional()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.dense = nn.Linear(64, classes)
        for m in self.modules():  # BatchNorm statistics away from the identity, so folding does real work
            if isinstance(m, nn.BatchNorm2d):
                nn.init.uniform_(m.weight, 0.5, 1.5)
                nn.init.uniform_(m.bias, -0.1, 0.1)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)

    def forward(self, x):
        x = self.quant(x)
        x = self.r0(self.b0(self.c0(x)))
        y = self.b1b(self.c1b(self.r1a(self.b1a(self.c1a(x)))))
        x = self.add1.add_relu(y, x)
        y = self.b2b(self.c2b(self.r2a(self.b2a(self.c2a(x)))))
        x = self.add2.add_relu(y, self.bp2(self.p2(x)))
        y = self.b3b(self.c3b(self.r3a(self.b3a(self.c3a(x)))))
        x = self.add3.add_relu(y, self.bp3(self.p3(x)))
        x = self.dense(self.gap(x).flatten(1))
        return self.dequant(x)

    fusions = [["c0", "b0", "r0"],
               ["c1a", "b1a", "r1a"], ["c1b", "b1b"],
               ["c2a", "b2a", "r2a"], ["c2b", "b2b"], ["p2", "bp2"],
               ["c3a", "b3a", "r3a"], ["c3b", "b3b"], ["p3", "bp3"]]


ARCHS = {"rps-cnn": RpsCnn, "rps-resnet": RpsResnet}


def images_per_second(model, x, repeats=20):
    with torch.no_grad():
        model(x)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - t0)
    return x.shape[0] / best


def make_fp32(arch):
    m = ARCHS[arch]().eval()
    # FP32 as a user would deploy it: BatchNorm folded (fuse_modules folds conv+BN, and conv+BN+ReLU).
    return tq.fuse_modules(m, m.fusions, inplace=False)


def make_int8(arch, engine):
    m = ARCHS[arch]().eval()
    m.qconfig = tq.get_default_qconfig(engine)
    tq.fuse_modules(m, m.fusions, inplace=True)
    tq.prepare(m, inplace=True)
    with torch.no_grad():
        m(torch.rand(200, 3, 32, 32))
    tq.convert(m, inplace=True)
    return m


def main():
    usage = "usage: torch_peer_int8.py THREADS [" + "|".join(ARCHS) + " [ENGINES]]"
    if len(sys.argv) not in (2, 3, 4) or (len(sys.argv) >= 3 and sys.argv[2] not in ARCHS):
        sys.exit(usage)
    threads = int(sys.argv[1])
    arch = sys.argv[2] if len(sys.argv) >= 3 else "rps-cnn"
    known = ("fp32", "qnnpack", "onednn", "x86", "fbgemm")
    wanted = sys.argv[3].split(",") if len(sys.argv) == 4 else list(known)
    if any(e not in known for e in wanted):
        sys.exit(usage + "\nENGINES: a comma-separated subset of " + ",".join(known))
    torch.manual_seed(1)
    x = torch.rand(427, 3, 32, 32)
    if "fp32" in wanted:
        for n in sorted({1, threads}):
            torch.set_num_threads(n)
            print(f"pytorch fp32 threads={n} images_per_second {images_per_second(make_fp32(arch), x):.0f} arch={arch}", flush=True)
    for engine in [e for e in known[1:] if e in wanted and e in torch.backends.quantized.supported_engines]:
        torch.backends.quantized.engine = engine
        m = make_int8(arch, engine)
        for n in sorted({1, threads}):
            torch.set_num_threads(n)
            print(f"pytorch int8 {engine} threads={n} images_per_second {images_per_second(m, x):.0f} arch={arch}", flush=True)


if __name__ == "__main__":
    main()
