#!/usr/bin/python3
"""PyTorch peer for the training benchmark: the same rps-cnn, data, batch size, optimiser, schedule
and augmentation kinds as `qparity train`, timed the same way (images per second over the training
loop, validation excluded). Uses Debian's python3-torch; PNGs are decoded with the standard library
(zlib) so that no imaging package is needed.

usage: torch_peer_train.py DATA_ROOT EPOCHS THREADS   (the images' size is the input size: 32x32, 64x64, ...)
"""
import math
import os
import struct
import sys
import time
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_png_rgb(path):
    """Decodes an 8-bit RGB, non-interlaced PNG (what `qparity data synth` writes)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour == 2, f"{path}: only 8-bit RGB PNGs are supported here"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, bpp = zlib.decompress(idat), width * 3, 3
    out, prev = bytearray(), bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return width, height, bytes(out)


def load_split(root):
    classes = [l.strip() for l in open(os.path.join(root, "..", "classes.txt")) if l.strip()]
    xs, ys = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        for f in sorted(os.listdir(folder)):
            w, h, px = read_png_rgb(os.path.join(folder, f))
            xs.append(torch.frombuffer(bytearray(px), dtype=torch.uint8).view(h, w, 3))
            ys.append(label)
    x = torch.stack(xs).permute(0, 3, 1, 2).float().div_(255.0)
    return x, torch.tensor(ys), classes


class RpsCnn(nn.Module):
    def __init__(self, k, h=32, w=32):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1)
        self.d1, self.d2 = nn.Linear(64 * (h // 8) * (w // 8), 64), nn.Linear(64, k)  # 1024 at 32x32

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2)
        x = F.dropout(x.flatten(1), 0.5, self.training)
        return self.d2(F.relu(self.d1(x)))


def augment(x, g):
    """Random affine warp per image (rotation +-20 deg, scale 0.9-1.1, shift +-3 px, mirror), then
    brightness/contrast jitter: the same kinds and ranges as qparity's trainer (shifts in 1/32 of the side)."""
    n = x.shape[0]
    a = torch.empty(n).uniform_(-0.35, 0.35, generator=g)
    s = torch.empty(n).uniform_(0.9, 1.1, generator=g)
    m = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    t = torch.empty(n, 2).uniform_(-3, 3, generator=g) * 2.0 / 32
    theta = torch.stack([torch.stack([m * a.cos() / s, -a.sin() / s, t[:, 0]], 1),
                         torch.stack([m * a.sin() / s, a.cos() / s, t[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    gain = torch.empty(n, 1, 1, 1).uniform_(0.75, 1.25, generator=g)
    contrast = torch.empty(n, 1, 1, 1).uniform_(0.75, 1.25, generator=g)
    bias = torch.empty(n, 1, 1, 1).uniform_(-0.08, 0.08, generator=g)
    mean = out.mean((1, 2, 3), keepdim=True)
    return ((out - mean) * contrast + mean * gain + bias).clamp_(0, 1)


def main():
    root, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    g = torch.Generator().manual_seed(1)
    x, y, classes = load_split(os.path.join(root, "train"))
    perm = torch.randperm(len(y), generator=g)
    nval = len(y) // 10
    xv, yv, xt, yt = x[perm[:nval]], y[perm[:nval]], x[perm[nval:]], y[perm[nval:]]
    net = RpsCnn(len(classes), x.shape[2], x.shape[3])
    for mod in net.modules():  # He-normal init, zero bias, as qparity's trainer
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
            nn.init.zeros_(mod.bias)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=5e-4)
    seen, train_secs = 0, 0.0
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = 2e-3 * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
        t0 = time.perf_counter()
        net.train()
        order = torch.randperm(len(yt), generator=g)
        for i in range(0, len(yt), 64):
            idx = order[i:i + 64]
            xb, yb = augment(xt[idx], g), yt[idx]
            opt.zero_grad()
            loss = F.cross_entropy(net(xb), yb)
            loss.backward()
            opt.step()
            seen += len(idx)
        train_secs += time.perf_counter() - t0
        net.eval()
        with torch.no_grad():
            acc = (net(xv).argmax(1) == yv).float().mean().item()
        print(f"pytorch epoch {epoch + 1}/{epochs} val acc {100 * acc:.1f}%", file=sys.stderr)
    print(f"pytorch_images_per_second {seen / train_secs:.0f}")
    print(f"pytorch_train_seconds {train_secs:.2f}")


if __name__ == "__main__":
    main()
