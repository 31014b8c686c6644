#!/usr/bin/python3
"""PyTorch peer for the INT8 inference benchmark: rps-cnn quantized with eager-mode post-training
quantization (per-channel weights where the engine supports it), timed on 427 images of 32x32x3 as
one batch, for each available quantized engine, at 1 thread and at all threads; plus FP32.

usage: torch_peer_int8.py THREADS
"""
import sys
import time

import torch
import torch.nn as nn
import torch.ao.quantization as tq


class RpsCnn(nn.Module):
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


def images_per_second(model, x, repeats=20):
    with torch.no_grad():
        model(x)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - t0)
    return x.shape[0] / best


def main():
    threads = int(sys.argv[1])
    torch.manual_seed(1)
    x = torch.rand(427, 3, 32, 32)
    for n in sorted({1, threads}):
        torch.set_num_threads(n)
        print(f"pytorch fp32 threads={n} images_per_second {images_per_second(RpsCnn().eval(), x):.0f}")
    for engine in [e for e in ("qnnpack", "onednn", "x86", "fbgemm") if e in torch.backends.quantized.supported_engines]:
        torch.backends.quantized.engine = engine
        m = RpsCnn().eval()
        m.qconfig = tq.get_default_qconfig(engine)
        tq.fuse_modules(m, [["c1", "r1"], ["c2", "r2"], ["c3", "r3"], ["d1", "r4"]], inplace=True)
        tq.prepare(m, inplace=True)
        with torch.no_grad():
            m(torch.rand(200, 3, 32, 32))
        tq.convert(m, inplace=True)
        for n in sorted({1, threads}):
            torch.set_num_threads(n)
            print(f"pytorch int8 {engine} threads={n} images_per_second {images_per_second(m, x):.0f}")


if __name__ == "__main__":
    main()
